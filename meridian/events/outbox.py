"""The transactional outbox: events are rows written with the change that caused them.

Subscribers react inside the writer's transaction (``records.subscribers``). After commit, the
worker drains the outbox (:func:`take_pending`) and hands the events to the reactions plugins
register (``register_reactions``): code that needs no transaction of the writer's — a feed to
another system, a cache to refresh. A drained row keeps its id, which names the event for good
(webhook deliveries derive their idempotency keys from it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.clock import utcnow
from meridian.core.lazy import ReadWhenAsked
from meridian.db.bulk import prepared_insert
from meridian.db.direct import available, fetch_all
from meridian.db.gathering import gather, write_gathered
from meridian.db.sets import one_of
from meridian.db.tables import outbox
from meridian.db.types import UTCDateTime
from meridian.events import lifecycle, records
from meridian.events.records import DomainEvent, RecordCreated, RecordEvent

Reaction = Callable[[Sequence[DomainEvent]], None]
"""Runs after commit with a batch of committed events, in the order they were written. It gets
each event at most once (the batch is marked dispatched before it runs); one that must not
miss any enqueues a job from a subscriber instead."""

EVENT_TYPES: Mapping[str, type[DomainEvent]] = MappingProxyType(
    {
        cls.__name__: cls
        for module in (records, lifecycle)
        for cls in vars(module).values()
        if isinstance(cls, type)
        and issubclass(cls, DomainEvent)
        and cls.__module__ == module.__name__
    }
)
"""Every declared event class by name: how an outbox row becomes an event again."""


EVENTS = "outbox"
"""The kind outbox rows are gathered under (``db.gathering``)."""


@dataclass
class _Pending:
    """One event's outbox row, and its id once written."""

    row: dict[str, Any]
    id: int | None = None


class EventIds(ReadWhenAsked[int]):
    """The ids of published events, in order. Events published inside a ``gathering`` scope
    are written when it closes; asking for an id before that writes them at once (a webhook
    delivery keys itself by its event's id), so ids are only paid for when somebody asks."""

    def __init__(self, conn: Connection, pending: Sequence[_Pending]) -> None:
        self._conn = conn
        self._pending = pending

    def _items(self) -> list[int]:
        if any(p.id is None for p in self._pending):
            write_gathered(self._conn, EVENTS)
        return [int(p.id) for p in self._pending if p.id is not None]

    def __len__(self) -> int:
        return len(self._pending)


def publish(conn: Connection, events: Sequence[RecordEvent]) -> Sequence[int]:
    """Write ``events`` in the caller's transaction; nothing is sent unless it commits. Inside
    a ``gathering`` scope they join the scope's one multi-row INSERT of outbox rows.

    Returns the events' ids in order: an event's id names it for good (a webhook delivery's
    idempotency key is derived from it)."""
    if not events:
        return []
    now = utcnow(conn)
    pending = [
        _Pending({"event_type": e.event_type, "payload": vars(e), "created_at": now})
        for e in events
    ]
    gather(conn, EVENTS, pending, _write)
    return EventIds(conn, pending)


_IN_ORDER = outbox.insert().returning(outbox.c.id, sort_by_parameter_order=True)
_KEYED = outbox.insert().returning(
    outbox.c.id, outbox.c.event_type, outbox.c.payload["record_id"].as_integer()
)
"""The INSERTs of :func:`_write`, made once: SQLAlchemy keys a statement's compiled form by
walking it, once per statement object."""


def _write(conn: Connection, pending: list[_Pending]) -> None:
    """One INSERT of the rows, each given its id. The ids are matched by event type and
    record, which lets SQLite insert the rows as one statement (asking for them in order
    inserts one row at a time); only a batch with two events of one type about one record
    asks for them in order."""
    rows = [p.row for p in pending]
    keys = [(row["event_type"], int(row["payload"]["record_id"])) for row in rows]
    if len(set(keys)) < len(keys):
        for p, event_id in zip(pending, conn.execute(_IN_ORDER, rows).scalars(), strict=True):
            p.id = int(event_id)
        return
    written = _keyed_direct(conn, rows) if available(conn) else conn.execute(_KEYED, rows)
    by_key = {(event_type, int(record_id)): int(i) for i, event_type, record_id in written}
    for p, key in zip(pending, keys, strict=True):
        p.id = by_key[key]


_COLUMNS = ("event_type", "payload", "created_at")
_KEYED_RETURNING = (
    " RETURNING id, event_type, CAST(JSON_EXTRACT(payload, '$.record_id') AS INTEGER)"
)
"""SQLite's text of :data:`_KEYED`'s RETURNING clause."""


