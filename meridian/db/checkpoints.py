"""SQLite's write-ahead log copied into the database beside its writers, not by them.

In WAL mode a commit that finds the log past ``wal_autocheckpoint`` pages copies the log into
the database file and syncs it, in the committing thread, under its write lock: during an
import of a million rows that was about a tenth of the writer's time, spent copying pages
another core could copy and waiting for the disk. While :func:`checkpoints_beside` is open, a
thread of its own copies the log (``PRAGMA wal_checkpoint(PASSIVE)``: it takes no lock a
writer or reader waits for, and copies what no reader still needs) after each
:meth:`Checkpoints.nudge` and at least every :data:`INTERVAL` seconds. The driver releases
the GIL while SQLite works, so the copy and its sync run on the other core; the writer finds
the log copied when it next commits, starts it over and seldom copies anything itself.

A log is started over only by a writer that finds every frame of it copied, which under steady
writes (a server's creates every few milliseconds) never happens after a checkpoint of its
own: frames written while it copied were always left. The log then grew without end — 1.1 GB
after 8,000 creates, each slower as SQLite searched a larger log index. So after each copy the
thread asks for ``RESTART``, waiting at most :data:`RESTART_WAIT_MS` for the write lock and
for readers to leave the log: it copies the few frames written since the passive copy, under
the write lock for that moment only, and the next writer starts the log from its beginning;
when it cannot, it does what a passive checkpoint does and the next turn tries again.

A server's requests never checkpoint at all (:func:`checkpoints_instead_of_commits`): the
commit that found the log past its limit copied all of it — after a long read had held the
log back (a rule's scan of a million records), hundreds of megabytes — while its request
waited: one create in thousands took over a second behind the inactivity scan at 1M.

A checkpoint only moves pages the log already holds into the database file, so a crash at
any moment leaves the database as SQLite always does (committed transactions kept). Nothing
happens on PostgreSQL or an in-memory database.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

RESTART_WAIT_MS = 5
"""Milliseconds the thread's restart waits for a writer to commit and for readers to leave the
log — the longest a writer waits behind it, beside the copy of a few frames."""

INTERVAL = 0.5
"""Seconds the thread waits for a nudge before it checkpoints anyway."""


class Checkpoints:
    """The checkpointing thread's handle: :meth:`nudge` after a commit. Without an engine (not
    SQLite on a file) it has no thread and a nudge does nothing."""

    def __init__(self, engine: Engine | None = None, interval: float = INTERVAL) -> None:
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = (
            None
            if engine is None
            else threading.Thread(
                target=self._run,
                args=(engine, interval),
                name="meridian-wal-checkpoints",
                daemon=True,
            )
        )

    def nudge(self) -> None:
        """A commit added to the log: copy it soon."""
        self._wake.set()

    def start(self) -> None:
        if self._thread is not None:
            self._thread.start()

    def stop(self) -> None:
        """End the thread, once it has finished the checkpoint it is in."""
        if self._thread is not None:
            self._stop.set()
            self._wake.set()
            self._thread.join()

    def _run(self, engine: Engine, interval: float) -> None:
        raw = engine.raw_connection()
        refused = engine.dialect.loaded_dbapi.Error
        # The restart waits at most a few milliseconds for the write lock (a request's
        # transaction) and, holding it, for readers still in the log; then it gives up until
        # the next turn, so a long read never holds writers back behind it.
        # The connection goes back to the pool when the thread ends, so it leaves with the
        # writers' wait it came with: another writer taking it with the thread's few
        # milliseconds failed "database is locked" where it would have queued.
        cursor = raw.cursor()
        waits = int(cursor.execute("PRAGMA busy_timeout").fetchone()[0])
        cursor.execute(f"PRAGMA busy_timeout={RESTART_WAIT_MS}").close()
        try:
            while not self._stop.is_set():
                self._wake.wait(interval)
                self._wake.clear()
                cursor = raw.cursor()
                try:
                    for mode in ("PASSIVE", "RESTART"):
                        cursor.execute(f"PRAGMA wal_checkpoint({mode})")
                        cursor.fetchall()
                except refused:  # e.g. busy: the writer's own checkpoints still run
                    pass
                finally:
                    cursor.close()
        finally:
            raw.cursor().execute(f"PRAGMA busy_timeout={waits}").close()
            raw.close()


def _on_a_file(engine: Engine) -> bool:
    database = engine.url.database
    return engine.dialect.name == "sqlite" and bool(database) and database != ":memory:"


@contextlib.contextmanager
def checkpoints_beside(engine: Engine, interval: float = INTERVAL) -> Iterator[Checkpoints]:
    """A thread checkpointing ``engine``'s SQLite log while the block runs (a no-op handle
    elsewhere); the thread has ended when the block has."""
    checkpoints = Checkpoints(engine if _on_a_file(engine) else None, interval)
    checkpoints.start()
    try:
        yield checkpoints
    finally:
        checkpoints.stop()


SERVER_INTERVAL = 1.0
"""Seconds between a server's checkpoints: it copies what its requests and jobs wrote."""


def _leave_checkpoints_to_the_thread(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


@contextlib.contextmanager
def checkpoints_instead_of_commits(engine: Engine) -> Iterator[None]:
    """While the block runs (a server's life), no commit through ``engine`` checkpoints
    (``wal_autocheckpoint`` 0 on each of its connections) and a thread copies the log every
    :data:`SERVER_INTERVAL` seconds instead. The connections pooled before are closed, so
    every one in use has the setting; afterwards commits checkpoint again."""
    if not _on_a_file(engine):
        yield
        return
    event.listen(engine, "connect", _leave_checkpoints_to_the_thread)
    engine.dispose()
    try:
        with checkpoints_beside(engine, SERVER_INTERVAL):
            yield
    finally:
        event.remove(engine, "connect", _leave_checkpoints_to_the_thread)
        engine.dispose()
