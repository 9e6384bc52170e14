"""Several first pages in one statement (``listing.list_first_pages``, a kanban's columns):
each page holds exactly the records, in exactly the order, that its own ``list_records`` call
gives — an option's column, the blank column, a search, a short limit, and for a user whose
role reads only some records — on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from meridian.access.actors import load_actor
from meridian.access.permissions import set_form_rules
from meridian.core.actor import Actor
from meridian.http.deps import Workspace
from meridian.records import bulk, listing
from meridian.schema.catalog import get_form
from meridian.schema.compile import compile_form
from tests.conftest import FakeClock, a_member
from tests.forms import install_forms, select_field

STAGES = select_field("stage", "阶段", ("lead", "线索"), ("won", "赢单"), ("lost", "输单"))


def _deals(workspace: Workspace, fake_clock: FakeClock) -> None:
    system = Actor.system()
    with workspace.transaction() as conn:
        install_forms(
            conn,
            {
                "key": "deal",
                "label": "商机",
                "title_field": "name",
                "fields": [{"key": "name", "label": "名称", "type": "text"}, STAGES],
            },
        )
    stages = ["lead", "won", "lost", None, "lead", "won", "lead"]
    start = datetime(2026, 3, 1, 9, tzinfo=UTC)
    for batch in range(6):  # six moments, so updated_at orders them, with ties inside each
        moment = start + timedelta(minutes=batch)
        fake_clock.follow(lambda moment=moment: moment)  # type: ignore[misc]
        with workspace.transaction() as conn:
            bulk.create_records(
                conn=conn,
                actor=system,
                form=get_form(conn, "deal"),
                items=[
                    {"name": f"{'华为云' if i % 3 else '阿里'} deal {batch}-{i}", "stage": stage}
                    for i, stage in enumerate(stages)
                ],
            )


def _queries(search: str | None, limit: int) -> list[listing.RecordQuery]:
    columns: list[dict[str, object]] = [
        {"field": "stage", "op": "eq", "value": value} for value in ("lead", "won", "lost")
    ]
    columns.append({"field": "stage", "op": "is_blank", "value": True})
    return [
        listing.RecordQuery(filter=c, search=search, sort="-updated_at", limit=limit)
        for c in columns
    ]


def _compare(workspace: Workspace, actor: Actor, queries: list[listing.RecordQuery]) -> int:
    with workspace.read() as conn:
        form = get_form(conn, "deal")
        together = listing.list_first_pages(
            conn=conn, actor=actor, form=form, queries=queries, tz=workspace.tz
        )
        alone = [
            listing.list_records(conn=conn, actor=actor, form=form, query=q, tz=workspace.tz).items
            for q in queries
        ]
    assert together == alone
    return sum(len(page) for page in together)


def test_first_pages_read_together_are_each_pages_own(
    workspace: Workspace, admin: Actor, fake_clock: FakeClock
) -> None:
    _deals(workspace, fake_clock)
    assert _compare(workspace, admin, _queries(None, 50)) == 42
    assert _compare(workspace, admin, _queries(None, 5)) == 5 + 5 + 5 + 5  # each its limit
    assert 0 < _compare(workspace, admin, _queries("hwy", 50)) < 42  # pinyin of 华为云
    assert _compare(workspace, admin, _queries(None, 50)[2:3]) == 6  # one page alone


def test_first_pages_read_together_keep_what_the_user_may_read(
    workspace: Workspace, admin: Actor, fake_clock: FakeClock
) -> None:
    _deals(workspace, fake_clock)
    user, _ = a_member(workspace)
    with workspace.transaction() as conn:  # the member reads its own, owns one moment's deals
        set_form_rules(conn, "member", get_form(conn, "deal"), {"read": "own"})
        table = compile_form(get_form(conn, "deal")).main
        conn.execute(
            table.update().where(table.c.name.like("% deal 2-%")).values(owner_id=user["id"])
        )
        member = load_actor(conn, user["id"])
    seen = _compare(workspace, member, _queries(None, 50))
    with workspace.read() as conn:
        total = conn.scalar(sa.select(sa.func.count()).select_from(table))
    assert seen == 7 < total, (seen, total)


def test_more_pages_than_one_statement_may_join_are_read_all(
    workspace: Workspace, admin: Actor
) -> None:
    """A select of 501 options (SQLite joins at most 500 parts in one statement)."""
    options = [(f"o{n}", f"选项 {n}") for n in range(501)]
    with workspace.transaction() as conn:
        install_forms(
            conn,
            {
                "key": "ticket",
                "label": "工单",
                "title_field": "name",
                "fields": [
                    {"key": "name", "label": "名称", "type": "text"},
                    select_field("queue", "队列", *options),
                ],
            },
        )
        bulk.create_records(
            conn=conn,
            actor=admin,
            form=get_form(conn, "ticket"),
            items=[{"name": f"工单 {n}", "queue": f"o{n * 7 % 501}"} for n in range(600)],
        )
    queries = [
        listing.RecordQuery(filter={"field": "queue", "op": "eq", "value": v}, sort="name")
        for v, _ in options
    ]
    with workspace.read() as conn:
        form = get_form(conn, "ticket")
        pages = listing.list_first_pages(
            conn=conn, actor=admin, form=form, queries=queries, tz=workspace.tz
        )
        for number in (0, 99, 100, 101, 499, 500):
            alone = listing.list_records(
                conn=conn, actor=admin, form=form, query=queries[number], tz=workspace.tz
            )
            assert pages[number] == alone.items, number
    assert len(pages) == 501 and sum(len(page) for page in pages) == 600
    assert all(item["queue"] == f"o{n}" for n, page in enumerate(pages) for item in page)


def test_first_pages_of_named_fields_hold_those_alone(workspace: Workspace, admin: Actor) -> None:
    """A board's cards ask for a few fields: each record holds its id, its version and those
    (the same values as read whole), and the line items of a field not asked for are not read."""
    line = {"key": "sku", "label": "货号", "type": "text"}
    with workspace.transaction() as conn:
        install_forms(
            conn,
            {
                "key": "order",
                "label": "订单",
                "title_field": "name",
                "fields": [
                    {"key": "name", "label": "名称", "type": "text"},
                    STAGES,
                    {"key": "note", "label": "备注", "type": "text"},
                    {"key": "items", "label": "明细", "type": "child_table", "fields": [line]},
                ],
            },
        )
        bulk.create_records(
            conn=conn,
            actor=Actor.system(),
            form=get_form(conn, "order"),
            items=[
                {"name": f"订单 {i}", "stage": stage, "note": "急", "items": [{"sku": f"A{i}"}]}
                for i, stage in enumerate(["lead", "won", "lost", None, "lead", "won"])
            ],
        )
    sent: list[str] = []
    with workspace.read() as conn:
        form = get_form(conn, "order")
        whole = listing.list_first_pages(
            conn=conn, actor=admin, form=form, queries=_queries(None, 50)
        )
        sa.event.listen(conn, "before_cursor_execute", lambda *a: sent.append(a[2]))
        narrow = listing.list_first_pages(
            conn=conn, actor=admin, form=form, queries=_queries(None, 50), fields=["name"]
        )
    assert [len(page) for page in whole] == [2, 2, 1, 1]
    assert whole[0][0]["items"] and whole[0][0]["note"] == "急"
    assert narrow == [
        [{key: record[key] for key in ("id", "_version", "name")} for record in page]
        for page in whole
    ]
    assert sent and not any(compile_form(form).lines["items"].name in s for s in sent), sent
