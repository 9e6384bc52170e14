"""Recurring schedules: a cron expression that enqueues a job each time it comes round.

Each schedule is one row holding its next due time. Firing it enqueues the job with an
idempotency key made of the schedule and that time, then moves the time on — so a schedule
fires once per occurrence however many workers look, and occurrences missed while no worker
ran are caught up with one job (not one per missed tick).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from croniter import croniter
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from meridian.core import clock
from meridian.core.i18n import Text
from meridian.db.tables import schedules
from meridian.errors import FieldError, ValidationFailed
from meridian.jobs.queue import enqueue


def next_time(cron: str, after: datetime, tz: ZoneInfo) -> datetime:
    """The first occurrence of ``cron`` (read in ``tz``) after ``after``."""
    following: datetime = croniter(cron, after.astimezone(tz)).get_next(datetime)
    return following.astimezone(after.tzinfo)


def set_schedule(
    conn: Connection,
    key: str,
    cron: str,
    kind: str,
    payload: Mapping[str, Any],
    tz: ZoneInfo,
    *,
    enabled: bool = True,
) -> datetime:
    """Create or replace a schedule; returns its first due time."""
    if not isinstance(cron, str) or not croniter.is_valid(cron):
        raise ValidationFailed(
            [FieldError("cron", "invalid_cron", Text("a cron expression like '0 9 * * 1'"), cron)]
        )
    due = next_time(cron, clock.utcnow(conn), tz)
    conn.execute(schedules.delete().where(schedules.c.key == key))
    conn.execute(
        schedules.insert().values(
            key=key, cron=cron, kind=kind, payload=dict(payload), next_run_at=due, enabled=enabled
        )
    )
    return due


class Recurring(NamedTuple):
    """A schedule a process makes sure of at start: its key, cron, job kind and payload."""

    key: str
    cron: str
    kind: str
    payload: Mapping[str, Any]


def ensure_schedules(conn: Connection, wanted: Sequence[Recurring], tz: ZoneInfo) -> None:
    """Create each schedule unless it exists (safe when several processes start at once), in
    one statement: every process that builds a workspace makes sure of Meridian's own scans,
    and a statement each was four more round trips per start on PostgreSQL."""
    if not wanted:
        return
    insert_of = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    now = clock.utcnow(conn)
    rows = [
        {
            "key": schedule.key,
            "cron": schedule.cron,
            "kind": schedule.kind,
            "payload": dict(schedule.payload),
            "next_run_at": next_time(schedule.cron, now, tz),
            "enabled": True,
        }
        for schedule in wanted
    ]
    conn.execute(insert_of(schedules).values(rows).on_conflict_do_nothing(index_elements=["key"]))


def fire_due_schedules(conn: Connection, tz: ZoneInfo) -> int:
    """Enqueue a job for every enabled schedule that is due; returns how many fired."""
    now = clock.utcnow(conn)
    due = sa.select(schedules).where(schedules.c.enabled, schedules.c.next_run_at <= now)
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    fired = 0
    for row in conn.execute(due).all():
        key = f"schedule:{row.key}:{row.next_run_at.isoformat()}"
        if enqueue(conn, row.kind, row.payload, idempotency_key=key) is not None:
            fired += 1
        conn.execute(
            schedules.update()
            .where(schedules.c.key == row.key)
            .values(next_run_at=next_time(row.cron, now, tz))
        )
    return fired
