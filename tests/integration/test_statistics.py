"""Planner statistics come from Meridian itself: after a load, after a schema change, and from
the periodic job — never from someone running ANALYZE by hand."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from meridian.core.actor import Actor
from meridian.db import statistics
from meridian.db.engine import read_transaction
from meridian.db.tables import schedules
from meridian.http.deps import Workspace
from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import Worker
from meridian.records.bulk import create_records
from meridian.records.listing import RecordQuery, list_records
from meridian.schema.catalog import get_form
from meridian.schema.changes import update_field
from meridian.solutions import idc_crm
from meridian.solutions.loader import install_solution, load_sample_data

FIRST_PAGE = RecordQuery(
    filter={
        "and": [
            {"field": "stage", "op": "in", "value": ["proposal", "negotiation"]},
            {"field": "expected_amount", "op": "gte", "value": "500000"},
        ]
    },
    sort="-expected_amount",
    limit=50,
)


def _load_demo(engine: Engine, scale: int = 100) -> None:
    """What ``meridian demo`` does, for customers and opportunities only."""
    actor = Actor.system()
    app, forms = idc_crm.load_package()
    install_solution(engine, actor, app, forms)
    batches = itertools.takewhile(
        lambda b: b.form_key in {"customer", "contact", "opportunity"},
        idc_crm.generate(seed=1, scale=scale),
    )
    load_sample_data(engine, actor, [b for b in batches if b.form_key != "contact"], owners=[])


def _analysed(conn: Connection, table: str) -> bool:
    if conn.dialect.name == "sqlite":
        if not conn.scalar(sa.text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")):
            return False
        return bool(
            conn.scalar(sa.text("SELECT count(*) FROM sqlite_stat1 WHERE tbl = :t"), {"t": table})
        )
    analysed_at = conn.scalar(
        sa.text(
            "SELECT last_analyze FROM pg_stat_user_tables "
            "WHERE schemaname = current_schema() AND relname = :t"
        ),
        {"t": table},
    )
    columns = conn.scalar(
        sa.text(
            "SELECT count(*) FROM pg_stats WHERE schemaname = current_schema() AND tablename = :t"
        ),
        {"t": table},
    )
    return analysed_at is not None and bool(columns)


def _first_page_plan(engine: Engine) -> tuple[list[str], int]:
    """The plan of the page statement the records service runs, and how many rows match."""
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, parameters: Any, _x: Any, _m: bool) -> None:
        if "LIMIT" in statement and "data_opportunity" in statement:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        with engine.connect() as conn:
            form = get_form(conn, "opportunity")
            list_records(conn=conn, actor=Actor.system(), form=form, query=FIRST_PAGE)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    statement, parameters = seen[-1]
    with engine.connect() as conn:
        matching = conn.scalar(
            sa.text(
                "SELECT count(*) FROM data_opportunity WHERE deleted_at IS NULL "
                "AND stage IN ('proposal', 'negotiation') AND expected_amount >= 50000000"
            )
        )
        if conn.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            return [str(row[-1]) for row in rows], int(matching or 0)
        plan = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters).scalar()
    found = json.loads(plan) if isinstance(plan, str) else plan
    return [json.dumps(found)], int(matching or 0)


def _scan_estimate(plan: str) -> int:
    """PostgreSQL's estimate of the rows its scan of data_opportunity returns."""
    node: dict[str, Any] = json.loads(plan)[0]["Plan"]
    while node.get("Relation Name") != "data_opportunity":
        node = node["Plans"][0]
    return int(node["Plan Rows"])


def test_a_demo_load_leaves_statistics_behind(workspace: Workspace) -> None:
    engine = workspace.engine
    _load_demo(engine)
    with engine.connect() as conn:
        for table in ("data_customer", "data_opportunity", "sys_record_history"):
            assert _analysed(conn, table), table


def test_the_first_page_is_planned_for_the_table_as_loaded(workspace: Workspace) -> None:
    """No ANALYZE by hand: SQLite walks the amount index in order instead of taking the stage
    index for selective and sorting; PostgreSQL expects as many rows as there are."""
    engine = workspace.engine
    _load_demo(engine)
    plan, matching = _first_page_plan(engine)
    if engine.dialect.name == "sqlite":
        assert any("USING INDEX ix_data_opportunity_expected_amount" in step for step in plan)
        assert not any("TEMP B-TREE FOR ORDER BY" in step for step in plan), plan
    else:
        assert matching / 2 <= _scan_estimate(plan[0]) <= matching * 2, (matching, plan)


