"""The transactional outbox: events are rows written with the change that caused them.

Subscribers react inside the writer's transaction (``records.subscribers``). After commit, the
worker drains the outbox (:func:`take_pending`) and hands the events to the reactions plugins
register (``register_reactions``): code that needs no transaction of the writer's — a feed to
another system, a cache to refresh. A drained row keeps its id, which names the event for good
(webhook deliveries derive their idempotency keys from it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.clock import utcnow
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


def publish(conn: Connection, events: Sequence[RecordEvent]) -> list[int]:
    """Write ``events`` in the caller's transaction; nothing is sent unless it commits.

    Returns the events' ids in order: an event's id names it for good (a webhook delivery's
    idempotency key is derived from it)."""
    if not events:
        return []
    now = utcnow(conn)
    rows = [{"event_type": e.event_type, "payload": vars(e), "created_at": now} for e in events]
    records = [e.record_id for e in events]
    if len(set(records)) < len(records):
        ordered = outbox.insert().returning(outbox.c.id, sort_by_parameter_order=True)
        return [int(event_id) for event_id in conn.execute(ordered, rows).scalars()]
    # One event per record (every write so far): the ids are matched by record, which lets
    # SQLite insert the rows in batches (asking for them in order inserts one row at a time).
    written = conn.execute(
        outbox.insert().returning(outbox.c.id, outbox.c.payload["record_id"].as_integer()), rows
    )
    by_record = {int(record_id): int(event_id) for event_id, record_id in written}
    return [by_record[record_id] for record_id in records]


def publish_created(
    conn: Connection, form_key: str, table: sa.Table, ids: Sequence[int], actor_id: int | None
) -> dict[int, int]:
    """The :class:`RecordCreated` events of many new records of ``table``, written by one
    INSERT … SELECT whose payloads the database builds (a bulk import writes thousands);
    returns each record's event id."""
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
    written = conn.execute(
        outbox.insert()
        .from_select(("event_type", "payload", "created_at"), new_rows)
        .returning(outbox.c.id, outbox.c.payload["record_id"].as_integer())
    )
    return {int(record_id): int(event_id) for event_id, record_id in written}


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
