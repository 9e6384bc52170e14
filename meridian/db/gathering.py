"""Rows a write gathers and inserts once, at its end, in its own transaction.

One record write causes rows in tables that are not the record's: its event in the outbox, the
event of the stage it entered, the rule runs both trigger in the job queue. Each comes from a
different subscriber, and written where it arises they cost one INSERT apiece. Inside a
:func:`gathering` scope (the records writer opens one around telling its subscribers)
:func:`gather` keeps them instead, and the scope writes each kind in one multi-row INSERT
before it closes — still inside the writer's transaction, so they commit or roll back with the
change exactly as if written at once (the outbox and the queue stay exactly-once). Outside a
scope :func:`gather` writes at once. Whoever needs gathered rows written sooner — an event's
id, a job that must be written after those gathered before it — calls :func:`write_gathered`.

A savepoint rolled back inside a scope does not take back what was gathered in it: code that
rolls back a savepoint of its own inside a subscriber writes what it gathered first, or gathers
nothing there (no subscriber does either today).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

Writer = Callable[[Connection, list[Any]], None]
"""Writes one kind's gathered items (one multi-row INSERT)."""

_SCOPE = "meridian.gathering"
"""The key of the open scope's batches in the connection's ``info``."""


@dataclass
class _Batch:
    write: Writer
    items: list[Any]


@contextmanager
def gathering(conn: Connection) -> Iterator[None]:
    """Gather what :func:`gather` is given until the block ends, then write it. A scope
    opened inside another is the outer one's: the outermost writes everything, once. When the
    block raises, nothing gathered is written (the transaction is going to roll back)."""
    if _SCOPE in conn.info:
        yield
        return
    conn.info[_SCOPE] = {}
    try:
        yield
        write_gathered(conn)
    finally:
        conn.info.pop(_SCOPE, None)


def gather(conn: Connection, kind: str, items: Sequence[Any], write: Writer) -> None:
    """Keep ``items`` of ``kind`` for the open scope to write with ``write``; without a
    scope, write them now."""
    batches: dict[str, _Batch] | None = conn.info.get(_SCOPE)
    if batches is None:
        if items:
            write(conn, list(items))
        return
    batch = batches.get(kind)
    if batch is None:
        batches[kind] = _Batch(write, list(items))
    else:
        batch.items.extend(items)


def write_gathered(conn: Connection, kind: str | None = None) -> None:
    """Write what the open scope gathered so far — of ``kind`` only, or everything in the
    order each kind was first gathered."""
    batches: dict[str, _Batch] | None = conn.info.get(_SCOPE)
    if not batches:
        return
    for key in [kind] if kind is not None else list(batches):
        batch = batches.pop(key, None)
        if batch is not None and batch.items:
            batch.write(conn, batch.items)
