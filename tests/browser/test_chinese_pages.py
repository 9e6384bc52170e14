"""A Chinese team's pages speak Chinese (issue 15): a record form refusing its input, a
formula error in the designer, an edit conflict, a forbidden page and the password change show
no English system text; the same refusal reads in English for an English reader.

"English system text" is any English word on the page that the builder did not write (form,
field and option labels and keys stay as written) and that is not a name such as Meridian.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from meridian.access.users import create_user
from meridian.core.actor import Actor
from meridian.records import service
from meridian.schema import changes
from meridian.schema.catalog import get_form
from meridian.schema.model import App, Form, parse_model
from tests.browser.conftest import DESKTOP, SCREENSHOTS, Server, log_in, open_watched

PASSWORD = "pass-word-1"
PROJECT = {
    "key": "project",
    "label": "项目",
    "title_field": "code",
    "fields": [
        {
            "key": "code",
            "label": "项目编号",
            "type": "text",
            "required": True,
            "unique": True,
            "pattern": "^PRJ-[0-9]{4}$",
        },
        {"key": "cabinets", "label": "机柜数", "type": "integer", "max_value": 60},
        {"key": "power", "label": "单柜功率", "type": "decimal", "scale": 1},
        {
            "key": "zonggonglv_kw",
            "label": "总功率(kW)",
            "type": "formula",
            "expression": "cabinets * power",
        },
    ],
}
# What the builder and the test wrote, and names: these may be ASCII on a Chinese page.
WRITTEN = {"IDC", "PRJ", "XYZ", "abc", "cabinets", "cabinets_total", "power", "kW", "zonggonglv_kw"}
PEOPLE = {"wang", "fang", "lei"}
NAMES = {"Meridian", "English", "acme", "test", "CSV", "API", "ETag"}
_WORD = re.compile(r"[A-Za-z_]{3,}")


def english_words(text: str) -> list[str]:
    """The English words of ``text`` that nobody wrote into the workspace."""
    return [word for word in _WORD.findall(text) if word not in WRITTEN | PEOPLE | NAMES]


def _setup(server: Server) -> int:
    system = Actor.system()
    with server.workspace.transaction() as conn:
        changes.create_app(conn=conn, actor=system, app=App(key="idc", label="IDC 机房"))
        changes.create_form(
            conn=conn, actor=system, form=parse_model(Form, {**PROJECT, "app_key": "idc"})
        )
        record = service.create_record(
            conn=conn, actor=system, form=get_form(conn, "project"), values={"code": "PRJ-0001"}
        )
        for email, admin in (("wang.fang@acme.test", True), ("li.lei@acme.test", False)):
            create_user(
                conn=conn,
                email=email,
                name=email.split("@")[0],
                password=PASSWORD,
                passwords=server.workspace.passwords,
                is_admin=admin,
            )
    return int(record["id"])


def _refuse_a_record(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/forms/project/new")
    page.fill("#f-code", "XYZ")
    page.fill("#f-cabinets", "100")
    page.fill("#f-power", "abc")
    page.click("[data-testid=save-record]")
    page.wait_for_load_state("networkidle")


def test_a_refused_record_form_speaks_chinese(page: Page, server: Server) -> None:
    _setup(server)
    log_in(page, server, "wang.fang@acme.test", PASSWORD)
    _refuse_a_record(page, server)
    body = page.inner_text("body")
    assert "'abc' 不是数字" in body
    assert "100 大于最大值 60" in body
    assert "'XYZ' 不符合格式 '^PRJ-[0-9]{4}$'" in body
    assert body.count("不是数字") == 1
    assert not english_words(body), english_words(body)


def test_a_formula_error_in_the_designer_is_chinese_named_and_said_once(
    page: Page, server: Server
) -> None:
    _setup(server)
    log_in(page, server, "wang.fang@acme.test", PASSWORD)
    page.goto(f"{server.url}/apps/idc/designer/project")
    page.locator("[data-testid=canvas-field]", has_text="总功率(kW)").click()
    page.fill("[data-testid=prop-formula]", "cabinets_total * power")
    live = page.locator("[data-testid=formula-error]")
    expect(live).to_have_text("未知字段 cabinets_total。您是不是要写 cabinets？")
    page.locator("[data-testid=prop-formula]").dispatch_event("change")
    page.click("[data-testid=save-form]")
    problems = page.locator("[data-testid=problems]")
    expect(problems).to_be_visible()
    said = problems.inner_text()
    assert "总功率(kW)：未知字段 cabinets_total。" in said
    assert said.count("未知字段") == 1
    assert "fields." not in said
    assert not english_words(page.inner_text("body")), english_words(page.inner_text("body"))


def test_a_conflict_a_forbidden_page_and_the_password_change_speak_chinese(
    page: Page, server: Server
) -> None:
    record_id = _setup(server)
    log_in(page, server, "wang.fang@acme.test", PASSWORD)
    page.goto(f"{server.url}/forms/project/records/{record_id}/edit")
    with server.workspace.transaction() as conn:
        service.update_record(
            conn=conn,
            actor=Actor.system(),
            form=get_form(conn, "project"),
            record_id=record_id,
            values={"cabinets": 2},
        )
    page.fill("#f-cabinets", "3")
    page.click("[data-testid=save-record]")
    page.wait_for_load_state("networkidle")
    conflict = page.inner_text("body")
    assert "3" in conflict and "2" in conflict  # theirs against mine, in the form
    assert not english_words(conflict), english_words(conflict)

    page.context.clear_cookies()
    log_in(page, server, "li.lei@acme.test", PASSWORD)
    forbidden = page.goto(f"{server.url}/admin/users")
    assert forbidden is not None and forbidden.status == 403
    refused = page.inner_text("body")
    assert "只有管理员可以管理用户、角色和权限" in refused
    assert not english_words(refused), english_words(refused)

    page.goto(f"{server.url}/password")
    page.fill("input[name=old_password]", PASSWORD)
    page.fill("input[name=new_password]", "li.lei")
    page.click('form[action="/password"] button[type=submit]')
    page.wait_for_load_state("networkidle")
    weak = page.inner_text("main")
    for problem in ("至少 8 个字符", "需同时包含字母和数字", "不能包含邮箱用户名"):
        assert weak.count(problem) == 1, weak
    assert not english_words(weak), english_words(weak)


@pytest.fixture
def english_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP, locale="en-US")
    tab, errors = open_watched(context)
    tab.set_default_timeout(10_000)
    yield tab
    context.close()
    assert not errors, errors


def test_the_same_refusal_reads_in_english_and_both_are_shot(
    page: Page, english_page: Page, server: Server
) -> None:
    _setup(server)
    for tab, locale in ((page, "zh-CN"), (english_page, "en")):
        log_in(tab, server, "wang.fang@acme.test", PASSWORD)
        _refuse_a_record(tab, server)
        expect(tab.locator(".field-error").first).to_be_visible()
        if server.workspace.engine.dialect.name == "sqlite":
            tab.screenshot(path=SCREENSHOTS / f"validation-error.{locale}.png", full_page=True)
    english = english_page.inner_text("body")
    assert "'abc' is not a number" in english
    assert "100 is more than the maximum 60" in english