def test_a_schema_change_gathers_statistics_again(workspace: Workspace) -> None:
    """Changing a field rebuilds its indexes, and SQLite drops a dropped index's statistics
    with it: without them it took the stage index for selective again."""
    engine = workspace.engine
    _load_demo(engine)
    with engine.connect() as conn:
        before = _last_analysed(conn, "data_opportunity")
    with engine.begin() as conn:
        update_field(
            conn=conn,
            actor=Actor.system(),
            form_key="opportunity",
            field_key="stage",
            changes={"label": "阶段"},
        )
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            assert conn.scalar(
                sa.text("SELECT stat FROM sqlite_stat1 WHERE idx = 'ix_data_opportunity_stage'")
            )
        else:
            assert _last_analysed(conn, "data_opportunity") > before


def _last_analysed(conn: Connection, table: str) -> Any:
    if conn.dialect.name == "sqlite":
        return None
    return conn.scalar(
        sa.text(
            "SELECT last_analyze FROM pg_stat_user_tables "
            "WHERE schemaname = current_schema() AND relname = :t"
        ),
        {"t": table},
    )


def test_the_periodic_job_refreshes_tables_that_grew(workspace: Workspace) -> None:
    """Records created through the API (no loader) are caught by the scheduled job."""
    engine = workspace.engine
    _load_demo(engine, scale=20)
    with engine.connect() as conn:
        assert conn.scalar(
            sa.select(schedules.c.cron).where(schedules.c.key == statistics.REFRESH)
        ) == (statistics.REFRESH_CRON)
        form = get_form(conn, "opportunity")
        customer = conn.scalar(sa.text("SELECT min(id) FROM data_customer"))
    rows = [
        {"name": f"扩容 {n}", "customer": customer, "stage": "lead", "expected_amount": "1000"}
        for n in range(2 * statistics.MIN_CHANGE)
    ]
    with engine.begin() as conn:
        create_records(conn=conn, actor=Actor.system(), form=form, items=rows)
    assert _eventually(engine, lambda stale: "data_opportunity" in stale)
    with engine.begin() as conn:
        conn.execute(schedules.update().values(next_run_at=sa.func.now()))
    Worker(engine, job_handlers(workspace), workspace.tz).run_once()
    assert _eventually(engine, lambda stale: "data_opportunity" not in stale)
    with engine.connect() as conn:
        assert _analysed(conn, "data_opportunity")


def _eventually(engine: Engine, check: Callable[[list[str]], bool]) -> bool:
    """PostgreSQL's backends publish their table counters within a second or so of a commit."""
    deadline = time.monotonic() + 10
    while True:
        with engine.connect() as conn:
            if check(statistics.stale_tables(conn)):
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


def test_postgresql_plans_every_statement_for_its_values(workspace: Workspace) -> None:
    """psycopg prepares repeated statements; a generic plan would ignore the values."""
    engine = workspace.engine
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar() == "force_custom_plan"


def _vacuumed(engine: Engine, table: str, since: Any = None) -> bool:
    """Whether ``table`` was vacuumed (after ``since``): PostgreSQL publishes it within a second
    or so. Whether the pages then count as all-visible hangs on every other session's oldest
    snapshot (the tests of another worker in the same database), so that is not asked here."""
    deadline = time.monotonic() + 10
    while True:
        with engine.connect() as conn:
            at = conn.scalar(
                sa.text(
                    "SELECT last_vacuum FROM pg_stat_user_tables "
                    "WHERE schemaname = current_schema() AND relname = :t"
                ),
                {"t": table},
            )
        if at is not None and (since is None or at > since):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


