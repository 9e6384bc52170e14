"""SQLite's write-ahead log copied into the database beside a bulk writer, not by it.

In WAL mode a commit that finds the log past ``wal_autocheckpoint`` pages copies the log into
the database file and syncs it, in the committing thread, under its write lock: during an
import of a million rows that was about a tenth of the writer's time, spent copying pages
another core could copy and waiting for the disk. While :func:`checkpoints_beside` is open, a
thread of its own copies the log (``PRAGMA wal_checkpoint(PASSIVE)``: it takes no lock a
writer or reader waits for, and copies what no reader still needs) after each
:meth:`Checkpoints.nudge` and at least every :data:`INTERVAL` seconds. The driver releases
the GIL while SQLite works, so the copy and its sync run on the other core; the writer finds
the log copied when it next commits, starts it over and seldom copies anything itself.

A checkpoint only moves pages the log already holds into the database file, so a crash at
any moment leaves the database as SQLite always does (committed transactions kept). Nothing
happens on PostgreSQL or an in-memory database.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from sqlalchemy.engine import Engine

INTERVAL = 0.5
"""Seconds the thread waits for a nudge before it checkpoints anyway."""


class Checkpoints:
    """The checkpointing thread's handle: :meth:`nudge` after a commit."""

    def __init__(self) -> None:
        self._wake = threading.Event()
        self._stop = threading.Event()

    def nudge(self) -> None:
        """A commit added to the log: copy it soon."""
        self._wake.set()

    def _run(self, engine: Engine) -> None:
        raw = engine.raw_connection()
        refused = engine.dialect.loaded_dbapi.Error
        try:
            while not self._stop.is_set():
                self._wake.wait(INTERVAL)
                self._wake.clear()
                cursor = raw.cursor()
                try:
                    cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    cursor.fetchall()
                except refused:  # e.g. busy: the writer's own checkpoints still run
                    pass
                finally:
                    cursor.close()
        finally:
            raw.close()


@contextlib.contextmanager
def checkpoints_beside(engine: Engine) -> Iterator[Checkpoints]:
    """A thread checkpointing ``engine``'s SQLite log while the block runs (a no-op handle
    elsewhere); the thread has ended when the block has."""
    checkpoints = Checkpoints()
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield checkpoints
        return
    thread = threading.Thread(
        target=checkpoints._run, args=(engine,), name="meridian-wal-checkpoints", daemon=True
    )
    thread.start()
    try:
        yield checkpoints
    finally:
        checkpoints._stop.set()
        checkpoints._wake.set()
        thread.join()
