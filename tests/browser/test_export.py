"""The grid's 导出 menu in a real browser: each choice starts an export job of the grid as
filtered and sorted, its page shows the progress and, once a worker has written the file, the
download — a UTF-8 CSV with BOM or an .xlsx; screenshots of the open menu and of the finished
export's page in both languages (docs/screenshots/export-{menu,done}.{zh-CN,en}.png)."""

from __future__ import annotations

import io
import json
from urllib.parse import quote

import openpyxl
from playwright.sync_api import Browser, Page, expect

from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import start_in_background
from tests.browser.conftest import DESKTOP, SCREENSHOTS, Server, log_in, open_watched
from tests.browser.test_merge import _set_up


def _download(page: Page, server: Server, choice: str) -> bytes:
    """Choose ``choice`` in the open menu, let a worker run the job, download the file."""
    page.get_by_test_id(choice).click()
    page.wait_for_url("**/exports/*")
    expect(page.get_by_test_id("export-progress")).to_be_visible()
    workspace = server.workspace
    stop, threads = start_in_background(workspace.engine, job_handlers(workspace), workspace.tz)
    try:
        expect(page.get_by_test_id("export-download")).to_be_visible(timeout=60_000)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    with page.expect_download() as caught:
        page.get_by_test_id("export-download").click()
    return caught.value.path().read_bytes()


def test_the_grid_exports_what_it_shows(browser: Browser, server: Server) -> None:
    _set_up(server)
    condition = json.dumps({"field": "name", "op": "contains", "value": "科技"})
    grid = server.url + f"/forms/customer?sort=name&filter={quote(condition)}"
    for locale in ("zh-CN", "en"):
        context = browser.new_context(viewport=DESKTOP, locale=locale, accept_downloads=True)
        page, errors = open_watched(context)
        page.set_default_timeout(10_000)
        log_in(page, server, "admin@idc.test", "demo4meridian")
        page.goto(grid)
        page.get_by_test_id("export").locator("summary").click()
        page.screenshot(path=SCREENSHOTS / f"export-menu.{locale}.png")
        text = _download(page, server, "export-csv").decode("utf-8")
        assert text.startswith("\ufeff")
        lines = text.lstrip("\ufeff").splitlines()
        assert lines[0].split(",")[1] == "客户名称"
        assert [line.split(",")[1] for line in lines[1:]] == [
            "北京字节跳动科技有限公司",
            "腾讯科技 (深圳) 有限责任公司",
            "腾讯科技（深圳）有限公司",
        ]
        expect(page.get_by_test_id("export-progress")).to_contain_text("3")
        page.screenshot(path=SCREENSHOTS / f"export-done.{locale}.png")
        page.goto(grid)
        page.get_by_test_id("export").locator("summary").click()
        sheet = openpyxl.load_workbook(io.BytesIO(_download(page, server, "export-xlsx"))).active
        assert sheet.max_row == 4
        assert errors == []
        context.close()