def test_a_bulk_load_leaves_postgresql_able_to_answer_from_indexes_alone(
    workspace: Workspace,
) -> None:
    """Only VACUUM marks pages all-visible, which index-only scans need; a table just loaded
    had none, so the kanban's counts read the whole table instead of the stage index
    (autovacuum is off on some servers): a load ends by vacuuming what it wrote."""
    engine = workspace.engine
    if engine.dialect.name != "postgresql":
        return
    _load_demo(engine)
    for table in ("data_customer", "data_opportunity", "sys_record_history"):
        assert _vacuumed(engine, table), table
    with engine.connect() as conn:
        assert not set(statistics.unvacuumed_tables(conn)) & {"data_customer", "data_opportunity"}


def test_the_periodic_job_vacuums_postgresql_tables_written_since(workspace: Workspace) -> None:
    engine = workspace.engine
    if engine.dialect.name != "postgresql":
        with engine.connect() as conn:
            assert statistics.unvacuumed_tables(conn) == []
        return
    _load_demo(engine, scale=20)
    with engine.connect() as conn:
        form = get_form(conn, "opportunity")
        customer = conn.scalar(sa.text("SELECT min(id) FROM data_customer"))
    assert _vacuumed(engine, "data_opportunity")
    with engine.connect() as conn:
        loaded_at = conn.scalar(
            sa.text(
                "SELECT last_vacuum FROM pg_stat_user_tables "
                "WHERE schemaname = current_schema() AND relname = 'data_opportunity'"
            )
        )
    rows = [
        {"name": f"扩容 {n}", "customer": customer, "stage": "lead", "expected_amount": "1000"}
        for n in range(2 * statistics.MIN_CHANGE)
    ]
    with engine.begin() as conn:
        create_records(conn=conn, actor=Actor.system(), form=form, items=rows)
    deadline = time.monotonic() + 10
    while True:  # the backends publish their counters within a second or so
        with engine.connect() as conn:
            if "data_opportunity" in statistics.unvacuumed_tables(conn):
                break
        assert time.monotonic() < deadline, "the insertions were never counted"
        time.sleep(0.2)
    assert "data_opportunity" in statistics.refresh_stale(engine)
    assert _vacuumed(engine, "data_opportunity", since=loaded_at)
    with engine.connect() as conn:
        assert _analysed(conn, "data_opportunity")


def test_a_vacuum_that_could_not_mark_pages_all_visible_is_tried_again(
    workspace: Workspace,
) -> None:
    """A VACUUM while another session holds an older snapshot marks none of the newer rows'
    pages all-visible, yet resets the table's count of insertions: the next refresh must
    still find the table (its pages mostly not all-visible) and vacuum it again."""
    engine = workspace.engine
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE vacuum_probe (id bigint PRIMARY KEY, note text)")
    with read_transaction(engine) as held:
        held.exec_driver_sql("SELECT count(*) FROM vacuum_probe").scalar()  # the old snapshot
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO vacuum_probe"
                " SELECT n, repeat('x', 60) FROM generate_series(1, 40000) AS n"
            )
        statistics.vacuum(engine, ["vacuum_probe"])
    with engine.connect() as conn:
        pages, visible = conn.execute(
            sa.text(
                "SELECT relpages, relallvisible FROM pg_class WHERE oid = 'vacuum_probe'::regclass"
            )
        ).one()
    assert pages >= statistics.VISIBLE_PAGES and visible < statistics.VISIBLE_SHARE * pages
    deadline = time.monotonic() + 10
    while True:  # the insertions' count reset by the VACUUM is published within a second
        with engine.connect() as conn:
            counted = conn.scalar(
                sa.text(
                    "SELECT n_ins_since_vacuum FROM pg_stat_user_tables "
                    "WHERE schemaname = current_schema() AND relname = 'vacuum_probe'"
                )
            )
        if counted == 0:
            break
        assert time.monotonic() < deadline, counted
        time.sleep(0.2)
    with engine.connect() as conn:
        assert "vacuum_probe" in statistics.unvacuumed_tables(conn)
    before = _vacuumed_at(engine, "vacuum_probe")
    assert "vacuum_probe" in statistics.refresh_stale(engine)
    assert _vacuumed(engine, "vacuum_probe", since=before)


def _vacuumed_at(engine: Engine, table: str) -> Any:
    with engine.connect() as conn:
        return conn.scalar(
            sa.text(
                "SELECT last_vacuum FROM pg_stat_user_tables "
                "WHERE schemaname = current_schema() AND relname = :table"
            ),
            {"table": table},
        )
