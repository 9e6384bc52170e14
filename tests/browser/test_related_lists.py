"""A record page's related lists show the fields the builder chose, and "+ 新建" starts a
related record with its link filled in, coming back to the record after saving."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from meridian.access import manage
from meridian.core.actor import Actor
from meridian.errors import ValidationFailed
from meridian.records import listing, service
from meridian.schema import changes
from meridian.schema.catalog import get_form
from meridian.schema.model import Form, parse_model
from tests.browser.conftest import Server, log_in
from tests.forms import install_forms, select_field

PASSWORD = "related-4-fun"


def _setup(server: Server) -> int:
    system = Actor.system()
    with server.workspace.transaction() as conn:
        install_forms(
            conn,
            {
                "key": "customer",
                "label": "客户",
                "title_field": "name",
                "fields": [{"key": "name", "label": "客户名称", "type": "text"}],
            },
        )
        changes.create_form(
            conn=conn,
            actor=system,
            form=parse_model(
                Form,
                {
                    "app_key": "sales",
                    "key": "follow_up",
                    "label": "跟进记录",
                    "title_field": "subject",
                    "fields": [
                        {"key": "subject", "label": "主题", "type": "text", "required": True},
                        {"key": "customer", "label": "客户", "type": "link", "target": "customer"},
                        select_field("way", "方式", ("visit", "拜访"), ("call", "电话")),
                        {"key": "next_date", "label": "下次跟进", "type": "date"},
                        {"key": "budget", "label": "预算", "type": "money"},
                        {"key": "detail", "label": "详情", "type": "long_text"},
                    ],
                },
            ),
        )
        manage.add_user(
            conn,
            system,
            email="sales@idc.test",
            name="张伟",
            password=PASSWORD,
            passwords=server.workspace.passwords,
            roles=["administrator"],
            must_change_password=False,
        )
        customer = service.create_record(
            conn=conn, actor=system, form=get_form(conn, "customer"), values={"name": "华为云"}
        )
        service.create_record(
            conn=conn,
            actor=system,
            form=get_form(conn, "follow_up"),
            values={
                "subject": "首次拜访",
                "customer": customer["id"],
                "way": "visit",
                "next_date": "2026-12-20",
                "budget": "500000",
            },
        )
    return int(customer["id"])


def test_related_list_columns_and_a_new_follow_up_from_the_customer(
    page: Page, server: Server
) -> None:
    customer_id = _setup(server)
    log_in(page, server, "sales@idc.test", PASSWORD)
    page.goto(f"{server.url}/forms/customer/records/{customer_id}")
    related = page.locator("[data-testid=related-follow_up-customer]")
    # Without a choice: the first few listed fields after the title (not the link itself).
    expect(related.locator("thead")).to_contain_text("方式")
    expect(related.locator("thead")).to_contain_text("下次跟进")
    expect(related.locator("thead")).to_contain_text("预算")
    expect(related.locator("tbody")).to_contain_text("拜访")
    expect(related.locator("tbody")).to_contain_text("¥500,000.00")

    # The builder picks the columns in the designer, on the link field.
    page.goto(f"{server.url}/apps/sales/designer/follow_up")
    page.locator("[data-testid=canvas-field]", has_text="客户").first.click()
    choices = page.locator("[data-testid=prop-related-columns]")
    choices.get_by_label("预算").check()
    choices.get_by_label("方式").check()
    page.click("[data-testid=save-form]")
    expect(page.locator("[data-testid=saved]")).to_be_visible()
    with server.workspace.read() as conn:
        link = get_form(conn, "follow_up").get_field("customer")
    assert link is not None and set(link.related_columns) == {"budget", "way"}

    page.goto(f"{server.url}/forms/customer/records/{customer_id}")
    head = related.locator("thead")
    expect(head).to_contain_text("预算")
    expect(head).not_to_contain_text("下次跟进")

    # "+ 新建": the follow-up form with the customer filled in, back to the customer after.
    related.locator("[data-testid=related-new]").click()
    page.wait_for_url(re.compile(r"/forms/follow_up/new\?"))
    expect(page.locator("#f-customer option:checked")).to_have_text("华为云")
    page.fill("#f-subject", "电话回访")
    page.select_option("#f-way", "call")
    page.click("[data-testid=save-record]")
    page.wait_for_url(f"**/forms/customer/records/{customer_id}")
    expect(related.locator("tbody")).to_contain_text("电话回访")
    expect(related.locator("tbody")).to_contain_text("电话")
    english = re.compile(r"\b(New|Created|None yet|Show all)\b")
    assert not english.search(related.inner_text())
    with server.workspace.read() as conn:
        found = listing.list_records(
            conn=conn,
            actor=Actor.system(),
            form=get_form(conn, "follow_up"),
            query=listing.RecordQuery(filter={"field": "subject", "op": "eq", "value": "电话回访"}),
        )
    assert [item["customer"] for item in found.items] == [customer_id]


def test_a_related_list_column_must_be_a_field_of_the_form(server: Server) -> None:
    _setup(server)
    with server.workspace.transaction() as conn, pytest.raises(ValidationFailed) as refused:
        changes.update_field(
            conn=conn,
            actor=Actor.system(),
            form_key="follow_up",
            field_key="customer",
            changes={"related_columns": ["budget", "nope"]},
        )
    assert refused.value.errors[0].field.endswith("customer.related_columns")
    assert refused.value.errors[0].value == "nope"


def test_the_way_back_after_saving_is_only_a_record_page(page: Page, server: Server) -> None:
    customer_id = _setup(server)
    log_in(page, server, "sales@idc.test", PASSWORD)
    page.goto(
        f"{server.url}/forms/follow_up/new?customer={customer_id}&_back=//evil.test/forms/x/records/1"
    )
    page.fill("#f-subject", "拜访")
    page.click("[data-testid=save-record]")
    page.wait_for_url(re.compile(r"/forms/follow_up/records/\d+$"))
    assert page.url.startswith(server.url)
