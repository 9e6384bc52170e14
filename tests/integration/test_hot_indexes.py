"""The indexes that keep boards, searches and saved views off a full scan (issue 21): the
planner's own account of each statement, on both dialects, and the results they must keep."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access import manage
from meridian.access.actors import load_actor
from meridian.access.users import get_user_id
from meridian.core.actor import Actor
from meridian.core.pinyin import search_text
from meridian.db.statistics import analyze
from meridian.http.deps import Workspace
from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import Worker
from meridian.records import bulk, grouping, listing, merging, service, views
from meridian.schema import changes
from meridian.schema.catalog import get_form
from tests.forms import STAGE, install_forms, lead_form, select_field

SYSTEM = Actor.system()
NAMES = [
    "华为云计算",
    "ACME 数据中心",
    "阿里云",
    'say "hi" 100%',
    "under_score",
    "腾讯云",
    "华东机房",
]


def _install(conn: Connection) -> None:
    install_forms(
        conn,
        lead_form(
            {"key": "name", "label": "客户名称", "type": "text"},
            STAGE,
            select_field("region", "区域", ("east", "华东"), ("south", "华南")),
            {"key": "amount", "label": "金额", "type": "money"},
            {"key": "seats", "label": "机柜数", "type": "integer"},
        ),
    )


def _fill(conn: Connection) -> list[int]:
    items = [
        {
            "name": f"{name} {i}",
            "stage": ("new", "won")[i % 2],
            "region": ("east", "south")[i % 3 % 2],
            "amount": f"{100 + i}.00",
            "seats": i,
        }
        for i in range(30)
        for name in NAMES
    ]
    return bulk.create_records(conn=conn, actor=SYSTEM, form=get_form(conn, "lead"), items=items)


@contextmanager
def _statements(conn: Connection) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        seen.append((statement, parameters))

    sa.event.listen(conn, "before_cursor_execute", keep)
    try:
        yield seen
    finally:
        sa.event.remove(conn, "before_cursor_execute", keep)


def _plan(conn: Connection, statement: str, parameters: Any, *, bitmap: bool = False) -> str:
    """The planner's account of ``statement``; PostgreSQL is told to avoid a sequential scan
    and a bitmap scan (with ``bitmap``, a plain index scan instead) where it can, so a tiny
    table shows which index the statement, with its values, can use at all and in what order."""
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        return "\n".join(str(row[-1]) for row in rows)
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    conn.exec_driver_sql(f"SET LOCAL enable_{'index' if bitmap else 'bitmap'}scan = off")
    rows = conn.exec_driver_sql(f"EXPLAIN {statement}", parameters)
    return "\n".join(str(row[0]) for row in rows)


def _listed(conn: Connection, bitmap: bool = False, **query: Any) -> tuple[list[int], str]:
    """The ids a list call gives and the plan of its statement."""
    with _statements(conn) as seen:
        page = listing.list_records(
            conn=conn,
            actor=SYSTEM,
            form=get_form(conn, "lead"),
            query=listing.RecordQuery(limit=500, **query),
        )
    statement, parameters = next(s for s in seen if "ORDER BY" in s[0])
    plan = _plan(conn, statement, parameters, bitmap=bitmap)
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "RESET enable_seqscan; RESET enable_indexscan; RESET enable_bitmapscan"
        )
    return [int(item["id"]) for item in page.items], plan


def test_search_finds_what_the_search_text_holds_and_is_planned_for_its_term(
    workspace: Workspace,
) -> None:
    with workspace.transaction() as conn:
        _install(conn)
        ids = _fill(conn)
        lead = get_form(conn, "lead")
        service.update_record(
            conn=conn, actor=SYSTEM, form=lead, record_id=ids[0], values={"name": "百度智能云"}
        )
        service.delete_record(conn=conn, actor=SYSTEM, form=lead, record_id=ids[1])
    with workspace.transaction() as conn:
        analyze(conn, ["data_lead"])  # as the statistics job would; the table is tiny
        names = {
            int(row.id): row.name
            for row in conn.execute(
                sa.text("SELECT id, name FROM data_lead WHERE deleted_at IS NULL")
            )
        }
        for term in ("hwy", "华为云", "HuaWei", "bdzny", "acme", '"hi"', "0%", "r_s", "云", "华东"):
            found, _ = _listed(conn, bitmap=True, search=term, sort="-id")
            expected = sorted(
                (i for i, name in names.items() if term.strip().lower() in search_text(name)),
                reverse=True,
            )
            assert found == expected, term
            if conn.dialect.name == "postgresql":
                # Each call is planned for its own pattern (never a generic plan, which cannot
                # use the trigram index for a parameter): the connection forces custom plans.
                assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar() == (
                    "force_custom_plan"
                )
        assert 0 < len(_listed(conn, search="hwy", sort="-id")[0]) < 30  # the renamed one left


def _search_index(conn: Connection) -> dict[int, str | None]:
    return {
        int(row[0]): row[1]
        for row in conn.exec_driver_sql("SELECT rowid, _search FROM data_lead___search")
    }


def _search_texts(conn: Connection) -> dict[int, str | None]:
    return {
        int(row[0]): row[1]
        for row in conn.exec_driver_sql(
            "SELECT id, _search FROM data_lead WHERE _search IS NOT NULL"
        )
    }


def test_every_write_keeps_the_trigram_index_in_step_with_the_search_text(
    workspace: Workspace,
) -> None:
    """Create, bulk create, update, bulk update, merge, trash and restore: SQLite's trigram
    table holds exactly each record's search text, and a search finds what it holds."""
    with workspace.transaction() as conn:
        _install(conn)
        ids = _fill(conn)
        lead = get_form(conn, "lead")
        one = service.create_record(conn=conn, actor=SYSTEM, form=lead, values={"name": "金山云"})
        service.update_record(
            conn=conn, actor=SYSTEM, form=lead, record_id=ids[0], values={"name": "百度智能云"}
        )
        service.update_record(
            conn=conn, actor=SYSTEM, form=lead, record_id=ids[2], values={"seats": 99}
        )
        bulk.update_records(
            conn=conn, actor=SYSTEM, form=lead, record_ids=ids[3:6], values={"name": "京东云"}
        )
        bulk.update_records(
            conn=conn, actor=SYSTEM, form=lead, record_ids=ids[6:8], values={"name": None}
        )
        merging.merge_records(
            conn=conn,
            actor=SYSTEM,
            form=lead,
            record_id=ids[8],
            other_id=ids[9],
            fields={"name": "other"},
        )
        service.delete_record(conn=conn, actor=SYSTEM, form=lead, record_id=ids[10])
        bulk.delete_records(conn=conn, actor=SYSTEM, form=lead, record_ids=ids[11:13])
        service.restore_record(conn=conn, actor=SYSTEM, form=lead, record_id=ids[11])
    with workspace.transaction() as conn:
        if conn.dialect.name == "sqlite":
            texts = _search_texts(conn)
            assert {i: t for i, t in _search_index(conn).items() if t is not None} == texts
        names = {
            term: sorted(
                (
                    int(i)
                    for i in conn.scalars(
                        sa.text(
                            "SELECT id FROM data_lead WHERE deleted_at IS NULL AND _search LIKE :p"
                        ),
                        {"p": f"%{term}%"},
                    )
                ),
                reverse=True,
            )
            for term in (
                "jingdongyun",
                "bdzny",
                "jsy",
                "ali",
                "阿里云",
                "under_",
                "hwyjs",
                'say "hi',
                "e 数据",
                "yun jdy",
            )
        }
        for term, expected in names.items():
            assert _listed(conn, search=term, sort="-id")[0] == expected, term
        assert len(names["jingdongyun"]) == 3
        assert names["jsy"] == [one["id"]]
        assert ids[9] not in _listed(conn, search="华为云", sort="-id")[0]  # merged away


