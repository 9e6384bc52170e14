"""The rule builder's create action chooses who owns the record it creates: the triggering
record's owner (the default), a user, the user in a field of the triggering record, or an
assignment strategy. Built in the browser, fired for real, the created records belong to the
people chosen; the builder and the rule's words in zh-CN and English."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from playwright.sync_api import Browser, Page, expect

from meridian.access.users import create_user
from meridian.core.actor import Actor
from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import Worker
from meridian.records import service
from meridian.rules.definitions import list_rules
from meridian.schema.catalog import get_form
from meridian.schema.compile import compile_form
from tests.browser.conftest import DESKTOP, SCREENSHOTS, Server, log_in, open_watched
from tests.forms import STAGE, install_forms, lead_form

PASSWORD = "pass-word-1"
FOLLOW_UP = {
    "key": "follow_up",
    "label": "跟进",
    "title_field": "title",
    "fields": [{"key": "title", "label": "事项", "type": "text"}],
}


def _setup(server: Server) -> dict[str, int]:
    people = {}
    with server.workspace.transaction() as conn:
        install_forms(
            conn,
            lead_form(
                {"key": "name", "label": "名称", "type": "text"},
                STAGE,
                {"key": "csm", "label": "客户成功经理", "type": "user"},
            ),
            FOLLOW_UP,
        )
        for name in ("Admin", "Bo", "Cai", "Du"):
            people[name] = create_user(
                conn=conn,
                email=f"{name.lower()}@acme.test",
                name=name,
                password=PASSWORD,
                passwords=server.workspace.passwords,
                is_admin=name == "Admin",
            )
    return people


def _build(page: Page, server: Server, label: str, way: str, choose: str = "") -> None:
    """A rule "when the stage becomes won, create a follow-up titled ``label``", its owner
    chosen ``way``."""
    page.goto(f"{server.url}/admin/rules/new")
    page.fill("[data-testid=rule-label]", label)
    page.select_option("[data-testid=trigger-type]", "field_changed")
    page.select_option("[data-testid=trigger-field]", "stage")
    page.select_option("[data-testid=trigger-to]", ["won"])
    page.click("[data-testid=add-action]")
    page.select_option("[data-testid=action-type]", "create")
    page.select_option("select[x-model='action.form']", "follow_up")
    page.click("[data-testid=add-pair]")
    page.fill("[data-testid=pair-value]", label)
    kind = page.locator("[data-testid=owner-kind]")
    expect(kind).to_have_value("owner")  # the default
    if way == "user":
        kind.select_option("user")
        page.select_option("[data-testid=owner-user]", label=choose)
    elif way == "field":
        kind.select_option("field")
        page.select_option("[data-testid=owner-field]", label=choose)
    elif way == "strategy":
        kind.select_option("strategy")
        page.select_option("[data-testid=owner-strategy]", "round_robin")
        page.select_option("[data-testid=owner-pool]", label=[choose])
    page.click("[data-testid=save-rule]")
    expect(page).to_have_url(re.compile(r"/admin/rules/\d+$"))


def test_each_owner_choice_is_built_in_the_browser_and_owns_what_the_rule_creates(
    page: Page, server: Server
) -> None:
    people = _setup(server)
    log_in(page, server, "admin@acme.test", PASSWORD)
    _build(page, server, "默认", "owner")
    expect(page.locator("[data-testid=rule-then]")).to_contain_text("触发记录的负责人")
    _build(page, server, "指定", "user", "Bo")
    expect(page.locator("[data-testid=rule-then]")).to_contain_text("Bo")
    _build(page, server, "字段", "field", "客户成功经理")
    expect(page.locator("[data-testid=rule-then]")).to_contain_text("客户成功经理")
    _build(page, server, "轮询", "strategy", "Du")
    expect(page.locator("[data-testid=rule-then]")).to_contain_text("Du")

    with server.workspace.read() as conn:
        saved = {rule["label"]: rule["actions"][0] for rule in list_rules(conn)}
    assert "owner" not in saved["默认"]
    assert saved["指定"]["owner"] == {"user": people["Bo"]}
    assert saved["字段"]["owner"] == {"field": "csm"}
    assert saved["轮询"]["owner"] == {"strategy": "round_robin", "users": [people["Du"]]}

    with server.workspace.transaction() as conn:
        lead = get_form(conn, "lead")
        record = service.create_record(
            conn=conn,
            actor=Actor(user_id=people["Admin"], is_admin=True),
            form=lead,
            values={"name": "华为云", "stage": "new", "csm": people["Cai"]},
        )
        service.update_record(
            conn=conn,
            actor=Actor.system(),
            form=lead,
            record_id=record["id"],
            values={"stage": "won"},
        )
    Worker(
        server.workspace.engine, job_handlers(server.workspace), ZoneInfo("Asia/Shanghai")
    ).run_once()
    with server.workspace.read() as conn:
        table = compile_form(get_form(conn, "follow_up")).main
        owners = dict(conn.execute(sa.select(table.c.title, table.c.owner_id)).all())
    assert owners == {
        "默认": people["Admin"],
        "指定": people["Bo"],
        "字段": people["Cai"],
        "轮询": people["Du"],
    }

    # The builder shows the saved choice again when the rule is edited.
    page.goto(f"{server.url}/admin/rules")
    with server.workspace.read() as conn:
        by_label = {rule["label"]: rule["id"] for rule in list_rules(conn)}
    page.goto(f"{server.url}/admin/rules/{by_label['字段']}/edit")
    expect(page.locator("[data-testid=owner-kind]")).to_have_value("field")
    expect(page.locator("[data-testid=owner-field]")).to_have_value("csm")


def test_the_owner_choice_in_both_languages(browser: Browser, server: Server) -> None:
    people = _setup(server)
    del people
    for locale, words in (("zh-CN", "负责人"), ("en", "Owner")):
        context = browser.new_context(viewport={**DESKTOP, "height": 1250}, locale=locale)
        page, errors = open_watched(context)
        page.set_default_timeout(10_000)
        log_in(page, server, "admin@acme.test", PASSWORD)
        page.goto(f"{server.url}/admin/rules/new")
        page.fill("[data-testid=rule-label]", "赢单后建跟进")
        page.click("[data-testid=add-action]")
        page.select_option("[data-testid=action-type]", "create")
        page.select_option("select[x-model='action.form']", "follow_up")
        page.select_option("[data-testid=owner-kind]", "field")
        page.select_option("[data-testid=owner-field]", label="客户成功经理")
        expect(page.locator("[data-testid=owner-choice]")).to_contain_text(words)
        assert page.locator("html").get_attribute("lang") == locale
        page.screenshot(path=SCREENSHOTS / f"rule-builder-owner.{locale}.png")
        context.close()
        assert not errors, f"JavaScript errors or CSP violations: {errors}"
