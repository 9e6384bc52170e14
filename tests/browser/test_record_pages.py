"""Record forms beyond plain inputs: a link chosen by searching, child-table lines edited in
place, attachments uploaded with progress and previewed on the record page."""

from __future__ import annotations

import base64
import re

from playwright.sync_api import Page, expect

from meridian.access.users import create_user
from meridian.core.actor import Actor
from meridian.records import reads, service
from meridian.schema import changes
from meridian.schema.catalog import get_form
from meridian.schema.model import App, Form, parse_model
from tests.browser.conftest import Server, log_in

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def _setup(server: Server) -> None:
    system = Actor.system()
    with server.workspace.transaction() as conn:
        changes.create_app(conn=conn, actor=system, app=App(key="sales", label="销售"))
        for definition in (
            {
                "key": "customer",
                "label": "客户",
                "title_field": "name",
                "fields": [{"key": "name", "label": "名称", "type": "text"}],
            },
            {
                "key": "deal",
                "label": "订单",
                "title_field": "title",
                "fields": [
                    {"key": "title", "label": "标题", "type": "text", "required": True},
                    {"key": "customer", "label": "客户", "type": "link", "target": "customer"},
                    {
                        "key": "items",
                        "label": "明细",
                        "type": "child_table",
                        "fields": [
                            {"key": "product", "label": "产品", "type": "text"},
                            {"key": "qty", "label": "数量", "type": "integer"},
                        ],
                    },
                    {"key": "files", "label": "附件", "type": "attachment"},
                ],
            },
        ):
            changes.create_form(
                conn=conn, actor=system, form=parse_model(Form, {**definition, "app_key": "sales"})
            )
        for name in ("华为云计算技术有限公司", "阿里云计算有限公司"):
            service.create_record(
                conn=conn, actor=system, form=get_form(conn, "customer"), values={"name": name}
            )
        create_user(
            conn=conn,
            email="a@acme.test",
            name="A",
            password="pass-word-1",
            passwords=server.workspace.passwords,
            is_admin=True,
        )


def test_link_lines_and_attachments(page: Page, server: Server, tmp_path: object) -> None:
    _setup(server)
    log_in(page, server, "a@acme.test", "pass-word-1")
    page.goto(f"{server.url}/forms/deal/new")
    page.fill("#f-title", "两台机柜")

    # Focusing the search asks for every choice, typing for the matching ones: wait for the
    # answer to the typing, or a late answer to the focus replaces the choices after selecting.
    with page.expect_response(lambda r: "/choices" in r.url and "hwy" in r.url):
        page.fill("input[name=_q_customer]", "hwy")
    expect(page.locator("#f-customer option", has_text="华为云")).to_have_count(1)
    page.select_option("#f-customer", label="华为云计算技术有限公司")

    page.click("text=添加一行")
    page.click("text=添加一行")
    page.locator("[aria-label=产品]").nth(0).fill("42U 机柜")
    page.locator("[aria-label=数量]").nth(0).fill("2")
    page.locator("[aria-label=产品]").nth(1).fill("带宽")
    page.locator("[aria-label=数量]").nth(1).fill("lots")

    image = tmp_path / "rack.png"  # type: ignore[operator]
    image.write_bytes(PNG)
    pdf = tmp_path / "contract.pdf"  # type: ignore[operator]
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/files")):
        page.set_input_files("#f-files", [str(image)])
    with page.expect_response(lambda r: r.url.endswith("/api/v1/files")):
        page.set_input_files("#f-files", [str(pdf)])
    expect(page.locator(".upload .chip")).to_have_count(2)

    page.click("[data-testid=save-record]")
    expect(page.locator("[data-testid=error-items]")).to_contain_text("1.qty")
    # The lines come back as typed; fix the bad one.
    expect(page.locator("[aria-label=数量]").nth(1)).to_have_value("lots")
    page.locator("[aria-label=数量]").nth(1).fill("1")
    page.click("[data-testid=save-record]")

    expect(page.locator("[data-testid=record-title]")).to_have_text("两台机柜")
    record_id = int(re.search(r"/records/(\d+)", page.url).group(1))  # type: ignore[union-attr]
    expect(page.locator("[data-field=customer] a")).to_have_text("华为云计算技术有限公司")
    expect(page.locator("[data-field=items] tbody tr")).to_have_count(2)
    expect(page.locator(".attachments img")).to_have_count(1)
    expect(page.locator(".attachments iframe")).to_have_count(1)
    with server.workspace.read() as conn:
        stored = reads.get_record(
            conn=conn, actor=Actor.system(), form=get_form(conn, "deal"), record_id=record_id
        )
    assert [(line["product"], line["qty"]) for line in stored["items"]] == [
        ("42U 机柜", 2),
        ("带宽", 1),
    ]
    assert len(stored["files"]) == 2

    # The customer's page lists the deal among its related records.
    page.click("[data-field=customer] a")
    expect(page.locator("section", has_text="订单")).to_contain_text("两台机柜")


def test_a_refused_upload_says_why_in_the_viewers_language(
    page: Page, server: Server, tmp_path: object
) -> None:
    """The upload names the field it is for, so a program renamed .pdf is refused at once."""
    _setup(server)
    log_in(page, server, "a@acme.test", "pass-word-1")
    page.goto(f"{server.url}/forms/deal/new")
    program = tmp_path / "invoice.pdf"  # type: ignore[operator]
    program.write_bytes(b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 120 + b"PE\x00\x00")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/files")) as answer:
        page.set_input_files("#f-files", [str(program)])
    assert answer.value.status == 422
    expect(page.locator("#toast")).to_contain_text("files: 文件内容是程序，不是 .pdf 文件")
    expect(page.locator("#toast")).not_to_contain_text("the content is")
    expect(page.locator(".upload .chip")).to_have_count(0)
