"""Screenshots of the main pages over the IDC demo, at desktop and phone width, in both
languages, written to docs/screenshots (linked from the README)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser

from meridian.access.users import create_user
from meridian.core.actor import Actor
from meridian.db.tables import users
from meridian.solutions import idc_crm
from meridian.solutions.loader import install_solution, load_sample_data
from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, Server, log_in, open_watched

PAGES = {
    "designer": "/apps/idc_crm/designer/opportunity",
    "grid": "/forms/opportunity",
    "kanban": "/forms/opportunity/kanban",
    "detail": "/forms/opportunity/records/1",
}


def test_screenshots(browser: Browser, server: Server) -> None:
    if server.workspace.engine.dialect.name != "sqlite":
        pytest.skip("the screenshots are taken once, over SQLite")
    with server.workspace.transaction() as conn:
        admin_id = create_user(
            conn=conn,
            email="admin@idc.test",
            name="王经理",
            password="demo4meridian",
            passwords=server.workspace.passwords,
            is_admin=True,
        )
    admin = Actor(user_id=admin_id, is_admin=True, name="王经理")
    app, forms = idc_crm.load_package()
    install_solution(server.workspace.engine, admin, app, forms)
    load_sample_data(
        server.workspace.engine, admin, idc_crm.generate(seed=7, scale=120), owners=[admin_id]
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for locale in ("zh-CN", "en"):
        with server.workspace.transaction() as conn:
            conn.execute(sa.update(users).where(users.c.id == admin_id).values(locale=locale))
        for device, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            context = browser.new_context(viewport=viewport, locale=locale)
            page, errors = open_watched(context)
            log_in(page, server, "admin@idc.test", "demo4meridian")
            for name, path in PAGES.items():
                response = page.goto(server.url + path)
                assert response is not None and response.status == 200, path
                page.wait_for_load_state("networkidle")
                assert page.locator("html").get_attribute("lang") == locale
                page.screenshot(path=SCREENSHOTS / f"{name}-{device}-{locale}.png")
            context.close()
            assert not errors, f"JavaScript errors or CSP violations: {errors}"
