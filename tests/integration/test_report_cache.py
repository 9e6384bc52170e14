"""A report's result is kept while nothing is written: the same viewer asking again within the
freshness window gets it without the aggregation running, and any write — through Meridian or
by any other connection to the database — or another viewer, or the window's end, computes
afresh.

On PostgreSQL the revision is the cluster's snapshot, which any transaction anywhere moves:
there the numbers are checked after every change, and that a repeat was served from the kept
result only on SQLite (a shared test server writes all the time).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from meridian.core.actor import Actor
from meridian.core.clock import SYSTEM_CLOCK
from meridian.http.kept_read import credential_read, keeping_reads, request_read
from meridian.records.bulk import create_records
from meridian.reports import cache, store
from meridian.reports.cache import FRESH_FOR
from meridian.reports.service import report_data
from meridian.schema.catalog import get_form
from meridian.schema.compile import compile_form
from tests.conftest import FakeClock
from tests.integration.test_reports import Crm, crm, kept_crm  # noqa: F401 (the fixtures)

BY_STAGE = {
    "label": "Deals by stage",
    "app_key": "sales",
    "roles": ["member", "manager"],
    "definition": {
        "form": "deal",
        "dimensions": [{"field": "stage"}],
        "measures": [{"key": "deals", "agg": "count"}],
    },
}


@pytest.fixture
def fake_clock(crm: Crm) -> FakeClock:  # noqa: F811
    """The kept CRM's clock, put back with it before each test."""
    clock = crm.workspace.clock
    assert isinstance(clock, FakeClock)
    return clock


@pytest.fixture
def report_id(crm: Crm) -> int:  # noqa: F811
    with crm.workspace.transaction() as conn:
        return int(
            store.save(
                conn=conn,
                actor=Actor.system(),
                kind="report",
                document=BY_STAGE,
                tz=crm.workspace.tz,
            )["id"]
        )


@pytest.fixture
def aggregations(crm: Crm) -> Iterator[list[str]]:  # noqa: F811
    """The aggregating statements run over the deals, as the database received them."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "data_deal" in statement and "GROUP BY" in statement:
            seen.append(statement)

    sa.event.listen(crm.workspace.engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(crm.workspace.engine, "before_cursor_execute", record)


def _counts(crm: Crm, actor: Actor, report_id: int) -> dict[Any, int]:  # noqa: F811
    with crm.workspace.read() as conn:
        data = report_data(conn=conn, actor=actor, report_id=report_id, tz=crm.workspace.tz)
    return {r["dimensions"]["stage"]: r["measures"]["deals"] for r in data["rows"]}


def _expected(crm: Crm, name: str) -> dict[Any, int]:  # noqa: F811
    counts: dict[Any, int] = {}
    for row in crm.rows_for(name):
        counts[row["stage"]] = counts.get(row["stage"], 0) + 1
    return counts


def _sqlite(crm: Crm) -> bool:  # noqa: F811
    return crm.workspace.engine.dialect.name == "sqlite"


def test_a_repeat_with_no_write_between_is_not_computed_again(
    crm: Crm,  # noqa: F811
    report_id: int,
    aggregations: list[str],
    fake_clock: FakeClock,
) -> None:
    moment = SYSTEM_CLOCK.now().replace(second=5)
    fake_clock.follow(lambda: moment)
    first = _counts(crm, Actor.system(), report_id)
    assert first == _expected(crm, "admin")
    assert len(aggregations) == 1
    again = _counts(crm, Actor.system(), report_id)
    assert again == first
    if _sqlite(crm):
        assert len(aggregations) == 1, "the kept result was not reused"
    # Within the freshness window it is still the kept result; past it, computed again (a
    # report may read "now").
    fake_clock.follow(lambda: moment + FRESH_FOR - timedelta(seconds=1))
    assert _counts(crm, Actor.system(), report_id) == first
    if _sqlite(crm):
        assert len(aggregations) == 1, "the kept result was not reused"
    fake_clock.follow(lambda: moment + FRESH_FOR)
    assert _counts(crm, Actor.system(), report_id) == first
    assert len(aggregations) >= 2


def test_each_viewer_gets_the_numbers_of_their_own_scope(
    crm: Crm,  # noqa: F811
    report_id: int,
) -> None:
    for _ in range(2):  # the second round may come from what the first kept
        for name in ("admin", "alice", "bob", "mike"):
            assert _counts(crm, crm.actor(name), report_id) == _expected(crm, name), name


def test_a_write_through_meridian_is_seen_at_once(
    crm: Crm,  # noqa: F811
    report_id: int,
) -> None:
    before = _counts(crm, Actor.system(), report_id)
    with crm.workspace.transaction() as conn:
        create_records(
            conn=conn,
            actor=Actor.system(),
            form=get_form(conn, "deal"),
            items=[{"name": "NEW-1", "stage": "won"}, {"name": "NEW-2", "stage": "won"}],
        )
    after = _counts(crm, Actor.system(), report_id)
    assert after == {**before, "won": before.get("won", 0) + 2}


def test_a_write_by_any_other_connection_is_seen_at_once(
    crm: Crm,  # noqa: F811
    report_id: int,
) -> None:
    """A change made outside this workspace's pool (another process, a database tool)."""
    before = _counts(crm, Actor.system(), report_id)
    with crm.workspace.read() as conn:
        table = compile_form(get_form(conn, "deal")).main
    other = sa.create_engine(crm.workspace.engine.url)
    try:
        with other.begin() as conn:
            moved = conn.execute(
                table.update()
                .where(table.c.stage == "lead", table.c.deleted_at.is_(None))
                .values(stage="lost")
            ).rowcount
    finally:
        other.dispose()
    assert moved
    after = _counts(crm, Actor.system(), report_id)
    assert after.get("lead") is None
    assert after["lost"] == before.get("lost", 0) + moved


