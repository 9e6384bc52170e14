"""The pages for group robots and inbound hooks, built in Chromium, and an inbound hook called
over real HTTP the way Alertmanager calls it; the rule page's screenshots over the IDC demo."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Page

from meridian.access import manage, organisation
from meridian.access.users import create_user
from meridian.core.actor import Actor
from meridian.db.tables import users
from meridian.solutions import idc_crm
from meridian.solutions.loader import install_solution, load_sample_data
from tests.browser.conftest import DESKTOP, SCREENSHOTS, Server, log_in, open_watched
from tests.forms import install_forms

PASSWORD = "demo4meridian"


def admin_on(server: Server) -> int:
    with server.workspace.transaction() as conn:
        return create_user(
            conn=conn,
            email="admin@idc.test",
            name="王经理",
            password=PASSWORD,
            passwords=server.workspace.passwords,
            is_admin=True,
        )


def test_a_hook_built_on_its_page_makes_one_ticket_per_alert_with_mapped_values(
    page: Page, server: Server
) -> None:
    admin_on(server)
    with server.workspace.transaction() as conn:
        install_forms(
            conn,
            {
                "key": "ticket",
                "label": "工单",
                "title_field": "title",
                "fields": [
                    {"key": "title", "label": "标题", "type": "text", "required": True},
                    {"key": "host", "label": "主机", "type": "text"},
                    {
                        "key": "priority",
                        "label": "优先级",
                        "type": "select",
                        "options": [{"value": v, "label": v} for v in ("P1", "P2", "P3")],
                    },
                    {"key": "source", "label": "来源", "type": "text"},
                ],
            },
        )
        noc = organisation.create_department(conn=conn, name="值班组")
        on_call = [
            manage.add_user(
                conn,
                Actor.system(),
                email=f"duty{i}@idc.test",
                name=f"值班{i}",
                password="Passw0rd-long",
                passwords=server.workspace.passwords,
                department=noc,
                must_change_password=False,
            )["id"]
            for i in (1, 2)
        ]
    log_in(page, server, "admin@idc.test", PASSWORD)
    page.goto(f"{server.url}/admin/hooks?form=ticket")
    form = page.locator("[data-testid=new-hook]")
    form.locator("input[name=name]").fill("Alertmanager")
    form.locator("input[name=items]").fill("alerts")
    form.locator("input[name='path.title']").fill("annotations.summary")
    form.locator("input[name='path.host']").fill("labels.instance")
    form.locator("input[name='path.priority']").fill("labels.severity")
    form.locator("textarea[name='map.priority']").fill("critical=P1\nwarning=P2")
    form.locator("input[name='default.priority']").fill("P3")
    form.locator("input[name='const.source']").fill("监控告警")
    form.locator("select[name=owner]").select_option("round_robin")
    form.locator("select[name=owner_department]").select_option(str(noc))
    form.locator("button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    path = page.locator("[data-testid=hook-path]").inner_text()
    assert path.startswith("/api/v1/hooks/mih_")
    assert "Alertmanager" in page.locator("[data-testid=hooks]").inner_text()

    alerts = {
        "receiver": "meridian",
        "status": "firing",
        "alerts": [
            {
                "labels": {"severity": severity, "instance": f"10.0.0.{i}:9100"},
                "annotations": {"summary": f"机柜 A{i} 温度过高"},
            }
            for i, severity in enumerate(("critical", "warning", "info"), start=1)
        ],
    }
    answer = httpx.post(server.url + path, json=alerts, timeout=10)
    assert answer.status_code == 200, answer.text
    assert [r["action"] for r in answer.json()["records"]] == ["created"] * 3
    bad = httpx.post(server.url + path, json={"alerts": [{"labels": {}}]}, timeout=10)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "items.0.title"
    with server.workspace.read() as conn:
        rows = conn.execute(
            sa.text("SELECT title, host, priority, source, owner_id FROM data_ticket ORDER BY id")
        ).all()
    assert [(r.title, r.priority, r.source) for r in rows] == [
        ("机柜 A1 温度过高", "P1", "监控告警"),
        ("机柜 A2 温度过高", "P2", "监控告警"),
        ("机柜 A3 温度过高", "P3", "监控告警"),
    ]
    assert [r.owner_id for r in rows] == [on_call[0], on_call[1], on_call[0]]


def test_group_robots_are_added_and_removed_on_their_page(page: Page, server: Server) -> None:
    admin_on(server)
    log_in(page, server, "admin@idc.test", PASSWORD)
    page.goto(f"{server.url}/admin/bots")
    form = page.locator("[data-testid=new-bot]")
    form.locator("select[name=kind]").select_option("dingtalk")
    form.locator("input[name=name]").fill("销售群")
    form.locator("input[name=webhook_url]").fill(
        "https://oapi.dingtalk.com/robot/send?access_token=x"
    )
    form.locator("input[name=secret]").fill("SEC123")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    listed = page.locator("[data-testid=bots]").inner_text()
    assert "销售群" in listed and "钉钉" in listed and "是" in listed
    page.on("dialog", lambda dialog: dialog.accept())
    page.locator("[data-testid=bots] button.danger").click()
    page.wait_for_load_state("networkidle")
    assert "还没有群机器人" in page.locator("[data-testid=bots]").inner_text()


def test_rule_page_screenshots(browser: Browser, server: Server) -> None:
    if server.workspace.engine.dialect.name != "sqlite":
        pytest.skip("the screenshots are taken once, over SQLite")
    admin_id = admin_on(server)
    admin = Actor(user_id=admin_id, is_admin=True, name="王经理")
    app, forms = idc_crm.load_package()
    install_solution(server.workspace.engine, admin, app, forms, idc_crm.load_rules())
    load_sample_data(
        server.workspace.engine, admin, idc_crm.generate(seed=7, scale=120), owners=[admin_id]
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for locale in ("zh-CN", "en"):
        with server.workspace.transaction() as conn:
            conn.execute(sa.update(users).where(users.c.id == admin_id).values(locale=locale))
        context = browser.new_context(viewport=DESKTOP, locale=locale)
        tab, errors = open_watched(context)
        log_in(tab, server, "admin@idc.test", PASSWORD)
        response = tab.goto(f"{server.url}/admin/rules/1")
        assert response is not None and response.status == 200
        words = tab.locator("[data-testid=rule-words]").inner_text()
        assert (
            ("结束日期」之前 90 天" in words) if locale == "zh-CN" else ("90 days before" in words)
        )
        assert tab.locator("[data-testid=catch-up]").count() == 1
        tab.fill("input[name=record_id]", "1")
        tab.locator("input[name=record_id]").press("Enter")
        tab.wait_for_load_state("networkidle")
        assert tab.locator("[data-testid=dry-action]").count() == 2
        tab.screenshot(path=SCREENSHOTS / f"rule-page.{locale}.png", full_page=True)
        context.close()
        assert not errors, f"JavaScript errors or CSP violations: {errors}"
