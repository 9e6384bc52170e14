"""SQLite's log is copied into the database by a thread beside its writers
(``db/checkpoints``): what a bulk writer's commit wrote reaches the database file without the
writer checkpointing, a server's requests never checkpoint at all, the thread is gone when
its block (or the server) ends, and every committed row stays readable. On PostgreSQL nothing
is started."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from meridian.app import create_app
from meridian.db.checkpoints import SERVER_INTERVAL, checkpoints_beside
from meridian.db.engine import WAL_CHECKPOINT_PAGES, transaction
from meridian.settings import Settings

_THREAD = "meridian-wal-checkpoints"
_ROWS = 2000
_TEXT = "x" * 500  # ~1 MB over the rows: far below the writer's own checkpoint (10,000 pages)


def _database_bytes(engine: Engine) -> int:
    return os.path.getsize(Path(str(engine.url.database)))


def _write(engine: Engine, table: sa.Table, start: int) -> None:
    with transaction(engine) as conn:
        conn.execute(table.insert(), [{"id": start + i, "text": _TEXT} for i in range(_ROWS)])


def _scratch_table(engine: Engine) -> sa.Table:
    table = sa.Table(
        "scratch_checkpointed",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("text", sa.Text),
    )
    table.create(engine)
    return table


def _running() -> bool:
    return any(thread.name == _THREAD for thread in threading.enumerate())


def _copied_within(engine: Engine, size: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while _database_bytes(engine) < size and time.monotonic() < deadline:
        time.sleep(0.05)
    return _database_bytes(engine) >= size


def _checkpoint_now(engine: Engine) -> None:
    raw = engine.raw_connection()
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        raw.close()


def _autocheckpoint(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


def test_the_log_reaches_the_database_file_beside_the_writer(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        with checkpoints_beside(engine) as checkpoints:
            checkpoints.nudge()
            assert not _running()
        return
    table = _scratch_table(engine)
    _checkpoint_now(engine)  # the log copied before we start counting
    before = _database_bytes(engine)

    # Without the thread the commit stays in the log: the writer copies only past 10,000 pages.
    _write(engine, table, 0)
    time.sleep(0.2)
    assert _database_bytes(engine) == before

    with checkpoints_beside(engine) as checkpoints:
        assert _running()
        _write(engine, table, _ROWS)
        checkpoints.nudge()
        assert _copied_within(engine, before + _ROWS * len(_TEXT))
    assert not _running()

    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(table)) == 2 * _ROWS


def _busy_timeouts(engine: Engine) -> list[int]:
    """The busy timeout of every connection the pool holds (all taken out at once)."""
    raws = [engine.raw_connection() for _ in range(engine.pool.checkedin())]  # type: ignore[attr-defined]
    try:
        return [int(raw.cursor().execute("PRAGMA busy_timeout").fetchone()[0]) for raw in raws]
    finally:
        for raw in raws:
            raw.close()


def test_the_threads_connection_goes_back_to_the_pool_waiting_as_writers_do(
    engine: Engine,
) -> None:
    """The thread gives up on a busy database after a few milliseconds; its connection, back in
    the pool when the block ends, waits as every other does again — a writer taking it after
    an import failed "database is locked" behind the next checkpoint instead of queueing."""
    if engine.dialect.name != "sqlite":
        return
    waits = _busy_timeouts(engine)
    assert waits and set(waits) == {10_000}
    with checkpoints_beside(engine) as checkpoints:
        checkpoints.nudge()
    after = _busy_timeouts(engine)  # the thread took a pooled connection and gave it back
    assert len(after) == len(waits)
    assert set(after) == {10_000}


def test_a_servers_requests_leave_checkpoints_to_its_thread(settings: Settings) -> None:
    """A commit past the log's limit copied the whole log while its request waited (a create
    took over a second behind a scan of a million records): a server's connections never
    checkpoint, its thread does, and a connection made after the server stops does again."""
    app = create_app(settings)
    engine = app.state.workspace.engine
    if engine.dialect.name != "sqlite":
        with TestClient(app) as client:
            assert client.get("/healthz").status_code == 200
            assert not _running()
        return
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert _running()
        assert _autocheckpoint(engine) == 0
        table = _scratch_table(engine)
        _checkpoint_now(engine)
        before = _database_bytes(engine)
        _write(engine, table, 0)
        assert _copied_within(engine, before + _ROWS * len(_TEXT))
    assert not _running()
    assert _autocheckpoint(engine) == WAL_CHECKPOINT_PAGES


def _log_restarts(engine: Engine) -> int:
    """The log header's checkpoint sequence: SQLite adds one each time the log starts over."""
    with open(f"{engine.url.database}-wal", "rb") as log:
        return int.from_bytes(log.read(16)[12:16], "big")


def test_a_servers_log_starts_over_while_writes_never_pause(settings: Settings) -> None:
    """A log is started over only by a writer finding all of it copied; with commits every
    millisecond or two, frames written during each copy were always left, and a server's log
    grew without end (1.1 GB after 8,000 creates, each create slower than the last). The
    thread restarts it between two commits."""
    app = create_app(settings)
    engine = app.state.workspace.engine
    with TestClient(app) as client:  # the app's lifespan closes what it opened, on either
        assert client.get("/healthz").status_code == 200
        if engine.dialect.name != "sqlite":
            return
        table = _scratch_table(engine)
        _checkpoint_now(engine)
        with transaction(engine) as conn:
            conn.execute(table.insert(), {"id": 0, "text": _TEXT})
        first = _log_restarts(engine)
        deadline = time.monotonic() + 3 * SERVER_INTERVAL
        row = 1
        while time.monotonic() < deadline:
            with transaction(engine) as conn:  # ~200 KB a commit, like a create's pages
                conn.execute(table.insert(), [{"id": row + i, "text": _TEXT} for i in range(300)])
            row += 300
            time.sleep(0.001)
        assert _log_restarts(engine) > first