def test_the_revision_is_read_without_a_connection_more(
    crm: Crm,  # noqa: F811
    report_id: int,
) -> None:
    """Kept or computed, a report's data takes no connection from the pool beyond the
    request's own (PostgreSQL read the revision on two extra connections per call)."""
    engine = crm.workspace.engine
    checkouts: list[object] = []

    def count(*_: Any) -> None:
        checkouts.append(object())

    with crm.workspace.read() as conn:
        sa.event.listen(engine, "checkout", count)
        try:
            for _ in range(2):  # computed, then (on SQLite) the kept result
                report_data(
                    conn=conn, actor=Actor.system(), report_id=report_id, tz=crm.workspace.tz
                )
        finally:
            sa.event.remove(engine, "checkout", count)
    assert checkouts == []


def test_the_sqlite_watcher_closes_with_its_engine(
    crm: Crm,  # noqa: F811
    report_id: int,
) -> None:
    if not _sqlite(crm):
        pytest.skip("PostgreSQL reads the revision on the request's connection")
    other = sa.create_engine(crm.workspace.engine.url)
    try:
        with other.connect() as conn, conn.begin():
            report_data(conn=conn, actor=Actor.system(), report_id=report_id, tz=crm.workspace.tz)
        watcher = cache.results.watchers[other]
        watcher_connection = watcher.sqlite
        assert watcher_connection is not None
    finally:
        other.dispose()
    assert watcher.sqlite is None
    with pytest.raises(sqlite3.ProgrammingError):  # closed, not merely forgotten
        watcher_connection.execute("SELECT 1")


def test_numbers_read_in_an_older_snapshot_are_not_kept_as_the_newer(
    crm: Crm,  # noqa: F811
    report_id: int,
) -> None:
    """An API request reads its data in the transaction its credential was checked in, whose
    SQLite snapshot that check fixed. A write committed between the check and the report must
    not file the check's older numbers under the newer revision: the next viewer would be
    shown them until some other write."""
    engine = crm.workspace.engine
    with crm.workspace.read() as conn:
        table = compile_form(get_form(conn, "deal")).main
    before = _counts(crm, Actor.system(), report_id)
    other = sa.create_engine(engine.url)
    try:
        with keeping_reads() as kept:
            with credential_read(engine) as conn:
                conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
            with other.begin() as conn:
                moved = conn.execute(
                    table.update()
                    .where(table.c.stage == "lead", table.c.deleted_at.is_(None))
                    .values(stage="lost")
                ).rowcount
            with request_read(engine) as conn:
                report_data(
                    conn=conn, actor=Actor.system(), report_id=report_id, tz=crm.workspace.tz
                )
            kept.release()
    finally:
        other.dispose()
    assert moved
    after = _counts(crm, Actor.system(), report_id)
    assert after.get("lead") is None
    assert after["lost"] == before.get("lost", 0) + moved