def test_a_search_is_served_by_the_trigram_index_on_every_call(workspace: Workspace) -> None:
    """SQLite matches the trigrams of a term of three characters or more in the trigram table
    (shorter terms scan the search text); PostgreSQL keeps planning for the pattern when the
    statement is prepared on the server and run more often than the plan cache's five custom
    plans — a generic plan cannot see the pattern and walked the primary key instead of the
    pg_trgm index (64 ms against 1.4 ms at 1M)."""
    with workspace.transaction() as conn:
        _install(conn)
        _fill(conn)
    with workspace.transaction() as conn:
        analyze(conn, ["data_lead"])
        with _statements(conn) as seen:
            for _ in range(7):
                listing.list_records(
                    conn=conn,
                    actor=SYSTEM,
                    form=get_form(conn, "lead"),
                    query=listing.RecordQuery(search="hwy", sort="-id"),
                )
        statement, parameters = next(s for s in seen if "ORDER BY" in s[0])
        if conn.dialect.name == "sqlite":
            plan = _plan(conn, statement, parameters)
            assert "SCAN data_lead___search VIRTUAL TABLE INDEX 0:M" in plan, plan
            _, short = _listed(conn, search="云", sort="-id")
            assert "___search" not in short, short
            return
        # The statement as the server would hold it, run past the plan cache's custom plans.
        numbered = statement
        for position, name in enumerate(parameters, start=1):
            numbered = numbered.replace(f"%({name})s", f"${position}")
        conn.exec_driver_sql(f"PREPARE hot_search AS {numbered}")
        arguments = ", ".join(  # doubled: psycopg reads % as a placeholder
            f"'{value.replace('%', '%%')}'" if isinstance(value, str) else str(value)
            for value in parameters.values()
        )
        for _ in range(7):
            conn.exec_driver_sql(f"EXECUTE hot_search({arguments})")
        plan = "\n".join(
            str(row[0]) for row in conn.exec_driver_sql(f"EXPLAIN EXECUTE hot_search({arguments})")
        )
        # Planned for its own pattern (a generic plan shows $1 there: with plan_cache_mode
        # "auto" this plan is generic), so the trigram index is weighed against the term.
        assert "'%hwy%'" in plan and "$1" not in plan, plan


