"""A read run beside a request (``db.beside``): on PostgreSQL on another connection, at the same
time, in the very snapshot of the request's read; elsewhere on the request's own connection
when asked. Either way its answer is what the request's own read would have seen."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from meridian.db.beside import can_run_beside, read_beside
from meridian.db.engine import make_engine, read_transaction, transaction

_things = sa.Table(
    "beside_things",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
)


@pytest.fixture
def things(engine: Engine) -> Engine:
    _things.create(engine)
    with transaction(engine) as conn:
        conn.execute(_things.insert(), [{"id": i} for i in range(1, 4)])
    return engine


def _count(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(_things)).scalar_one())


def _backend(conn: Connection) -> object:
    if conn.dialect.name == "postgresql":
        return conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    return id(conn.connection.dbapi_connection)


def test_the_read_beside_sees_the_requests_snapshot_not_a_later_commit(things: Engine) -> None:
    with read_transaction(things) as conn:
        assert _count(conn) == 3  # the snapshot is fixed here
        with transaction(things) as writer:  # committed after the snapshot was taken
            writer.execute(_things.insert(), [{"id": 4}])
        with read_beside(conn, _count) as counted:
            assert counted.result() == 3
    with read_transaction(things) as later:
        assert _count(later) == 4


def test_on_postgresql_it_runs_on_another_connection_at_the_same_time(things: Engine) -> None:
    with read_transaction(things) as conn:
        _count(conn)
        mine = _backend(conn)
        started = threading.Event()

        def slow(side: Connection) -> object:
            started.set()
            if side.dialect.name == "postgresql":
                side.exec_driver_sql("SELECT pg_sleep(0.4)")
            return _backend(side)

        began = time.monotonic()
        with read_beside(conn, slow) as beside:
            if can_run_beside(conn):
                assert started.wait(5)  # begun before anyone asked for it
                conn.exec_driver_sql("SELECT pg_sleep(0.4)")
                theirs = beside.result()
                assert theirs != mine
                assert time.monotonic() - began < 0.75  # the two sleeps overlapped
            else:  # SQLite: read on the request's own connection, when asked
                assert not started.is_set()
                assert beside.result() == mine


def test_its_error_reaches_whoever_asks_and_a_failing_block_waits_for_it(
    things: Engine,
) -> None:
    def broken(side: Connection) -> int:
        side.exec_driver_sql("SELECT * FROM no_such_table")
        return 0

    with read_transaction(things) as conn:
        _count(conn)
        with read_beside(conn, broken) as beside:
            with pytest.raises(sa.exc.DBAPIError):
                beside.result()
    started, finished = threading.Event(), threading.Event()

    def slow_count(side: Connection) -> int:
        started.set()
        if side.dialect.name == "postgresql":
            side.exec_driver_sql("SELECT pg_sleep(0.3)")
        finished.set()
        return _count(side)

    with pytest.raises(RuntimeError), read_transaction(things) as conn:
        _count(conn)
        with read_beside(conn, slow_count):
            if can_run_beside(conn):
                assert started.wait(5)
            raise RuntimeError("the request failed")
    # The block did not end (nor its transaction, whose snapshot was lent) before the read had.
    if things.dialect.name == "postgresql":
        assert finished.is_set()
    else:
        assert not finished.is_set()  # never asked for: never read


def test_with_no_connection_to_spare_it_runs_on_the_requests_own(database_url: str) -> None:
    """A request waiting for a read beside it must not leave that read waiting for a pooled
    connection: with none to spare, the read runs on the request's connection."""
    crowded = make_engine(database_url, pool_size=1, max_overflow=0, pool_timeout=5)
    try:
        _things.create(crowded)
        with read_transaction(crowded) as conn:
            _count(conn)
            assert not can_run_beside(conn)
            with read_beside(conn, _backend) as beside:
                assert beside.result() == _backend(conn)
    finally:
        crowded.dispose()


@pytest.mark.parametrize("snapshot", ["x", "00000003-0000001B-1'; DROP TABLE beside_things; --"])
def test_a_snapshot_that_is_not_one_is_refused_before_anything_is_sent(
    things: Engine, snapshot: str
) -> None:
    """The snapshot is written into the begin's text: anything but an id PostgreSQL's
    ``pg_export_snapshot()`` gives is refused there, and nothing runs."""
    if things.dialect.name != "postgresql":
        pytest.skip("a snapshot is handed over on PostgreSQL only")
    with pytest.raises(ValueError, match="not a PostgreSQL snapshot"):
        with read_transaction(things, snapshot=snapshot) as conn:
            _count(conn)
    with read_transaction(things) as conn:
        assert _count(conn) == 3
