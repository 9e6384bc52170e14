"""The import wizard in a real browser, as a member whose role has 导入: an .xlsx made here —
a merged title row, Chinese headers, a company already stored (spelled otherwise), a bad date,
a link looked up by another field, owners by name and e-mail — goes through upload, mapping
(saved under a name), the cleanse preview, the duplicates review (merged), the dry run with its
report, the run with its progress bar, and the verify step with its records and rollback; the
records are checked after the run and after the rollback. A member without 导入 sees no 导入
button and is refused by the API. Screenshots of every step in both languages
(docs/screenshots/import-*.{zh-CN,en}.png)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import openpyxl
import sqlalchemy as sa
from playwright.sync_api import Browser, Page, expect

from meridian.access import manage
from meridian.access.permissions import set_form_rules
from meridian.access.tokens import create_token
from meridian.access.users import create_user
from meridian.core.actor import Actor
from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import start_in_background
from meridian.records.bulk import create_records
from meridian.schema import changes
from meridian.schema.catalog import get_form
from meridian.schema.model import App, Form, parse_model
from tests.browser.conftest import DESKTOP, SCREENSHOTS, Server, log_in, open_watched

GROUP = {
    "app_key": "crm",
    "key": "group",
    "label": "集团",
    "title_field": "name",
    "fields": [
        {"key": "name", "label": "集团名称", "type": "text"},
        {"key": "code", "label": "集团代码", "type": "text"},
    ],
}
CUSTOMER = {
    "app_key": "crm",
    "key": "customer",
    "label": "客户",
    "title_field": "name",
    "fields": [
        {"key": "name", "label": "客户名称", "type": "text", "required": True},
        {"key": "signed", "label": "签约日期", "type": "date"},
        {"key": "amount", "label": "金额", "type": "money"},
        {"key": "group", "label": "所属集团", "type": "link", "target": "group"},
    ],
}
MEMBER_RULES = {"create": True, "read": "all", "update": "all", "delete": "own", "import": True}


def _set_up(server: Server) -> dict[str, Any]:
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
        for definition in (GROUP, CUSTOMER):
            changes.create_form(conn=conn, actor=admin, form=parse_model(Form, definition))
        (group,) = create_records(
            conn=conn,
            actor=admin,
            form=get_form(conn, "group"),
            items=[{"name": "腾讯控股", "code": "G001"}],
        )
        (tencent,) = create_records(
            conn=conn,
            actor=admin,
            form=get_form(conn, "customer"),
            items=[{"name": "腾讯科技(深圳)有限公司"}],
        )
        for form_key in ("customer", "group"):
            set_form_rules(conn, "member", get_form(conn, form_key), MEMBER_RULES)
        manage.create_role(conn, admin, "reader", "只读")
        set_form_rules(conn, "reader", get_form(conn, "customer"), {"read": "all"})
        people = {}
        for email, name, role in (
            ("mei@idc.test", "梅", "member"),
            ("rita@idc.test", "Rita", "reader"),
        ):
            people[name] = manage.add_user(
                conn,
                Actor.system(),
                email=email,
                name=name,
                password="demo4meridian",
                passwords=workspace.passwords,
                roles=[role],
                department=None,
                must_change_password=False,
            )["id"]
        reader_token = create_token(conn=conn, user_id=people["Rita"], name="t")
    return {"group": group, "tencent": tencent, "mei": people["梅"], "reader_token": reader_token}


def customers_xlsx(path: Path) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "华东客户"
    sheet.append(["2026 年华东区客户名单"])
    sheet.merge_cells("A1:E1")
    sheet.append(["公司名称", "签约日期", "金额", "负责人", "所属集团"])
    sheet.append(["腾讯科技（深圳）有限公司", "2024年3月5日", "1.2万", "梅", "G001"])
    sheet.append(["阿里云计算有限公司", "2024/3/6", "¥1,200", "mei@idc.test", None])
    sheet.append(["字节跳动有限公司", "2024年13月45日", "12.5万元", "梅", None])
    sheet.append(["华为云计算技术有限公司", "20240307", "1.2亿", "梅", "G001"])
    book.save(path)
    return path


def _shot(page: Page, name: str, locale: str) -> None:
    page.screenshot(path=SCREENSHOTS / f"import-{name}.{locale}.png", full_page=True)


def _customers(server: Server) -> dict[str, Any]:
    with server.workspace.read() as conn:
        rows = conn.execute(
            sa.text(
                'SELECT name, amount, owner_id, "group", signed FROM data_customer'
                " WHERE deleted_at IS NULL"
            )
        )
        return {row.name: row for row in rows}


def _walk(page: Page, server: Server, made: dict[str, Any], locale: str, file: Path) -> None:
    page.goto(server.url + "/forms/customer")
    page.get_by_test_id("import").click()
    page.wait_for_url("**/forms/customer/import")
    page.get_by_test_id("import-file").set_input_files(file)
    _shot(page, "upload", locale)
    page.get_by_test_id("import-upload-submit").click()

    page.wait_for_url("**/imports/*/map")
    import_id = int(page.url.split("/")[-2])
    expect(page.get_by_test_id("import-header-row")).to_contain_text("2")
    assert page.get_by_test_id("map-0").input_value() == "name"  # suggested
    assert page.get_by_test_id("map-3").input_value() == "owner_id"  # 负责人: by name or e-mail
    page.get_by_test_id("map-4").select_option("group")
    page.get_by_test_id("import-map-apply").click()
    page.wait_for_url(f"**/imports/{import_id}/map")
    page.get_by_test_id("key-4").select_option("code")  # the link looked up by its code
    page.get_by_test_id("import-save-as").fill(f"华东模板-{locale}")
    page.get_by_test_id("import-map-apply").click()
    page.wait_for_url(f"**/imports/{import_id}/map")
    assert page.get_by_test_id("key-4").input_value() == "code"
    expect(page.get_by_test_id("import-saved-choice")).to_contain_text(f"华东模板-{locale}")
    _shot(page, "map", locale)
    page.get_by_test_id("import-map-next").click()

    page.wait_for_url(f"**/imports/{import_id}/cleanse")
    expect(page.get_by_test_id("refused-signed-5")).to_be_visible()
    _shot(page, "cleanse", locale)
    page.get_by_test_id("import-find-duplicates").click()

    page.wait_for_url(f"**/imports/{import_id}/duplicates")
    pairs = page.get_by_test_id("import-pairs").locator("tbody tr")
    expect(pairs).to_have_count(1)
    page.get_by_test_id("pair-3-merge").check()
    page.get_by_test_id("import-decide").click()
    page.wait_for_url(f"**/imports/{import_id}/duplicates")
    assert page.get_by_test_id("pair-3-merge").is_checked()
    _shot(page, "duplicates", locale)
    page.get_by_test_id("import-duplicates-next").click()

    page.wait_for_url(f"**/imports/{import_id}/dry-run")
    page.get_by_test_id("import-dry-run-all").click()
    page.wait_for_url(f"**/imports/{import_id}/dry-run")
    counts = page.get_by_test_id("import-dry-counts")
    for outcome, count in (("created", 2), ("updated", 0), ("merged", 1), ("rejected", 1)):
        expect(counts.locator(f"dd[data-outcome={outcome}]")).to_have_text(str(count))
    expect(page.get_by_test_id("import-rejected")).to_contain_text("2024年13月45日")
    with page.expect_download() as caught:
        page.get_by_test_id("import-dry-report").click()
    report = openpyxl.load_workbook(io.BytesIO(caught.value.path().read_bytes())).active
    assert report is not None and report.max_row == 5
    assert set(_customers(server)) == {"腾讯科技(深圳)有限公司"}  # nothing written
    _shot(page, "dry-run", locale)

    page.get_by_test_id("import-run").click()
    page.wait_for_url(f"**/imports/{import_id}/run")
    expect(page.get_by_test_id("import-progress")).to_be_visible()
    _shot(page, "run", locale)
    workspace = server.workspace
    stop, threads = start_in_background(workspace.engine, job_handlers(workspace), workspace.tz)
    try:
        page.wait_for_url(f"**/imports/{import_id}/verify", timeout=60_000)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)

    counts = page.get_by_test_id("import-counts")
    for outcome, count in (("created", 2), ("merged", 1), ("rejected", 1)):
        expect(counts.locator(f"dd[data-outcome={outcome}]")).to_have_text(str(count))
    expect(page.get_by_test_id("import-rejected")).to_contain_text("2024年13月45日")
    _shot(page, "verify", locale)
    customers = _customers(server)
    assert set(customers) == {
        "腾讯科技(深圳)有限公司",
        "阿里云计算有限公司",
        "华为云计算技术有限公司",
    }
    assert str(customers["腾讯科技(深圳)有限公司"].amount).startswith("12000")
    assert customers["腾讯科技(深圳)有限公司"].group == made["group"]  # merged in
    assert customers["华为云计算技术有限公司"].group == made["group"]
    assert str(customers["华为云计算技术有限公司"].amount).startswith("120000000")
    assert customers["阿里云计算有限公司"].owner_id == made["mei"]
    assert customers["华为云计算技术有限公司"].owner_id == made["mei"]

    page.get_by_test_id("import-records").click()
    page.wait_for_url("**/forms/customer?filter=*")
    expect(page.locator("tr[data-id]")).to_have_count(3)
    page.go_back()
    page.get_by_test_id("import-rollback").click()
    page.wait_for_url(f"**/imports/{import_id}/verify?rolled=*")
    expect(page.get_by_test_id("import-rolled")).to_be_visible()
    assert set(_customers(server)) == {"腾讯科技(深圳)有限公司"}
    assert _customers(server)["腾讯科技(深圳)有限公司"].amount is None


def test_a_member_walks_the_import_wizard(browser: Browser, server: Server, tmp_path: Path) -> None:
    made = _set_up(server)
    file = customers_xlsx(tmp_path / "华东客户.xlsx")
    for locale in ("zh-CN", "en"):
        context = browser.new_context(viewport=DESKTOP, locale=locale, accept_downloads=True)
        page, errors = open_watched(context)
        page.set_default_timeout(15_000)
        log_in(page, server, "mei@idc.test", "demo4meridian")
        _walk(page, server, made, locale, file)
        assert errors == []
        context.close()


def test_without_the_import_right_there_is_no_button_and_the_api_refuses(
    browser: Browser, server: Server, tmp_path: Path
) -> None:
    made = _set_up(server)
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page, errors = open_watched(context)
    log_in(page, server, "rita@idc.test", "demo4meridian")
    page.goto(server.url + "/forms/customer")
    expect(page.locator("tr[data-id]")).to_have_count(1)
    expect(page.get_by_test_id("import")).to_have_count(0)
    refused = page.request.post(
        server.url + "/api/v1/forms/customer/imports",
        headers={"Authorization": f"Bearer {made['reader_token']}"},
        multipart={
            "file": {
                "name": "a.xlsx",
                "mimeType": "application/octet-stream",
                "buffer": customers_xlsx(tmp_path / "a.xlsx").read_bytes(),
            }
        },
    )
    assert refused.status == 403
    assert page.request.get(server.url + "/forms/customer/import").status == 403
    assert errors == []
    context.close()


def noted_xlsx(path: Path) -> Path:
    """A notes row above the header, all text: the row detection takes for the header."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "客户"
    sheet.append(["填表说明", "日期写作 2024-03-05", "金额单位：元"])
    sheet.append(["公司名称", "签约日期", "金额"])
    sheet.append(["阿里云计算有限公司", "2024/3/6", "¥1,200"])
    book.save(path)
    return path


