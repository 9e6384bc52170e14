"""The kanban's column counts and sums are of every record, before and after a drag."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from meridian.access import manage
from meridian.core.actor import Actor
from meridian.records import bulk
from meridian.schema.catalog import get_form
from tests.browser.conftest import Server, drag, log_in
from tests.forms import install_forms, lead_form, select_field

PASSWORD = "kanban-4-real"


def _board(server: Server) -> None:
    system = Actor.system()
    with server.workspace.transaction() as conn:
        install_forms(
            conn,
            lead_form(
                {"key": "name", "label": "客户名称", "type": "text"},
                select_field("stage", "阶段", ("new", "新线索"), ("qualified", "已确认")),
                {"key": "amount", "label": "预计金额", "type": "money"},
            ),
        )
        manage.add_user(
            conn,
            system,
            email="boss@acme.test",
            name="Bo Boss",
            password=PASSWORD,
            passwords=server.workspace.passwords,
            roles=["administrator"],
            must_change_password=False,
        )
        form = get_form(conn, "lead")
        for stage, count, amount in (("new", 72, "1000.00"), ("qualified", 61, "2500.50")):
            items = [
                {"name": f"{stage}{i}", "stage": stage, "amount": amount} for i in range(count)
            ]
            bulk.create_records(conn=conn, actor=system, form=form, items=items)


def test_counts_and_sums_stay_the_real_totals_after_a_drag(page: Page, server: Server) -> None:
    _board(server)
    log_in(page, server, "boss@acme.test", PASSWORD)
    page.goto(f"{server.url}/forms/lead/kanban")
    new = page.locator("[data-testid=column-new]")
    qualified = page.locator("[data-testid=column-qualified]")
    expect(new.locator("[data-testid=column-count]")).to_have_text("72")
    expect(qualified.locator("[data-testid=column-count]")).to_have_text("61")
    assert new.locator(".card").count() == 50  # only the first cards are loaded

    page.select_option("[data-testid=kanban-sum]", "amount")
    page.wait_for_url("**sum=amount**")
    expect(new.locator("[data-testid=column-sum]")).to_have_text("¥72,000.00")
    expect(qualified.locator("[data-testid=column-sum]")).to_have_text("¥152,530.50")

    expect(new.locator("[data-testid=column-more]")).to_contain_text("22")
    with server.workspace.transaction() as conn:  # someone adds five while the board is open
        items = [{"name": f"late{i}", "stage": "new"} for i in range(5)]
        bulk.create_records(
            conn=conn, actor=Actor.system(), form=get_form(conn, "lead"), items=items
        )

    card = new.locator(".card").first
    record_id = card.get_attribute("data-id")
    with page.expect_response(lambda r: "/kanban/totals" in r.url):
        drag(
            page,
            f"[data-testid=column-new] [data-id='{record_id}']",
            "[data-testid=column-qualified] .kanban-cards",
            below=False,
        )
    expect(new.locator("[data-testid=column-count]")).to_have_text("76")
    expect(qualified.locator("[data-testid=column-count]")).to_have_text("62")
    # 76 records, 49 cards loaded: the link follows the totals, not the page's first count.
    expect(new.locator("[data-testid=column-more]")).to_contain_text("27")
    expect(qualified.locator("[data-testid=column-more]")).to_contain_text("11")
    expect(new.locator("[data-testid=column-sum]")).to_have_text("¥71,000.00")
    expect(qualified.locator("[data-testid=column-sum]")).to_have_text("¥153,530.50")

    # The sum is a setting of a saved kanban view.
    page.click(".kanban-views summary")
    page.fill("[data-testid=save-kanban-view] input[name=name]", "按金额")
    page.click("[data-testid=save-kanban-view] button[type=submit]")
    page.wait_for_url("**/kanban?view=*")
    expect(qualified.locator("[data-testid=column-sum]")).to_have_text("¥153,530.50")
