"""A builder designs a form in the browser: drag field types in, reorder, undo, save — and sees
exactly what a refused change would break."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from meridian.access import manage
from meridian.core.actor import Actor
from meridian.records import service
from meridian.schema.catalog import get_form, list_apps
from tests.browser.conftest import Server, drag, log_in

PASSWORD = "builds4fun"


def _builder(server: Server) -> None:
    with server.workspace.transaction() as conn:
        manage.add_user(
            conn,
            Actor.system(),
            email="builder@acme.test",
            name="Bao Builder",
            password=PASSWORD,
            passwords=server.workspace.passwords,
            roles=["builder"],
            must_change_password=False,
        )


def _expect_labels(page: Page, expected: list[str]) -> None:
    """The canvas shows these fields in this order (waiting for Alpine to redraw it)."""
    fields = page.locator("[data-testid=canvas-field] > div:first-child")
    expect(fields).to_have_text(expected)


def _add(page: Page, kind: str, label: str) -> None:
    """Drag a field type to the end of the first section, then name the new field."""
    fields = page.locator("[data-testid=canvas-field]")
    count = fields.count()
    drag(page, f"[data-testid=palette-{kind}]", "[data-testid=section-drop] >> nth=0")
    expect(fields.nth(count)).to_have_class(re.compile(r"\bselected\b"))
    page.fill("[data-testid=prop-label]", label)
    page.locator("[data-testid=prop-label]").dispatch_event("change")


def test_builder_creates_an_app_and_a_form_by_dragging(page: Page, server: Server) -> None:
    _builder(server)
    log_in(page, server, "builder@acme.test", PASSWORD)
    page.fill("[data-testid=new-app] input[name=label]", "销售管理")
    page.click("[data-testid=new-app] button[type=submit]")
    expect(page).to_have_url(f"{server.url}/apps/xiaoshou_guanli")
    page.click("[data-testid=new-form]")
    page.fill("[data-testid=form-label]", "线索")

    _add(page, "text", "客户名称")
    _add(page, "phone", "手机")
    _add(page, "select", "阶段")
    page.click("[data-testid=add-option]")
    page.locator("[data-testid=option-label]").nth(0).fill("新线索")
    page.locator("[data-testid=option-label]").nth(0).dispatch_event("change")
    _add(page, "date", "下次跟进")
    _add(page, "money", "预计金额")
    _expect_labels(page, ["客户名称", "手机", "阶段", "下次跟进", "预计金额"])

    # Drag the last field to the top; undo puts it back; do it again.
    drag(
        page,
        "[data-testid=canvas-field] >> nth=4",
        "[data-testid=canvas-field] >> nth=0",
        below=False,
    )
    _expect_labels(page, ["预计金额", "客户名称", "手机", "阶段", "下次跟进"])
    page.click("[data-testid=undo]")
    _expect_labels(page, ["客户名称", "手机", "阶段", "下次跟进", "预计金额"])
    drag(
        page,
        "[data-testid=canvas-field] >> nth=4",
        "[data-testid=canvas-field] >> nth=0",
        below=False,
    )
    _expect_labels(page, ["预计金额", "客户名称", "手机", "阶段", "下次跟进"])

    page.click("[data-testid=save-form]")
    expect(page.locator("[data-testid=saved]")).to_be_visible()
    with server.workspace.read() as conn:
        [app] = list_apps(conn)
        form = get_form(conn, "xiansuo")
    assert app.key == "xiaoshou_guanli" and form.app_key == app.key
    assert [(f.label, f.type) for f in form.fields] == [
        ("预计金额", "money"),
        ("客户名称", "text"),
        ("手机", "phone"),
        ("阶段", "select"),
        ("下次跟进", "date"),
    ]
    assert [f.key for f in form.fields][:2] == ["yuji_jine", "kehu_mingcheng"]
    assert form.get_field("jieduan").option_values() == ("新线索",)  # type: ignore[union-attr]
    assert form.sections[0].fields == tuple(f.key for f in form.fields)


def test_a_refused_change_shows_what_it_would_break(page: Page, server: Server) -> None:
    _builder(server)
    log_in(page, server, "builder@acme.test", PASSWORD)
    page.fill("[data-testid=new-app] input[name=label]", "CRM")
    page.click("[data-testid=new-app] button[type=submit]")
    page.click("[data-testid=new-form]")
    page.fill("[data-testid=form-label]", "Lead")
    _add(page, "text", "Name")
    _add(page, "text", "Size")
    _expect_labels(page, ["Name", "Size"])
    page.click("[data-testid=save-form]")
    expect(page.locator("[data-testid=saved]")).to_be_visible()
    with server.workspace.transaction() as conn:
        form = get_form(conn, "lead")
        record = service.create_record(
            conn=conn, actor=Actor.system(), form=form, values={"name": "Acme", "size": "large"}
        )

    # "Size" becomes an integer: the record holding "large" refuses the change.
    page.locator("[data-testid=canvas-field]").nth(1).click()
    page.select_option("[data-testid=prop-type]", "integer")
    page.click("[data-testid=save-form]")
    problems = page.locator("[data-testid=problems]")
    expect(problems).to_be_visible()
    expect(problems).to_contain_text(f"#{record['id']}")
    expect(problems).to_contain_text("large")
    with server.workspace.read() as conn:
        unchanged = get_form(conn, "lead")
    assert unchanged.get_field("size").type == "text"  # type: ignore[union-attr]
    assert unchanged.version == form.version


def test_an_attachment_field_is_given_its_file_types_and_largest_file(
    page: Page, server: Server
) -> None:
    _builder(server)
    log_in(page, server, "builder@acme.test", PASSWORD)
    page.fill("[data-testid=new-app] input[name=label]", "合同管理")
    page.click("[data-testid=new-app] button[type=submit]")
    page.click("[data-testid=new-form]")
    page.fill("[data-testid=form-label]", "合同")
    _add(page, "text", "名称")
    _add(page, "attachment", "扫描件")
    page.fill("[data-testid=prop-accept]", ".PDF, .png  jpg")
    page.locator("[data-testid=prop-accept]").dispatch_event("change")
    page.fill("[data-testid=prop-max-size]", "2.5")
    page.locator("[data-testid=prop-max-size]").dispatch_event("change")
    page.click("[data-testid=save-form]")
    expect(page.locator("[data-testid=saved]")).to_be_visible()
    with server.workspace.read() as conn:
        form = get_form(conn, "hetong")
    scan = form.get_field("saomiaojian")
    assert scan is not None
    assert (scan.accept, scan.max_size) == ((".pdf", ".png", ".jpg"), 2621440)
