"""Printing a record page from the browser prints the record alone: no navigation, no buttons,
no sharing form."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from meridian.access.users import create_user
from meridian.core.actor import Actor
from meridian.records import service
from meridian.schema import changes
from meridian.schema.catalog import get_form
from meridian.schema.model import App, Form, parse_model
from tests.browser.conftest import Server, log_in


def test_a_printed_record_page_shows_the_record_without_navigation_or_buttons(
    page: Page, server: Server
) -> None:
    system = Actor.system()
    with server.workspace.transaction() as conn:
        changes.create_app(conn=conn, actor=system, app=App(key="sales", label="销售"))
        changes.create_form(
            conn=conn,
            actor=system,
            form=parse_model(
                Form,
                {
                    "key": "quote",
                    "app_key": "sales",
                    "label": "报价",
                    "title_field": "title",
                    "fields": [{"key": "title", "label": "标题", "type": "text"}],
                },
            ),
        )
        record = service.create_record(
            conn=conn, actor=system, form=get_form(conn, "quote"), values={"title": "Q3-RENEWAL"}
        )
        create_user(
            conn=conn,
            email="a@acme.test",
            name="A",
            password="pass-word-1",
            passwords=server.workspace.passwords,
            is_admin=True,
        )
    log_in(page, server, "a@acme.test", "pass-word-1")
    page.goto(f"{server.url}/forms/quote/records/{record['id']}")
    for shown in (".topbar", ".sidebar", "[data-testid=edit-record]", "[data-testid=sharing]"):
        expect(page.locator(shown).first).to_be_visible()

    page.emulate_media(media="print")
    expect(page.locator("[data-testid=record-title]")).to_have_text("Q3-RENEWAL")
    expect(page.locator("[data-field=title]")).to_be_visible()
    for hidden in (".topbar", ".sidebar", "[data-testid=edit-record]", "[data-testid=sharing]"):
        expect(page.locator(hidden).first).to_be_hidden()
    assert page.locator("button:visible, form:visible, nav:visible").count() == 0
