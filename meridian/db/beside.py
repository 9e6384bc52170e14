"""A read of one request run beside it, on a second connection, in the very same snapshot.

A kanban's column counts are a scan of every live record's grouping value (18 ms at 100k
opportunities on PostgreSQL), which the board waited for before reading a single card, and then
spent as long again rendering them (issue 21). The database and the page's Python need not take
turns: on PostgreSQL the request's read transaction exports its snapshot
(``pg_export_snapshot()``), a second pooled connection begins ``REPEATABLE READ`` with that
snapshot (``SET TRANSACTION SNAPSHOT``, sent in the begin's own text, ``db.engine``), and runs
the read on a thread of its own while the request goes on. Both see exactly the same rows: the
counts never disagree with the cards.

Anywhere else — SQLite, whose snapshot cannot be handed to another connection, or a transaction
that is not a read — the read runs on the request's own connection when its answer is asked
for: the same result, one after the other.

The read's thread starts from an empty context: it is a plain read of the database, not part of
the request's credential check or its kept read (``http.kept_read``), whose context variables
must not follow it.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Generic, TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import Pool, QueuePool

from meridian.db import direct
from meridian.db.engine import READ_ONLY, read_transaction

T = TypeVar("T")

THREADS = 8
"""Reads that may run beside requests at once in one process; more wait for a thread (each
holds a pooled connection while it runs)."""


@functools.cache
def _pool() -> ThreadPoolExecutor:
    """Made on first use, in the process that uses it."""
    return ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="meridian-beside")


class Pending(Generic[T]):
    """The answer of a read begun beside the request: :meth:`result` waits for it (or, where
    nothing runs beside, reads it then on the request's own connection)."""

    def __init__(self, answer: Callable[[], T]) -> None:
        self._answer = answer
        self._known: tuple[T] | None = None

    def result(self) -> T:
        if self._known is None:
            self._known = (self._answer(),)
        return self._known[0]


def can_run_beside(conn: Connection) -> bool:
    """Whether ``conn``'s snapshot can be shared: a PostgreSQL read transaction (REPEATABLE
    READ, ``db.engine.read_transaction``) whose pool has a connection to spare."""
    return (
        conn.dialect.name == "postgresql"
        and conn.in_transaction()
        and bool(conn.get_execution_options().get(READ_ONLY, False))
        and _room_for_another(conn.engine.pool)
    )


def _room_for_another(pool: Pool) -> bool:
    """Whether the pool could hand out one more connection than it has out now. A request
    holding its connection while it waits for a read beside it must never leave that read
    waiting for a connection only such requests hold: when every connection is out, the read
    runs on the request's own. (The last request to take a connection finds none to spare and
    waits for nothing, so the reads begun beside earlier ones get the connections it returns.)"""
    if not isinstance(pool, QueuePool):
        return True  # a pool without a limit
    overflow = getattr(pool, "_max_overflow", 0)
    return overflow < 0 or pool.checkedout() < pool.size() + overflow


@contextmanager
def read_beside(conn: Connection, read: Callable[[Connection], T]) -> Iterator[Pending[T]]:
    """``read`` begun now on another connection in ``conn``'s snapshot (see the module), for
    the block to ask its :meth:`Pending.result` when it needs it. The block does not end
    before the read has: ``conn``'s transaction must outlive the snapshot it lent."""
    if not can_run_beside(conn):
        yield Pending(lambda: read(conn))
        return
    [(snapshot,)] = direct.fetch_last(conn, "SELECT pg_export_snapshot()")
    running = _pool().submit(contextvars.Context().run, _read_in, conn.engine, str(snapshot), read)
    try:
        yield Pending(running.result)
    finally:
        _wait(running)


def _read_in(engine: Engine, snapshot: str, read: Callable[[Connection], T]) -> T:
    with read_transaction(engine, snapshot=snapshot) as conn:
        return read(conn)


def _wait(running: Future[T]) -> None:
    """Until the read has ended, whatever became of it (its error, if nobody asked, is moot:
    the block itself failed or chose not to look)."""
    if not running.cancel():
        running.exception()
