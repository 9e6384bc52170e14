"""The grid's 导出 menu in a real browser: the download is the grid as filtered and sorted,
as a UTF-8 CSV with BOM and as .xlsx; screenshots of the open menu in both languages
(docs/screenshots/export-menu.{zh-CN,en}.png)."""

from __future__ import annotations

import io
import json
from urllib.parse import quote

import openpyxl
from playwright.sync_api import Browser

from tests.browser.conftest import DESKTOP, SCREENSHOTS, Server, log_in, open_watched
from tests.browser.test_merge import _set_up


def test_the_grid_exports_what_it_shows(browser: Browser, server: Server) -> None:
    _set_up(server)
    condition = json.dumps({"field": "name", "op": "contains", "value": "科技"})
    for locale in ("zh-CN", "en"):
        context = browser.new_context(viewport=DESKTOP, locale=locale, accept_downloads=True)
        page, errors = open_watched(context)
        page.set_default_timeout(10_000)
        log_in(page, server, "admin@idc.test", "demo4meridian")
        page.goto(server.url + f"/forms/customer?sort=name&filter={quote(condition)}")
        page.get_by_test_id("export").locator("summary").click()
        page.screenshot(path=SCREENSHOTS / f"export-menu.{locale}.png")
        with page.expect_download() as caught:
            page.get_by_test_id("export-csv").click()
        text = caught.value.path().read_bytes().decode("utf-8")
        assert text.startswith("\ufeff")
        lines = text.lstrip("\ufeff").splitlines()
        assert lines[0].split(",")[1] == "客户名称"
        assert [line.split(",")[1] for line in lines[1:]] == [
            "北京字节跳动科技有限公司",
            "腾讯科技 (深圳) 有限责任公司",
            "腾讯科技（深圳）有限公司",
        ]
        with page.expect_download() as caught:
            page.get_by_test_id("export-xlsx").click()
        sheet = openpyxl.load_workbook(io.BytesIO(caught.value.path().read_bytes())).active
        assert sheet.max_row == 4
        assert errors == []
        context.close()
