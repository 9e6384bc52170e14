"""Automation in the browser: an administrator builds a rule, sees it run, dry-runs it,
switches it off; subscribes a webhook and gets its secret once."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect

from meridian.access.users import create_user
from meridian.core.actor import Actor
from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import Worker
from meridian.records import service
from meridian.rules.definitions import create_rule, get_rule, list_rules
from meridian.schema.catalog import get_form
from tests.browser.conftest import Server, log_in
from tests.forms import STAGE, install_forms, lead_form


def _setup(server: Server) -> int:
    with server.workspace.transaction() as conn:
        install_forms(conn, lead_form({"key": "name", "label": "名称", "type": "text"}, STAGE))
        return create_user(
            conn=conn,
            email="a@acme.test",
            name="A",
            password="pass-word-1",
            passwords=server.workspace.passwords,
            is_admin=True,
        )


def test_an_administrator_builds_a_rule_and_watches_it_run(page: Page, server: Server) -> None:
    admin_id = _setup(server)
    log_in(page, server, "a@acme.test", "pass-word-1")
    page.goto(f"{server.url}/admin/rules")
    page.click("[data-testid=new-rule]")

    # Saving without an action names the problem and saves nothing.
    page.fill("[data-testid=rule-label]", "赢单通知")
    page.click("[data-testid=save-rule]")
    expect(page.locator("[data-testid=rule-problems]")).to_contain_text("actions")

    page.select_option("[data-testid=trigger-type]", "field_changed")
    page.select_option("[data-testid=trigger-field]", "stage")
    page.select_option("[data-testid=trigger-to]", ["won"])
    page.click("[data-testid=add-action]")
    page.fill("[data-testid=notify-title]", "赢单了")
    page.click("[data-testid=save-rule]")
    expect(page).to_have_url(re.compile(r"/admin/rules/\d+$"))
    expect(page.locator("[data-testid=rule-state]")).to_have_text("启用中")

    with server.workspace.transaction() as conn:
        form = get_form(conn, "lead")
        record = service.create_record(
            conn=conn,
            actor=Actor(user_id=admin_id, is_admin=True),
            form=form,
            values={"name": "华为云", "stage": "new"},
        )
        service.update_record(
            conn=conn,
            actor=Actor.system(),
            form=form,
            record_id=record["id"],
            values={"stage": "won"},
        )
    Worker(
        server.workspace.engine, job_handlers(server.workspace), ZoneInfo("Asia/Shanghai")
    ).run_once()

    page.reload()
    expect(page.locator("[data-testid=runs]")).to_contain_text(
        "成功"
    )  # the outcome in the viewer's language
    expect(page.locator("[data-testid=unread]")).to_have_text("1")
    page.fill("input[name=record_id]", str(record["id"]))
    page.click("text=试一试")
    expect(page.locator("[data-testid=dry-run]")).to_contain_text("满足")
    page.click("[data-testid=toggle-rule]")
    expect(page.locator("[data-testid=rule-state]")).to_have_text("已停用")

    page.goto(f"{server.url}/forms/lead/records/{record['id']}")
    expect(page.locator("[data-testid=record-runs]")).to_contain_text("成功")
    page.goto(f"{server.url}/inbox")
    expect(page.locator("main")).to_contain_text("赢单了")


def test_a_webhook_subscription_shows_its_secret_once(page: Page, server: Server) -> None:
    _setup(server)
    log_in(page, server, "a@acme.test", "pass-word-1")
    page.goto(f"{server.url}/admin/webhooks")
    page.check("input[value=RecordUpdated]")
    page.fill("input[name=url]", "https://finance.example.test/hooks/crm")
    page.click("text=订阅")
    expect(page.locator("[data-testid=webhook-secret]")).to_contain_text("whsec_")
    page.goto(f"{server.url}/admin/webhooks")
    expect(page.locator("[data-testid=webhook-secret]")).to_have_count(0)
    expect(page.locator("main")).to_contain_text("finance.example.test")


def test_an_administrator_edits_a_rule_keeping_what_the_builder_does_not_show_then_deletes_it(
    page: Page, server: Server
) -> None:
    _setup(server)
    with server.workspace.transaction() as conn:
        rule = create_rule(
            conn,
            Actor.system(),
            {
                "form_key": "lead",
                "label": "赢单卡片",
                "trigger": {"type": "field_changed", "field": "stage", "from": ["new"]},
                "condition": 'name = "华为云"',
                "actions": [
                    {"type": "notify", "to": "owner", "title": "赢单", "style": "card", "body": ""}
                ],
            },
        )
    log_in(page, server, "a@acme.test", "pass-word-1")
    page.goto(f"{server.url}/admin/rules/{rule['id']}")
    page.click("[data-testid=edit-rule]")
    expect(page.locator("[data-testid=rule-label]")).to_have_value("赢单卡片")
    expect(page.locator("[data-testid=rule-condition]")).to_have_value('name = "华为云"')
    expect(page.locator("[data-testid=trigger-field]")).to_have_value("stage")
    page.fill("[data-testid=rule-label]", "赢单卡片（改）")
    page.fill("[data-testid=notify-title]", "签约了")
    page.click("[data-testid=save-rule]")
    expect(page).to_have_url(f"{server.url}/admin/rules/{rule['id']}")
    expect(page.locator("pre").first).to_contain_text('"title": "签约了"')  # not \\u escapes
    with server.workspace.read() as conn:
        saved = get_rule(conn, rule["id"])
    assert saved["label"] == "赢单卡片（改）"
    assert saved["trigger"] == {"type": "field_changed", "field": "stage", "from": ["new"]}
    assert saved["actions"] == [
        {"type": "notify", "to": "owner", "title": "签约了", "body": "", "style": "card"}
    ]

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-testid=delete-rule]")
    expect(page).to_have_url(f"{server.url}/admin/rules")
    with server.workspace.read() as conn:
        assert list_rules(conn) == []


def test_the_builder_offers_the_department_head_levels_up(page: Page, server: Server) -> None:
    _setup(server)
    log_in(page, server, "a@acme.test", "pass-word-1")
    page.goto(f"{server.url}/admin/rules/new")
    page.fill("[data-testid=rule-label]", "告诉上两级负责人")
    page.click("[data-testid=add-action]")
    page.select_option("select[x-model='action.to_kind']", "department_head")
    page.fill("[data-testid=notify-levels]", "2")
    page.fill("[data-testid=notify-title]", "新线索")
    page.click("[data-testid=save-rule]")
    expect(page).to_have_url(re.compile(r"/admin/rules/\d+$"))
    expect(page.locator("[data-testid=rule-then]")).to_contain_text(
        "通知负责人往上第 2 级的部门负责人：“新线索”"
    )
    with server.workspace.read() as conn:
        [rule] = list_rules(conn)
    assert rule["actions"][0]["to"] == "department_head" and rule["actions"][0]["levels"] == 2
