"""Bulk owner transfer picks the new owner by name or pinyin, among the people the actor may
hand records to."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from meridian.access import manage, organisation
from meridian.access.actors import load_actor
from meridian.core.actor import Actor
from meridian.records import listing, service
from meridian.schema.catalog import get_form
from tests.browser.conftest import Server, log_in
from tests.forms import install_forms, lead_form

PASSWORD = "pick-an-owner-4-fun"


def test_a_lead_hands_records_to_a_colleague_found_by_pinyin(page: Page, server: Server) -> None:
    system = Actor.system()
    ids = {}
    with server.workspace.transaction() as conn:
        [form] = install_forms(
            conn, lead_form({"key": "name", "label": "客户名称", "type": "text"})
        )
        organisation.create_department(conn=conn, name="华东销售")
        organisation.create_department(conn=conn, name="华南销售")
        for email, name, department in (
            ("zhang@idc.test", "张伟", "华东销售"),
            ("zhao@idc.test", "赵敏", "华东销售"),
            ("zhou@idc.test", "周明", "华南销售"),
        ):
            ids[name] = manage.add_user(
                conn,
                system,
                email=email,
                name=name,
                password=PASSWORD,
                passwords=server.workspace.passwords,
                roles=["member"],
                department=department,
                must_change_password=False,
            )["id"]
        manage.set_form_permissions(
            conn,
            system,
            "member",
            form,
            {"create": True, "read": "department", "update": "department"},
        )
        for name in ("华为云", "腾讯云"):
            service.create_record(
                conn=conn,
                actor=load_actor(conn, ids["张伟"]),
                form=get_form(conn, "lead"),
                values={"name": name},
            )
    log_in(page, server, "zhang@idc.test", PASSWORD)
    page.goto(f"{server.url}/forms/lead")
    page.locator("th.select input").check()
    search = page.locator("[data-testid=owner-search]")
    with page.expect_response(lambda response: "/assignees" in response.url):
        search.fill("zm")  # 赵敏 and 周明 both read zm; only 赵敏 is in 张伟's department
    options = page.locator("[data-testid=owner-pick] option")
    expect(options).to_have_count(2)  # "—" and 赵敏
    expect(options.nth(1)).to_contain_text("赵敏")
    search.press("Enter")  # searching, not sending the bulk form
    page.select_option("[data-testid=owner-pick]", str(ids["赵敏"]))
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_response(lambda response: response.url.endswith("/bulk")):
        page.click("button[value=transfer]")
    page.wait_for_load_state("networkidle")
    with server.workspace.read() as conn:
        found = listing.list_records(
            conn=conn, actor=system, form=get_form(conn, "lead"), query=listing.RecordQuery()
        )
    assert {item["owner_id"] for item in found.items} == {ids["赵敏"]}
