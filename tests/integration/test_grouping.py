"""Counts and sums per column of a board: every readable record, in one grouped statement."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access import manage
from meridian.access.actors import load_actor
from meridian.access.users import get_user_id
from meridian.core.actor import Actor
from meridian.errors import ValidationFailed
from meridian.http.deps import Workspace
from meridian.records import bulk, grouping
from meridian.schema.catalog import get_form
from tests.forms import STAGE, install_forms, lead_form

PASSWORD = "group-by-4-fun"


def _board(conn: Connection) -> None:
    install_forms(
        conn,
        lead_form(
            {"key": "name", "label": "客户名称", "type": "text"},
            STAGE,
            {"key": "amount", "label": "金额", "type": "money"},
            {"key": "seats", "label": "机柜数", "type": "integer"},
            {"key": "floor_price", "label": "底价", "type": "money"},
        ),
    )


def _fill(conn: Connection, actor: Actor, stage: str | None, count: int, amount: str) -> None:
    items = [
        {"name": f"{stage}-{i}", "stage": stage, "amount": amount, "seats": 2} for i in range(count)
    ]
    bulk.create_records(conn=conn, actor=actor, form=get_form(conn, "lead"), items=items)


def test_every_column_counts_and_sums_all_its_records(workspace: Workspace) -> None:
    system = Actor.system()
    with workspace.transaction() as conn:
        _board(conn)
        _fill(conn, system, "new", 322, "1000.50")
        _fill(conn, system, "won", 308, "20000.00")
        _fill(conn, system, None, 3, "1.00")
    statements: list[str] = []
    with workspace.read() as conn:
        sa.event.listen(conn, "before_cursor_execute", lambda *args: statements.append(args[2]))
        totals = grouping.group_totals(
            conn=conn, actor=system, form=get_form(conn, "lead"), by="stage", sum_of="amount"
        )
        grouped = [s for s in statements if "GROUP BY" in s.upper()]
    assert totals["new"] == grouping.GroupTotal(322, Decimal("322161.00"))
    assert totals["won"] == grouping.GroupTotal(308, Decimal("6160000.00"))
    assert totals[None] == grouping.GroupTotal(3, Decimal("3.00"))
    assert len(grouped) == 1, "all columns in one grouped statement"
    with workspace.read() as conn:
        counted = grouping.group_totals(
            conn=conn, actor=system, form=get_form(conn, "lead"), by="stage", sum_of="seats"
        )
        searched = grouping.group_totals(
            conn=conn, actor=system, form=get_form(conn, "lead"), by="stage", search="won-30"
        )
    assert counted["won"].sum == 616
    # won-30, won-300 … won-307: the search narrows every column alike; no sum was asked.
    assert searched == {"won": grouping.GroupTotal(9, None)}


def test_a_member_counts_only_what_they_read_and_cannot_sum_a_hidden_field(
    workspace: Workspace,
) -> None:
    system = Actor.system()
    with workspace.transaction() as conn:
        _board(conn)
        manage.add_user(
            conn,
            system,
            email="m@acme.test",
            name="Mei",
            password=PASSWORD,
            passwords=workspace.passwords,
            roles=["member"],
            must_change_password=False,
        )
        manage.set_form_permissions(
            conn,
            system,
            "member",
            get_form(conn, "lead"),
            {"create": True, "read": "own", "update": "own", "fields": {"floor_price": "hidden"}},
        )
        _fill(conn, system, "new", 5, "10.00")
    with workspace.read() as conn:
        member = load_actor(conn, get_user_id(conn, "m@acme.test"))
    with workspace.transaction() as conn:
        _fill(conn, member, "new", 2, "7.00")
    with workspace.read() as conn:
        form = get_form(conn, "lead")
        mine = grouping.group_totals(
            conn=conn, actor=member, form=form, by="stage", sum_of="amount"
        )
        assert mine == {"new": grouping.GroupTotal(2, Decimal("14.00"))}
        with pytest.raises(ValidationFailed) as refused:
            grouping.group_totals(
                conn=conn, actor=member, form=form, by="stage", sum_of="floor_price"
            )
        assert refused.value.errors[0].field == "sum"
        with pytest.raises(ValidationFailed) as refused:
            grouping.group_totals(conn=conn, actor=member, form=form, by="name")
        assert refused.value.errors[0].field == "by"
