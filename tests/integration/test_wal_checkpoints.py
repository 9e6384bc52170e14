"""A bulk writer's SQLite log is copied into the database by a thread beside it
(``db/checkpoints``): what a commit wrote reaches the database file without the writer
checkpointing, the thread is gone when the block ends, and a crash-free run leaves every
committed row readable. On PostgreSQL nothing is started."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from meridian.db.checkpoints import checkpoints_beside
from meridian.db.engine import transaction

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


def test_the_log_reaches_the_database_file_beside_the_writer(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        with checkpoints_beside(engine) as checkpoints:
            checkpoints.nudge()
            assert not _running()
        return
    table = _scratch_table(engine)
    raw = engine.raw_connection()  # the log copied before we start counting
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        raw.close()
    before = _database_bytes(engine)

    # Without the thread the commit stays in the log: the writer copies only past 10,000 pages.
    _write(engine, table, 0)
    time.sleep(0.2)
    assert _database_bytes(engine) == before

    with checkpoints_beside(engine) as checkpoints:
        assert _running()
        _write(engine, table, _ROWS)
        checkpoints.nudge()
        deadline = time.monotonic() + 10
        while _database_bytes(engine) < before + _ROWS * len(_TEXT) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _database_bytes(engine) >= before + _ROWS * len(_TEXT)
    assert not _running()

    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(table)) == 2 * _ROWS
