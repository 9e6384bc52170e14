"""A builder designs a template by picking placeholders from a list, and a record page
generates the document with one click."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from meridian.access.users import create_user
from meridian.core.actor import Actor
from tests.browser.conftest import SCREENSHOTS, Server, log_in
from tests.documents_support import idc_records, install_idc


def test_a_template_is_built_from_picked_placeholders_and_generated_from_the_record(
    page: Page, server: Server
) -> None:
    install_idc(server.workspace)
    with server.workspace.transaction() as conn:
        user_id = create_user(
            conn=conn,
            email="a@acme.test",
            name="王磊",
            password="pass-word-1",
            passwords=server.workspace.passwords,
            is_admin=True,
        )
    ids = idc_records(server.workspace, Actor(user_id=user_id, is_admin=True, name="王磊"))
    log_in(page, server, "a@acme.test", "pass-word-1")

    page.goto(f"{server.url}/forms/quote/templates")
    expect(page.locator("[data-testid=templates]")).to_contain_text("IDC 服务报价单")
    page.click("[data-testid=new-template]")
    page.fill("[data-testid=template-label]", "简版报价")
    page.fill("[data-testid=template-key]", "short_quote")
    page.fill("[data-testid=template-body]", "<h1>简版报价</h1>\n")
    body = page.locator("[data-testid=template-body]")
    for label in ("报价单号", "客户 · 客户名称", "报价总额（大写）", "报价明细（表格）"):
        group, _, name = label.rpartition(" · ")
        option = page.locator(
            f"[data-testid=placeholder] optgroup[label='{group or '报价'}'] option", has_text=name
        ).first
        page.select_option("[data-testid=placeholder]", value=option.get_attribute("value"))
        # The cursor at the end of the text: each pick goes after the last.
        body.evaluate("b => { b.selectionStart = b.selectionEnd = b.value.length }")
        page.click("[data-testid=insert-placeholder]")
    value = body.input_value()
    assert "{{ record.number }}" in value and "{{ record.customer.name }}" in value
    assert "{{ record.total_amount | rmb_upper }}" in value
    assert '{% for line in record["items"] %}' in value
    page.screenshot(path=str(SCREENSHOTS / "document-template-editor.png"), full_page=True)
    page.click("[data-testid=save-template]")
    expect(page.locator("[data-testid=saved]")).to_contain_text("1")

    page.goto(f"{server.url}/forms/quote/records/{ids['quote']}")
    panel = page.locator("[data-testid=documents-panel]")
    expect(panel).to_contain_text("还没有生成文档")
    page.select_option("[data-testid=document-template]", label="简版报价")
    with page.expect_response(lambda r: r.url.endswith("/documents")) as answered:
        page.click("[data-testid=generate-document]")
    assert answered.value.status == 200, answered.value.text()
    expect(page.locator("[data-testid=document-made]")).to_contain_text("已生成")
    link = page.locator("[data-testid=document-link]").first
    expect(link).to_have_text(re.compile(r"^\d{8}-0001\.pdf$"))  # the default pattern
    download = page.request.get(server.url + (link.get_attribute("href") or ""))
    assert download.ok and download.body().startswith(b"%PDF")

    page.select_option("[data-testid=document-template]", label="IDC 服务报价单")
    page.click("[data-testid=generate-document]")
    expect(page.locator("[data-testid=document-link]")).to_have_count(2)
    expect(page.locator("[data-testid=documents-panel]")).to_contain_text("QD-")

    page.goto(f"{server.url}/forms/contract/records/{ids['contract']}")
    page.select_option("[data-testid=document-template]", label="IDC 机房托管服务合同")
    page.click("[data-testid=generate-document]")
    expect(page.locator("[data-testid=document-problems]")).to_contain_text("生成条件")
