"""The transactional outbox: events are rows written with the change that caused them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Connection

from meridian.core.clock import utcnow
from meridian.db.tables import outbox
from meridian.events.records import RecordEvent


def publish(conn: Connection, events: Sequence[RecordEvent]) -> None:
    """Write ``events`` in the caller's transaction; nothing is sent unless it commits."""
    if not events:
        return
    now = utcnow()
    conn.execute(
        outbox.insert(),
        [{"event_type": e.event_type, "payload": vars(e), "created_at": now} for e in events],
    )