def test_a_board_counts_and_orders_its_cards_from_one_index_over_live_rows(
    workspace: Workspace,
) -> None:
    with workspace.transaction() as conn:
        _install(conn)
        _fill(conn)
    with workspace.transaction() as conn:
        with _statements(conn) as seen:
            totals = grouping.group_totals(
                conn=conn, actor=SYSTEM, form=get_form(conn, "lead"), by="stage"
            )
        [(statement, parameters)] = [s for s in seen if "GROUP BY" in s[0]]
        plan = _plan(conn, statement, parameters)
        assert totals["new"].count == totals["won"].count == 105
        cards, card_plan = _listed(
            conn, filter={"field": "stage", "op": "eq", "value": "won"}, sort="-updated_at"
        )
        assert len(cards) == 105
    if conn.dialect.name == "sqlite":
        assert "USING COVERING INDEX ix_data_lead_stage" in plan, plan
        assert "ix_data_lead_stage" in card_plan and "TEMP B-TREE" not in card_plan, card_plan
    else:
        assert "ix_data_lead_stage" in plan, plan
        assert "ix_data_lead_stage" in card_plan and "Sort" not in card_plan, card_plan


def _builder(conn: Connection, workspace: Workspace) -> Actor:
    """A member who reads every lead and saves views (a view belongs to a user)."""
    manage.add_user(
        conn,
        SYSTEM,
        email="views@acme.test",
        name="Vera",
        password="grid-and-board-4-us",
        passwords=workspace.passwords,
        roles=["member"],
        must_change_password=False,
    )
    manage.set_form_permissions(conn, SYSTEM, "member", get_form(conn, "lead"), {"read": True})
    return load_actor(conn, get_user_id(conn, "views@acme.test"))


def _built(workspace: Workspace) -> None:
    """Run the queued jobs: on PostgreSQL a saved view's indexes are built by one."""
    Worker(workspace.engine, job_handlers(workspace), workspace.tz).run_once()


def _view_indexes(conn: Connection) -> dict[str, list[str]]:
    return {
        str(index["name"]): list(index["column_names"])
        for index in sa.inspect(conn).get_indexes("data_lead")
        if str(index["name"]).startswith("ax_")
    }


