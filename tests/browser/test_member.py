"""A member works records in the browser: validation beside the field, pinyin search, the
kanban, the timeline — and never sees a field hidden from the role."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from meridian.access import manage
from meridian.core.actor import Actor
from meridian.records import listing, reads, service
from meridian.schema.catalog import get_form
from tests.browser.conftest import Server, drag, log_in
from tests.forms import install_forms, lead_form, select_field

PASSWORD = "works4fun"
SECRET_LABEL = "底价"
SECRET_VALUE = "88888.00"


def _setup(server: Server) -> int:
    """A 线索 form whose 底价 (floor price) is hidden from members; returns the member's id."""
    system = Actor.system()
    with server.workspace.transaction() as conn:
        [form] = install_forms(
            conn,
            lead_form(
                {"key": "name", "label": "客户名称", "type": "text", "required": True},
                {"key": "phone", "label": "手机", "type": "phone"},
                select_field("stage", "阶段", ("new", "新线索"), ("qualified", "已确认")),
                {"key": "floor_price", "label": SECRET_LABEL, "type": "money"},
            ),
        )
        member = manage.add_user(
            conn,
            system,
            email="member@acme.test",
            name="Mei Member",
            password=PASSWORD,
            passwords=server.workspace.passwords,
            roles=["member"],
            must_change_password=False,
        )
        manage.set_form_permissions(
            conn,
            system,
            "member",
            form,
            {
                "create": True,
                "read": "own",
                "update": "own",
                "delete": "own",
                "fields": {"floor_price": "hidden"},
            },
        )
    return int(member["id"])


def _assert_secret_absent(page: Page) -> None:
    html = page.content()
    for leak in (SECRET_LABEL, "floor_price", "88888", "88,888"):
        assert leak not in html, leak


def test_member_creates_finds_and_moves_a_record(page: Page, server: Server) -> None:
    member_id = _setup(server)
    log_in(page, server, "member@acme.test", PASSWORD)

    page.goto(f"{server.url}/forms/lead/new")
    _assert_secret_absent(page)
    page.fill("#f-name", "华为云")
    page.fill("#f-phone", "12345")
    page.select_option("#f-stage", "new")
    page.click("[data-testid=save-record]")
    error = page.locator("[data-testid=error-phone]")
    expect(error).to_be_visible()
    expect(page.locator("#f-phone")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-name")).to_have_value("华为云")  # what was typed is kept
    with server.workspace.read() as conn:
        stored = listing.list_records(
            conn=conn,
            actor=Actor.system(),
            form=get_form(conn, "lead"),
            query=listing.RecordQuery(count=True),
        )
    assert stored.total == 0

    page.fill("#f-phone", "138 0013 8000")
    page.click("[data-testid=save-record]")
    expect(page.locator("[data-testid=record-title]")).to_have_text("华为云")
    record_id = int(re.search(r"/records/(\d+)", page.url).group(1))  # type: ignore[union-attr]
    expect(page.locator("[data-field=phone] .value")).to_contain_text("138")

    # An administrator fills the hidden field behind the member's back.
    with server.workspace.transaction() as conn:
        service.update_record(
            conn=conn,
            actor=Actor.system(),
            form=get_form(conn, "lead"),
            record_id=record_id,
            values={"floor_price": SECRET_VALUE},
        )
        other = service.create_record(
            conn=conn,
            actor=Actor.system(),
            form=get_form(conn, "lead"),
            values={"name": "阿里云", "stage": "new", "owner_id": member_id},
        )

    page.goto(f"{server.url}/forms/lead")
    expect(page.locator("[data-testid=total]")).to_contain_text("2")
    page.fill("[data-testid=search]", "hwy")
    page.press("[data-testid=search]", "Enter")
    rows = page.locator("[data-testid=grid] tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("华为云")
    _assert_secret_absent(page)

    page.goto(f"{server.url}/forms/lead/kanban")
    _assert_secret_absent(page)
    card = f"[data-testid=column-new] [data-id='{record_id}']"
    expect(page.locator(card)).to_be_visible()
    with page.expect_response(lambda r: r.url.endswith(f"/records/{record_id}/move")) as moved:
        drag(page, card, "[data-testid=column-qualified] .kanban-cards")
    assert moved.value.status == 200
    page.reload()
    expect(page.locator(f"[data-testid=column-qualified] [data-id='{record_id}']")).to_be_visible()
    expect(page.locator(f"[data-testid=column-new] [data-id='{other['id']}']")).to_be_visible()

    page.goto(f"{server.url}/forms/lead/records/{record_id}")
    timeline = page.locator("[data-testid=timeline]")
    expect(timeline).to_contain_text("阶段: 新线索 → 已确认")
    _assert_secret_absent(page)
    page.goto(f"{server.url}/forms/lead/records/{record_id}/edit")
    _assert_secret_absent(page)


def test_a_refused_kanban_move_goes_back_and_says_why(page: Page, server: Server) -> None:
    _setup(server)
    with server.workspace.transaction() as conn:
        # Only records in stage "new" may be changed by members.
        manage.set_form_permissions(
            conn,
            Actor.system(),
            "member",
            get_form(conn, "lead"),
            {"create": True, "read": "own", "update": {"expr": 'stage = "new"'}},
        )
    log_in(page, server, "member@acme.test", PASSWORD)
    page.goto(f"{server.url}/forms/lead/new")
    page.fill("#f-name", "腾讯云")
    page.select_option("#f-stage", "qualified")
    page.click("[data-testid=save-record]")
    record_id = int(re.search(r"/records/(\d+)", page.url).group(1))  # type: ignore[union-attr]

    page.goto(f"{server.url}/forms/lead/kanban")
    card = f"[data-id='{record_id}']"
    drag(page, card, "[data-testid=column-new] .kanban-cards")
    toast = page.locator("#toast")
    expect(toast).to_be_visible()
    expect(toast).not_to_be_empty()
    expect(page.locator(f"[data-testid=column-qualified] {card}")).to_be_visible()
    with server.workspace.read() as conn:
        record = reads.get_record(
            conn=conn, actor=Actor.system(), form=get_form(conn, "lead"), record_id=record_id
        )
    assert record["stage"] == "qualified"


@pytest.mark.parametrize("path", ["/forms/lead/records/{id}", "/forms/lead/records/{id}/edit"])
def test_a_record_the_member_may_not_read_is_not_found(
    page: Page, server: Server, path: str
) -> None:
    _setup(server)
    with server.workspace.transaction() as conn:
        record = service.create_record(
            conn=conn, actor=Actor.system(), form=get_form(conn, "lead"), values={"name": "机密"}
        )
    log_in(page, server, "member@acme.test", PASSWORD)
    response = page.goto(server.url + path.format(id=record["id"]))
    assert response is not None and response.status == 404
    assert "机密" not in page.content()