def test_the_member_chooses_another_header_row_and_the_mapping_follows(
    browser: Browser, server: Server, tmp_path: Path
) -> None:
    _set_up(server)
    file = noted_xlsx(tmp_path / "客户.xlsx")
    for locale in ("zh-CN", "en"):
        context = browser.new_context(viewport=DESKTOP, locale=locale)
        page, errors = open_watched(context)
        page.set_default_timeout(15_000)
        log_in(page, server, "mei@idc.test", "demo4meridian")
        page.goto(server.url + "/forms/customer/import")
        page.get_by_test_id("import-file").set_input_files(file)
        page.get_by_test_id("import-upload-submit").click()
        page.wait_for_url("**/imports/*/map")
        import_id = int(page.url.split("/")[-2])
        expect(page.get_by_test_id("import-header-row")).to_contain_text("1")
        assert page.get_by_test_id("map-0").input_value() == ""  # 填表说明 fills nothing

        page.get_by_test_id("import-header-row-choice").fill("2")
        page.get_by_test_id("import-header-row-apply").click()
        page.wait_for_url(f"**/imports/{import_id}/map")
        expect(page.get_by_test_id("import-header-row")).to_contain_text("2")
        assert page.get_by_test_id("import-header-row-choice").input_value() == "2"
        assert [page.get_by_test_id(f"map-{i}").input_value() for i in range(3)] == [
            "name",
            "signed",
            "amount",
        ]
        expect(page.get_by_test_id("import-map")).to_contain_text("阿里云计算有限公司")
        page.screenshot(path=SCREENSHOTS / f"import-header-row.{locale}.png", full_page=True)

        page.get_by_test_id("import-header-row-choice").fill("9")  # past the last row
        page.get_by_test_id("import-header-row-apply").click()
        expect(page.get_by_test_id("import-problems")).to_contain_text("9")
        expect(page.get_by_test_id("import-header-row")).to_contain_text("2")  # unchanged

        page.get_by_test_id("import-header-row-found").click()
        page.wait_for_url(f"**/imports/{import_id}/map")
        expect(page.get_by_test_id("import-header-row")).to_contain_text("1")
        assert errors == []
        context.close()