def test_a_saved_view_brings_the_index_of_what_it_filters_sorts_and_sums(
    workspace: Workspace,
) -> None:
    with workspace.transaction() as conn:
        _install(conn)
        _fill(conn)
        lead = get_form(conn, "lead")
        vera = _builder(conn, workspace)
        grid = views.save_view(
            conn,
            vera,
            lead,
            name="华东 by seats",
            shared=False,
            settings=json.dumps(
                {
                    "kind": "grid",
                    "filter": json.dumps({"field": "region", "op": "eq", "value": "east"}),
                    "sort": "-seats",
                }
            ),
        )
        views.save_view(
            conn,
            vera,
            lead,
            name="board",
            shared=False,
            settings=json.dumps({"kind": "kanban", "by": "stage", "sum": "amount"}),
        )
    _built(workspace)  # PostgreSQL builds them in a job, after the views are committed
    with workspace.read() as conn:
        assert sorted(_view_indexes(conn).values()) == [
            ["region", "seats", "id", "deleted_at"],
            ["stage", "updated_at", "id", "amount", "deleted_at"],
        ]
    with workspace.transaction() as conn:
        found, plan = _listed(
            conn, filter={"field": "region", "op": "eq", "value": "east"}, sort="-seats"
        )
        assert len(found) == 140
        assert "ax_data_lead_" in plan, plan
        assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan
        with _statements(conn) as seen:
            grouping.group_totals(
                conn=conn, actor=SYSTEM, form=get_form(conn, "lead"), by="stage", sum_of="amount"
            )
        [(statement, parameters)] = [s for s in seen if "GROUP BY" in s[0]]
        if conn.dialect.name == "sqlite":
            assert "COVERING INDEX ax_data_lead_" in _plan(conn, statement, parameters)
    with workspace.transaction() as conn:
        # A change of type drops the column's view index first and brings it back after.
        changes.update_field(
            conn=conn,
            actor=SYSTEM,
            form_key="lead",
            field_key="seats",
            changes={"type": "decimal", "scale": 1},
        )
    _built(workspace)
    with workspace.transaction() as conn:
        assert ["region", "seats", "id", "deleted_at"] in _view_indexes(conn).values()
        views.delete_view(conn, vera, "lead", grid["id"])
    _built(workspace)
    with workspace.read() as conn:
        assert list(_view_indexes(conn).values()) == [
            ["stage", "updated_at", "id", "amount", "deleted_at"]
        ]


def test_views_of_nothing_indexable_ask_for_no_index(workspace: Workspace) -> None:
    with workspace.transaction() as conn:
        _install(conn)
        lead = get_form(conn, "lead")
        vera = _builder(conn, workspace)
        for settings in (
            {"kind": "grid"},
            {
                "kind": "grid",
                "filter": json.dumps({"field": "name", "op": "contains", "value": "x"}),
            },
            {"kind": "kanban", "by": "stage"},  # the field's own board index serves it
            {"kind": "calendar"},
            {"kind": "grid", "sort": "nosuchfield", "filter": "not json"},
        ):
            views.save_view(conn, vera, lead, name="v", shared=False, settings=json.dumps(settings))
    _built(workspace)
    with workspace.read() as conn:
        assert _view_indexes(conn) == {}


def test_a_retype_converts_in_place_on_postgresql(workspace: Workspace) -> None:
    """integer → decimal and text → integer keep every value; PostgreSQL converts with one
    ALTER … USING (the table rewritten once), never an UPDATE of every row into a scratch
    column; the field's index is there again afterwards."""
    with workspace.transaction() as conn:
        _install(conn)
        ids = _fill(conn)
        changes.update_field(
            conn=conn, actor=SYSTEM, form_key="lead", field_key="seats", changes={"indexed": True}
        )
    with workspace.transaction() as conn:
        with _statements(conn) as seen:
            changes.update_field(
                conn=conn,
                actor=SYSTEM,
                form_key="lead",
                field_key="seats",
                changes={"type": "decimal", "scale": 2},
            )
        lead = get_form(conn, "lead")
        record = service.get_record(conn=conn, actor=SYSTEM, form=lead, record_id=ids[8])
        indexes = {str(i["name"]) for i in sa.inspect(conn).get_indexes("data_lead")}
    assert record["seats"] == "1.00"
    assert "ix_data_lead_seats" in indexes
    written = [s for s, _ in seen if s.lstrip().upper().startswith(("UPDATE", "ALTER"))]
    if conn.dialect.name == "postgresql":
        [alter] = [s for s in written if "data_lead" in s]
        assert "ALTER COLUMN" in alter and " TYPE " in alter and " USING " in alter, alter
