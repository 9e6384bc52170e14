"""The example plugin in the browser: its field type is shown and edited on the record page,
its rule action rated the record, and its page is reached from the menu."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from meridian.access.users import create_user
from meridian.core.actor import Actor
from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import Worker
from meridian.records import reads, service
from meridian.rules.definitions import create_rule
from meridian.schema import changes
from meridian.schema.catalog import get_form
from meridian.schema.model import App
from meridian.settings import Settings
from tests.browser.conftest import Server, log_in


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        password_hashing="argon2-minimal-for-tests",
        load_plugins="ratings",
    )


def test_a_plugin_field_action_and_page_in_the_browser(page: Page, server: Server) -> None:
    system = Actor.system()
    with server.workspace.transaction() as conn:
        changes.create_app(conn=conn, actor=system, app=App(key="crm", label="CRM"))
        form = changes.form_from_draft(
            conn,
            "crm",
            {
                "key": "account",
                "label": "客户",
                "title_field": "name",
                "fields": [
                    {"key": "name", "label": "名称", "type": "text"},
                    {"key": "score", "label": "评分", "type": "rating"},
                ],
            },
        )
        changes.create_form(conn=conn, actor=system, form=form)
        admin_id = create_user(
            conn=conn,
            email="a@acme.test",
            name="A",
            password="pass-word-1",
            is_admin=True,
            passwords=server.workspace.passwords,
        )
        create_rule(
            conn,
            Actor(user_id=admin_id, is_admin=True),
            {
                "form_key": "account",
                "label": "新客户四星",
                "trigger": {"type": "record_created"},
                "actions": [{"type": "rate", "field": "score", "stars": 4}],
            },
        )
        record = service.create_record(
            conn=conn, actor=system, form=get_form(conn, "account"), values={"name": "ACME-LEAD"}
        )
    worker = Worker(server.workspace.engine, job_handlers(server.workspace), server.workspace.tz)
    while worker.run_once():
        pass

    log_in(page, server, "a@acme.test", "pass-word-1")
    page.goto(f"{server.url}/forms/account/records/{record['id']}")
    expect(page.locator("[data-field=score]")).to_contain_text("★★★★☆")

    page.goto(f"{server.url}/forms/account/records/{record['id']}/edit")
    page.fill("#f-score", "7")
    page.click("[data-testid=save-record]")
    expect(page.locator("[data-testid=error-score]")).to_be_visible()
    page.fill("#f-score", "5")
    page.click("[data-testid=save-record]")
    expect(page.locator("[data-field=score]")).to_contain_text("★★★★★")

    page.locator("[data-testid=plugin-links] a", has_text="评分").click()
    expect(page.locator("[data-testid=plugin-page] h1")).to_have_text("评分")
    row = page.locator("[data-testid=ratings] tr", has_text="客户 · 评分")
    expect(row.locator("td")).to_have_text(["0", "0", "0", "0", "1"])


def test_a_plugin_field_is_created_edited_and_shown_in_the_form_and_the_grid(
    page: Page, server: Server
) -> None:
    system = Actor.system()
    with server.workspace.transaction() as conn:
        changes.create_app(conn=conn, actor=system, app=App(key="crm", label="CRM"))
        form = changes.form_from_draft(
            conn,
            "crm",
            {
                "key": "account",
                "label": "客户",
                "title_field": "name",
                "fields": [
                    {"key": "name", "label": "名称", "type": "text"},
                    {"key": "score", "label": "评分", "type": "rating"},
                ],
            },
        )
        changes.create_form(conn=conn, actor=system, form=form)
        create_user(
            conn=conn,
            email="a@acme.test",
            name="A",
            password="pass-word-1",
            is_admin=True,
            passwords=server.workspace.passwords,
        )
    log_in(page, server, "a@acme.test", "pass-word-1")

    # The record form: the type has no widget of its own, so it gets the plain input.
    page.goto(f"{server.url}/forms/account/new")
    expect(page.locator("#f-score")).to_have_attribute("inputmode", "decimal")
    page.fill("#f-name", "ACME-LEAD")
    page.fill("#f-score", "3")
    page.click("[data-testid=save-record]")
    expect(page.locator("[data-field=score]")).to_contain_text("★★★☆☆")

    # The grid shows it as the type displays it and edits it in place.
    page.goto(f"{server.url}/forms/account")
    cell = page.locator("td[data-field=score]")
    expect(cell).to_have_text("★★★☆☆")
    cell.dblclick()
    editor = page.locator("td.editing input[name=score]")
    editor.fill("5")
    editor.press("Enter")
    expect(page.locator("td[data-field=score]")).to_have_text("★★★★★")
    with server.workspace.read() as conn:
        record = reads.get_record(
            conn=conn, actor=system, form=get_form(conn, "account"), record_id=1
        )
    assert record["score"] == 5
