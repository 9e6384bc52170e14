"""Someone saved first: the editor keeps their changes, sees theirs against mine where both
changed a field, picks per field and saves against the new version."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from meridian.access import manage
from meridian.access.users import get_user_id, set_locale
from meridian.core.actor import Actor
from meridian.records import reads, service
from meridian.schema.catalog import get_form
from tests.browser.conftest import DESKTOP, SCREENSHOTS, Server, log_in, open_watched
from tests.forms import install_forms, lead_form, select_field

PASSWORD = "first-come-4-fun"


def _setup(server: Server) -> int:
    system = Actor.system()
    with server.workspace.transaction() as conn:
        install_forms(
            conn,
            lead_form(
                {"key": "name", "label": "客户名称", "type": "text", "required": True},
                select_field("stage", "阶段", ("new", "新线索"), ("quoted", "已报价")),
                {"key": "amount", "label": "预计金额", "type": "money"},
                {"key": "phone", "label": "联系电话", "type": "phone"},
                {"key": "note", "label": "备注", "type": "long_text"},
                {"key": "referrer", "label": "推荐客户", "type": "link", "target": "lead"},
            ),
        )
        for email, name in (("wang@idc.test", "王经理"), ("li@idc.test", "李娜")):
            manage.add_user(
                conn,
                system,
                email=email,
                name=name,
                password=PASSWORD,
                passwords=server.workspace.passwords,
                roles=["administrator"],
                must_change_password=False,
            )
        for name in ("阿里云", "腾讯云"):
            service.create_record(
                conn=conn, actor=system, form=get_form(conn, "lead"), values={"name": name}
            )
        record = service.create_record(
            conn=conn,
            actor=system,
            form=get_form(conn, "lead"),
            values={"name": "华为云", "stage": "new", "amount": "120000", "note": "首次拜访"},
        )
    return int(record["id"])


def _saved_first_by_li(server: Server, record_id: int) -> None:
    with server.workspace.transaction() as conn:
        li = get_user_id(conn, "li@idc.test")
        service.update_record(
            conn=conn,
            actor=Actor(user_id=li, is_admin=True, name="李娜"),
            form=get_form(conn, "lead"),
            record_id=record_id,
            values={"stage": "quoted", "amount": "150000", "note": "已发报价单", "referrer": 1},
            expected_version=1,
        )


def _edit_after_li(page: Page, server: Server, record_id: int) -> None:
    page.goto(f"{server.url}/forms/lead/records/{record_id}/edit")
    _saved_first_by_li(server, record_id)
    page.fill("#f-amount", "135000")  # both changed it
    page.fill("#f-phone", "13800138000")  # only the editor changed it
    page.fill("#f-note", "客户希望分两期付款")  # both changed it
    typed = "_q_referrer=%E8%85%BE%E8%AE%AF"  # 腾讯, as the search box sends it
    with page.expect_response(lambda response: typed in response.url):
        page.fill("input[name=_q_referrer]", "腾讯")  # both chose a referrer, not the same
    page.select_option("#f-referrer", label="腾讯云")
    page.click("[data-testid=save-record]")


def test_the_editors_changes_survive_and_each_clash_is_theirs_or_mine(
    page: Page, server: Server
) -> None:
    record_id = _setup(server)
    log_in(page, server, "wang@idc.test", PASSWORD)
    _edit_after_li(page, server, record_id)

    banner = page.locator("[data-testid=conflict]")
    expect(banner).to_contain_text("李娜 在你编辑期间保存了这条记录")
    expect(page.locator("[data-testid=conflict-kept]")).to_contain_text("联系电话")
    expect(page.locator("[data-testid=conflict-theirs]")).to_contain_text("阶段")
    expect(page.locator("[data-testid=theirs-amount]")).to_have_text("¥150,000.00")
    expect(page.locator("[data-testid=mine-amount]")).to_have_text("¥135,000.00")
    expect(page.locator("[data-testid=theirs-note]")).to_have_text("已发报价单")
    expect(page.locator("[data-testid=theirs-referrer]")).to_have_text("阿里云")
    expect(page.locator("[data-testid=mine-referrer]")).to_have_text("腾讯云")
    expect(page.locator("#f-phone")).to_have_value("13800138000")  # kept without asking
    expect(page.locator("#f-stage")).to_have_value("quoted")  # theirs stands
    assert page.locator("[data-testid=conflict-stage]").count() == 0
    english = re.compile(r"\b(saved|Mine|Theirs|changes|conflict)\b")
    assert not english.search(page.locator("main, body").first.inner_text())

    # Theirs for the amount, mine (edited once more) for the note.
    page.check("[data-testid=conflict-amount] input[value=theirs]")
    expect(page.locator("#f-amount")).to_be_disabled()
    page.fill("#f-note", "客户希望分两期付款；报价已收到")
    page.click("[data-testid=save-record]")
    page.wait_for_url(f"**/forms/lead/records/{record_id}")
    with server.workspace.read() as conn:
        record = reads.get_record(
            conn=conn, actor=Actor.system(), form=get_form(conn, "lead"), record_id=record_id
        )
    assert record["_version"] == 3
    assert record["stage"] == "quoted"
    assert record["amount"] == "150000.00"
    assert record["phone"].endswith("13800138000")
    assert record["note"] == "客户希望分两期付款；报价已收到"
    assert record["referrer"] == 2  # mine: 腾讯云


def test_conflict_screenshots(browser: Browser, server: Server) -> None:
    if server.workspace.engine.dialect.name != "sqlite":
        pytest.skip("the screenshots are taken once, over SQLite")
    record_id = _setup(server)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for locale in ("zh-CN", "en"):
        with server.workspace.transaction() as conn:
            set_locale(conn=conn, user_id=get_user_id(conn, "wang@idc.test"), locale=locale)
            if locale == "en":  # a second round over a fresh record
                record_id = int(
                    service.create_record(
                        conn=conn,
                        actor=Actor.system(),
                        form=get_form(conn, "lead"),
                        values={
                            "name": "华为云",
                            "stage": "new",
                            "amount": "120000",
                            "note": "首次拜访",
                        },
                    )["id"]
                )
        # Tall enough for the whole form: the page scrolls inside its main area.
        context = browser.new_context(viewport={**DESKTOP, "height": 1080}, locale=locale)
        page, errors = open_watched(context)
        log_in(page, server, "wang@idc.test", PASSWORD)
        _edit_after_li(page, server, record_id)
        expect(page.locator("[data-testid=conflict]")).to_be_visible()
        assert page.locator("html").get_attribute("lang") == locale
        page.screenshot(path=SCREENSHOTS / f"edit-conflict.{locale}.png", full_page=True)
        context.close()
        assert not errors, f"JavaScript errors or CSP violations: {errors}"
