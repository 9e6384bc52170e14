"""The grid's tools in a real browser: filter builder, sorting, columns, inline edit, bulk
owner transfer and saved views."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from meridian.access import manage
from meridian.core.actor import Actor
from meridian.records import reads, service
from meridian.schema.catalog import get_form
from tests.browser.conftest import Server, log_in
from tests.forms import STAGE, install_forms, lead_form

CITIES = [("甲", 30, "new"), ("乙", 10, "won"), ("丙", 20, "new"), ("丁", 40, "won")]


def _setup(server: Server) -> int:
    system = Actor.system()
    with server.workspace.transaction() as conn:
        [form] = install_forms(
            conn,
            lead_form(
                {"key": "name", "label": "名称", "type": "text"},
                {"key": "seats", "label": "机柜数", "type": "integer"},
                STAGE,
            ),
        )
        for name, seats, stage in CITIES:
            service.create_record(
                conn=conn,
                actor=system,
                form=form,
                values={"name": name, "seats": seats, "stage": stage},
            )
        manage.add_user(
            conn,
            system,
            email="boss@acme.test",
            name="Boss",
            password="pass-word-1",
            passwords=server.workspace.passwords,
            roles=["administrator"],
            must_change_password=False,
        )
        rep = manage.add_user(
            conn,
            system,
            email="rep@acme.test",
            name="Rep",
            password="pass-word-1",
            passwords=server.workspace.passwords,
            roles=["member"],
            must_change_password=False,
        )
    return int(rep["id"])


def _names(page: Page) -> list[str]:
    return page.locator("[data-testid=grid] tbody td[data-field=name]").all_inner_texts()


def test_filter_sort_columns_edit_bulk_and_views(page: Page, server: Server) -> None:
    rep_id = _setup(server)
    log_in(page, server, "boss@acme.test", "pass-word-1")
    page.goto(f"{server.url}/forms/lead")
    expect(page.locator("[data-testid=total]")).to_contain_text("4")

    # Sort by seats (click the header), then the other way round.
    page.click("th[data-key=seats]")
    expect(page.locator("th[data-key=seats]")).to_contain_text("▲")
    assert _names(page) == ["乙", "丙", "甲", "丁"]
    page.click("th[data-key=seats]")
    expect(page.locator("th[data-key=seats]")).to_contain_text("▼")
    assert _names(page) == ["丁", "甲", "丙", "乙"]

    # Filter builder: stage = 新线索.
    page.click("[data-testid=filter-button]")
    page.click("text=＋ 条件")
    row = page.locator(".filter-row").first
    row.locator("select").nth(0).select_option("stage")
    row.locator("select").nth(2).select_option("new")
    page.click("[data-testid=apply-filter]")
    expect(page.locator("[data-testid=total]")).to_contain_text("2")
    assert _names(page) == ["甲", "丙"]

    # Column chooser: hide 机柜数.
    page.click("text=列")
    page.locator(".panel label", has_text="机柜数").locator("input").uncheck()
    page.locator(".panel", has_text="机柜数").get_by_role("button", name="应用").click()
    expect(page.locator("th[data-key=seats]")).to_have_count(0)

    # Save the view, leave, come back through it.
    page.click("summary:has-text('视图')")
    page.fill("input[name=name]", "新线索")
    page.click("text=保存视图")
    expect(page.locator("[data-testid=total]")).to_contain_text("2")
    page.goto(f"{server.url}/forms/lead")
    page.click("summary:has-text('视图')")
    page.click(".views .menu a:has-text('新线索')")
    expect(page.locator("[data-testid=total]")).to_contain_text("2")
    expect(page.locator("th[data-key=seats]")).to_have_count(0)

    # Inline edit: double-click a name, type, Enter.
    cell = page.locator("td[data-field=name]", has_text="甲")
    cell.dblclick()
    editor = page.locator("td.editing input[name=name]")
    editor.fill("甲改")
    editor.press("Enter")
    expect(page.locator("td[data-field=name]", has_text="甲改")).to_be_visible()

    # Bulk: select all shown, transfer to the rep, picked by name (the owner picker).
    page.locator("th.select input").check()
    expect(page.locator("[data-testid=bulkbar]")).to_be_visible()
    with page.expect_response(lambda response: "/assignees" in response.url):
        page.fill("[data-testid=owner-search]", "rep")
    page.select_option("[data-testid=owner-pick]", str(rep_id))
    page.once("dialog", lambda dialog: dialog.accept())
    # Wait for the bulk request itself: "network idle" can come before htmx has sent it.
    with page.expect_response(lambda response: response.url.endswith("/bulk")):
        page.click("button[value=transfer]")
    page.wait_for_load_state("networkidle")
    with server.workspace.read() as conn:
        form = get_form(conn, "lead")
        owners = {
            r["name"]: r["owner_id"]
            for r in (
                reads.get_record(conn=conn, actor=Actor.system(), form=form, record_id=i)
                for i in range(1, 5)
            )
        }
    assert owners["甲改"] == rep_id and owners["丙"] == rep_id
    assert owners["乙"] != rep_id and owners["丁"] != rep_id
