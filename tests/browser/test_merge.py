"""Merging two customers from the grid in a real browser: select two rows, 合并, choose per
field, merge; the contact follows the kept customer and the timeline shows both histories.
Screenshots of the chooser and the timeline in both languages
(docs/screenshots/merge-*.{zh-CN,en}.png)."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from meridian.access.users import create_user
from meridian.core.actor import Actor
from meridian.records.bulk import create_records
from meridian.records.reads import get_record
from meridian.schema import changes
from meridian.schema.catalog import get_form
from meridian.schema.model import App, Form, parse_model
from tests.browser.conftest import DESKTOP, SCREENSHOTS, Server, log_in, open_watched

CUSTOMER = {
    "app_key": "crm",
    "key": "customer",
    "label": "客户",
    "title_field": "name",
    "fields": [
        {"key": "name", "label": "客户名称", "type": "text"},
        {"key": "uscc", "label": "统一社会信用代码", "type": "uscc"},
        {"key": "phone", "label": "电话", "type": "phone"},
        {"key": "city", "label": "城市", "type": "text"},
    ],
}
CONTACT = {
    "app_key": "crm",
    "key": "contact",
    "label": "联系人",
    "title_field": "name",
    "fields": [
        {"key": "name", "label": "姓名", "type": "text"},
        {"key": "customer", "label": "客户", "type": "link", "target": "customer"},
    ],
}


def _set_up(server: Server) -> dict[str, int]:
    workspace = server.workspace
    with workspace.transaction() as conn:
        admin_id = create_user(
            conn=conn,
            email="admin@idc.test",
            name="王经理",
            password="demo4meridian",
            passwords=workspace.passwords,
            is_admin=True,
        )
        admin = Actor(user_id=admin_id, is_admin=True, name="王经理")
        changes.create_app(conn=conn, actor=admin, app=App(key="crm", label="客户管理"))
        for definition in (CUSTOMER, CONTACT):
            changes.create_form(conn=conn, actor=admin, form=parse_model(Form, definition))
        customers = create_records(
            conn=conn,
            actor=admin,
            form=get_form(conn, "customer"),
            items=[
                {"name": "腾讯科技（深圳）有限公司", "city": "深圳"},
                {
                    "name": "腾讯科技 (深圳) 有限责任公司",
                    "uscc": "91440300708461136T",
                    "phone": "13800138000",
                    "city": "南山",
                },
                {"name": "北京字节跳动科技有限公司", "city": "北京"},
                {"name": "字节跳动", "phone": "13900139000"},
            ],
        )
        contacts = create_records(
            conn=conn,
            actor=admin,
            form=get_form(conn, "contact"),
            items=[
                {"name": "马化腾", "customer": customers[1]},
                {"name": "张一鸣", "customer": customers[3]},
            ],
        )
    return {"admin": admin_id, **{f"c{i}": c for i, c in enumerate(customers)}, "p0": contacts[0]}


def test_two_customers_are_merged_from_the_grid(browser: Browser, server: Server) -> None:
    ids = _set_up(server)
    for locale, (keep, other) in (("zh-CN", ("c0", "c1")), ("en", ("c2", "c3"))):
        context = browser.new_context(viewport=DESKTOP, locale=locale)
        page, errors = open_watched(context)
        page.set_default_timeout(10_000)
        log_in(page, server, "admin@idc.test", "demo4meridian")
        page.goto(server.url + "/forms/customer")
        for key in (keep, other):
            page.locator(f"tr[data-id='{ids[key]}'] input[name=ids]").check()
        merge = page.get_by_test_id("merge-selected")
        expect(merge).to_be_visible()
        assert merge.inner_text() == ("合并" if locale == "zh-CN" else "Merge")
        merge.click()
        page.wait_for_url("**/forms/customer/merge?ids=*")
        # The kept record's values by default; its empty phone and USCC take the other's.
        assert page.get_by_test_id(f"pick-phone-{ids[other]}").is_checked()
        assert page.get_by_test_id(f"pick-name-{ids[keep]}").is_checked()
        page.get_by_test_id(f"pick-city-{ids[other]}").check()
        page.screenshot(path=SCREENSHOTS / f"merge-chooser.{locale}.png", full_page=True)
        page.get_by_test_id("merge-submit").click()
        page.wait_for_url(f"**/forms/customer/records/{ids[keep]}")
        timeline = page.get_by_test_id("timeline")
        assert timeline.get_by_test_id("merged-entry").count() >= 2
        timeline.screenshot(path=SCREENSHOTS / f"merge-timeline.{locale}.png")
        assert errors == []
        context.close()
    with server.workspace.read() as conn:
        admin = Actor(user_id=ids["admin"], is_admin=True)
        kept = get_record(
            conn=conn, actor=admin, form=get_form(conn, "customer"), record_id=ids["c0"]
        )
        contact = get_record(
            conn=conn, actor=admin, form=get_form(conn, "contact"), record_id=ids["p0"]
        )
    assert kept["phone"] == "+8613800138000"
    assert kept["city"] == "南山"
    assert kept["name"] == "腾讯科技（深圳）有限公司"
    assert contact["customer"] == ids["c0"]
