"""The transactional outbox: events are rows written with the change that caused them."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.clock import utcnow
from meridian.db.sets import one_of
from meridian.db.tables import outbox
from meridian.db.types import UTCDateTime
from meridian.events.records import RecordCreated, RecordEvent


def publish(conn: Connection, events: Sequence[RecordEvent]) -> list[int]:
    """Write ``events`` in the caller's transaction; nothing is sent unless it commits.

    Returns the events' ids in order: an event's id names it for good (a webhook delivery's
    idempotency key is derived from it)."""
    if not events:
        return []
    now = utcnow()
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
        sa.literal(RecordCreated.__name__, sa.String), payload, sa.literal(utcnow(), UTCDateTime())
    ).where(one_of(conn, table.c.id, ids))
    written = conn.execute(
        outbox.insert()
        .from_select(("event_type", "payload", "created_at"), new_rows)
        .returning(outbox.c.id, outbox.c.payload["record_id"].as_integer())
    )
    return {int(record_id): int(event_id) for event_id, record_id in written}
