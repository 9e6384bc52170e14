"""Lifecycle stages in the browser: a builder draws a pipeline, a card dragged through a gate
is refused with the reasons and snaps back, the checklist is completed on the record's path
bar, and the card then moves. Screenshots in both languages go to docs/screenshots/."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from meridian.access import manage
from meridian.access.users import get_user_id, set_locale
from meridian.core.actor import Actor
from meridian.flows.stages.pipelines import save_pipeline
from meridian.records import service
from meridian.schema.catalog import get_form
from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, Server, drag, log_in, open_watched
from tests.forms import install_forms
from tests.stages_support import FORMS, pipeline_document

PASSWORD = "stages-4-real"


def _setup(server: Server) -> None:
    with server.workspace.transaction() as conn:
        install_forms(conn, *FORMS)
        manage.add_user(
            conn,
            Actor.system(),
            email="builder@acme.test",
            name="Builder",
            password=PASSWORD,
            passwords=server.workspace.passwords,
            roles=["administrator"],
            must_change_password=False,
        )


def _deal(server: Server, name: str, **values: object) -> int:
    with server.workspace.transaction() as conn:
        record = service.create_record(
            conn=conn,
            actor=Actor.system(),
            form=get_form(conn, "deal"),
            values={"name": name, "stage": "interest", **values},
        )
    return int(record["id"])


def _save_sales(server: Server) -> None:
    with server.workspace.transaction() as conn:
        save_pipeline(
            conn,
            actor=Actor.system(),
            form=get_form(conn, "deal"),
            document={"key": "sales", **pipeline_document()},
        )


def test_a_card_dragged_through_a_gate_is_refused_then_moves(page: Page, server: Server) -> None:
    _setup(server)
    _save_sales(server)
    log_in(page, server, "builder@acme.test", PASSWORD)

    # A card dragged past the gate is refused with every reason and snaps back.
    deal = _deal(server, "机柜 20 个")
    page.goto(f"{server.url}/forms/deal/kanban")
    card = f"[data-testid=column-interest] [data-id='{deal}']"
    expect(page.locator(card)).to_be_visible()
    with page.expect_response(lambda r: r.url.endswith(f"/records/{deal}/move")) as refused:
        drag(page, card, "[data-testid=column-proposal] .kanban-cards", below=False)
    assert refused.value.status == 422
    toast = page.locator("#toast")
    expect(toast).to_be_visible()
    expect(toast).to_contain_text("需勾选清单项「需求调研表已确认」")
    expect(toast).to_contain_text("需填写「金额」")
    expect(toast).to_contain_text("需有关联的报价单")
    expect(page.locator(card)).to_be_visible()  # back in its column
    page.screenshot(path=str(SCREENSHOTS / "pipeline-kanban-refused.zh-CN.png"))

    # The path bar says what is missing; the checklist is ticked there.
    page.goto(f"{server.url}/forms/deal/records/{deal}")
    bar = page.locator("[data-testid=stage-bar]")
    expect(bar.locator("[data-testid=stage-step-interest]")).to_have_attribute(
        "aria-current", "step"
    )
    expect(bar.locator("[data-testid=missing-proposal]")).to_contain_text("需填写「金额」")
    page.click("[data-testid=tick-survey]")
    page.wait_for_load_state("networkidle")
    expect(page.locator("[data-testid=tick-survey]")).to_have_attribute("aria-pressed", "true")
    page.goto(f"{server.url}/forms/deal/records/{deal}")
    expect(page.locator("[data-testid=stage-bar]")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "pipeline-path.zh-CN.png"), full_page=True)
    with server.workspace.transaction() as conn:
        service.update_record(
            conn=conn,
            actor=Actor.system(),
            form=get_form(conn, "deal"),
            record_id=deal,
            values={"amount": "120000.00"},
        )
        service.create_record(
            conn=conn,
            actor=Actor.system(),
            form=get_form(conn, "quote"),
            values={"title": "报价 v1", "deal": deal},
        )

    # Now the same drag moves it.
    page.goto(f"{server.url}/forms/deal/kanban")
    with page.expect_response(lambda r: "/kanban/totals" in r.url):
        drag(page, card, "[data-testid=column-proposal] .kanban-cards", below=False)
    expect(page.locator(f"[data-testid=column-proposal] [data-id='{deal}']")).to_be_visible()
    page.goto(f"{server.url}/forms/deal/records/{deal}")
    expect(page.locator("[data-testid=stage-step-proposal]")).to_have_attribute(
        "aria-current", "step"
    )
    expect(page.locator("[data-testid=sla-state]")).to_have_text("按时")


def test_the_path_bar_and_designer_in_english_and_at_phone_width(
    browser: Browser, server: Server
) -> None:
    _setup(server)
    with server.workspace.transaction() as conn:
        save_pipeline(
            conn,
            actor=Actor.system(),
            form=get_form(conn, "deal"),
            document={"key": "sales", **pipeline_document()},
        )
    deal = _deal(server, "Rack expansion")
    with server.workspace.transaction() as conn:
        set_locale(conn=conn, user_id=get_user_id(conn, "builder@acme.test"), locale="en")
    context = browser.new_context(viewport=DESKTOP, locale="en-US")
    page, errors = open_watched(context)
    log_in(page, server, "builder@acme.test", PASSWORD)
    page.goto(f"{server.url}/forms/deal/records/{deal}")
    bar = page.locator("[data-testid=stage-bar]")
    expect(bar.locator("[data-testid=missing-proposal]")).to_contain_text(
        "checklist item “survey confirmed” must be ticked"
    )
    page.screenshot(path=str(SCREENSHOTS / "pipeline-path.en.png"), full_page=True)
    page.goto(f"{server.url}/forms/deal/pipelines")
    expect(page.locator("[data-testid=designer-stage-interest]")).to_contain_text(
        "checklist item “survey confirmed” must be ticked"
    )
    page.screenshot(path=str(SCREENSHOTS / "pipeline-designer.en.png"), full_page=True)
    page.goto(f"{server.url}/forms/deal/kanban")
    card = f"[data-testid=column-interest] [data-id='{deal}']"
    drag(page, card, "[data-testid=column-proposal] .kanban-cards", below=False)
    expect(page.locator("#toast")).to_contain_text(
        "amount must be filled in".replace("amount", "金额")
    )
    page.screenshot(path=str(SCREENSHOTS / "pipeline-kanban-refused.en.png"))
    page.set_viewport_size(PHONE)
    page.goto(f"{server.url}/forms/deal/records/{deal}")
    expect(page.locator("[data-testid=stage-bar]")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "pipeline-path-phone.en.png"), full_page=True)
    context.close()
    assert not errors, errors