def _keyed_direct(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """:data:`_KEYED` as SQLite's driver takes it, straight to the cursor (``db.direct``): one
    multi-row INSERT of the rows' values, already through their columns' bind processors.
    SQLAlchemy's insertmanyvalues rewrote the statement for every batch (a create's two events
    cost more there than the rest of the write's statements)."""
    insert = prepared_insert(outbox, _COLUMNS, conn.dialect)
    one_row = insert.sql[insert.sql.index(" VALUES ") + len(" VALUES ") :]
    written: list[tuple[Any, ...]] = []
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):  # within SQLite's variable limit
        chunk = rows[start : start + _ROWS_PER_STATEMENT]
        sql = insert.sql + f", {one_row}" * (len(chunk) - 1) + _KEYED_RETURNING
        values = [value for row in insert.parameters(chunk) for value in row]
        written.extend(fetch_all(conn, sql, values))
    return written


_ROWS_PER_STATEMENT = 300
"""Rows of one multi-row INSERT: three values each, within the 999 variables a statement the
oldest SQLite builds take (a bulk write's events would otherwise pass any build's limit)."""


def publish_created(
    conn: Connection, form_key: str, table: sa.Table, ids: Sequence[int], actor_id: int | None
) -> Sequence[int]:
    """The :class:`RecordCreated` events of new records of ``table``, their ids in the order
    of ``ids``. One record's event is published like any other (gathered with the events its
    subscribers add); many records' are written at once by one INSERT … SELECT whose payloads
    the database builds (a bulk import writes thousands)."""
    if len(ids) == 1:
        return publish(conn, [RecordCreated(form_key, ids[0], actor_id, 1)])
    write_gathered(conn, EVENTS)  # the events published before these keep smaller ids
    build = sa.func.jsonb_build_object if conn.dialect.name == "postgresql" else sa.func.json_object
    payload = build(
        sa.literal("form", sa.String),
        sa.literal(form_key, sa.String),
        sa.literal("record_id", sa.String),
        table.c.id,
        sa.literal("actor_id", sa.String),
        sa.literal(actor_id, sa.BigInteger),
        sa.literal("version", sa.String),
        sa.literal(1, sa.Integer),
    )
    new_rows = sa.select(
        sa.literal(RecordCreated.__name__, sa.String),
        payload,
        sa.literal(utcnow(conn), UTCDateTime()),
    ).where(one_of(conn, table.c.id, ids))
    insert = outbox.insert().from_select(("event_type", "payload", "created_at"), new_rows)
    if conn.dialect.name == "sqlite":
        # Read back only when asked (a webhook keys its deliveries by them): an import's
        # batch has no subscriber that does, and RETURNING a thousand rows through the
        # result cost a third of the statement. The rows are those after the largest id
        # before the INSERT; the transaction holds SQLite's write lock, so no other
        # writer's row is among them, and the form and record name each one.
        before = conn.execute(_LARGEST_ID).scalar()
        conn.execute(insert)
        return _CreatedIds(conn, form_key, ids, before or 0)
    written = conn.execute(
        insert.returning(outbox.c.payload["record_id"].as_integer(), outbox.c.id)
    )
    by_record: dict[int, int] = dict(written.all())  # both integers on both dialects
    return [by_record[record_id] for record_id in ids]


_LARGEST_ID = sa.select(sa.func.max(outbox.c.id))


class _CreatedIds(ReadWhenAsked[int]):
    """The ids of a bulk create's events on SQLite, in the order of the records, read from the
    outbox when first asked (:func:`publish_created`)."""

    def __init__(
        self, conn: Connection, form_key: str, record_ids: Sequence[int], after: int
    ) -> None:
        self._conn = conn
        self._form_key = form_key
        self._record_ids = record_ids
        self._after = after
        self._read: list[int] | None = None

    def _items(self) -> list[int]:
        if self._read is None:
            written = self._conn.execute(
                sa.select(outbox.c.payload["record_id"].as_integer(), outbox.c.id).where(
                    outbox.c.id > self._after,
                    outbox.c.event_type == RecordCreated.__name__,
                    outbox.c.payload["form"].as_string() == self._form_key,
                )
            )
            by_record: dict[int, int] = dict(written.all())
            self._read = [by_record[record_id] for record_id in self._record_ids]
        return self._read

    def __len__(self) -> int:
        return len(self._record_ids)


def take_pending(conn: Connection, *, limit: int = 500) -> list[DomainEvent]:
    """The oldest events not yet dispatched, marked dispatched in the caller's transaction.

    On PostgreSQL rows another worker is taking are skipped (``SKIP LOCKED``); SQLite's writers
    queue behind ``BEGIN IMMEDIATE``. Rows of an event type no longer declared are marked too.
    """
    query = (
        sa.select(outbox.c.id, outbox.c.event_type, outbox.c.payload)
        .where(outbox.c.dispatched_at.is_(None))
        .order_by(outbox.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = conn.execute(query).all()
    if not rows:
        return []
    conn.execute(
        outbox.update()
        .where(one_of(conn, outbox.c.id, [row.id for row in rows]))
        .values(dispatched_at=utcnow(conn))
    )
    return [
        EVENT_TYPES[row.event_type](**row.payload) for row in rows if row.event_type in EVENT_TYPES
    ]
