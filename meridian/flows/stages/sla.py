"""Stage SLAs: each visit's deadlines, and the scan that fires them once per visit.

A stage may limit a visit to an amount of hours or days, with a warning at a share of it.
The deadlines are fixed when the record enters the stage (``warn_at``, ``due_at`` on its
visit) and the scan fires what fell due: one UPDATE … RETURNING marks the open visits whose
deadline passed and that have not fired yet, and the same transaction announces
:class:`StageSlaWarned`/:class:`StageSlaBreached` events that rules act on. A visit fires each
deadline at most once (its ``warned_at``/``breached_at`` is set in the transaction that
announces it), and a deadline that passed while no worker ran fires on the next scan: the scan
looks at every open visit whose deadline is past, not at a time window.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.clock import utcnow
from meridian.db.tables import stage_visits
from meridian.db.types import UTCDateTime
from meridian.events.lifecycle import StageSlaBreached, StageSlaWarned
from meridian.events.records import RecordEvent
from meridian.flows.calendar.model import time_basis
from meridian.flows.calendar.store import load_calendar
from meridian.flows.stages.model import Stage
from meridian.records.subscribers import announce
from meridian.schema.catalog import find_form

SCAN = "stages.sla_scan"
"""The job kind of the SLA scan (scheduled every minute)."""
BATCH = 5000
"""Visits one scan transaction fires at most, per kind of deadline."""


def deadlines(
    conn: Connection, stage: Stage, entered_at: datetime
) -> tuple[datetime | None, datetime | None]:
    """When a visit entering ``stage`` at ``entered_at`` warns and is due (None: no limit).

    In business time (``sla_business``) the limit counts work hours only, by the work
    calendar (``flows.calendar``: working week, public holidays and 调休 days); a day is one
    work day's length. In calendar time a day is a date later at the same wall-clock time.
    The warning comes after the chosen share of the limit, counted the same way.
    """
    if not stage.sla_amount:
        return None, None
    calendar = load_calendar(conn)
    clock = time_basis(calendar, "business" if stage.sla_business else "calendar")
    if stage.sla_unit == "days":
        due_at = clock.add_days(entered_at, stage.sla_amount)
        share = stage.sla_amount * (stage.sla_warn_percent or 0) / 100
        warn_at = clock.add_days(entered_at, share) if stage.sla_warn_percent else None
    else:
        due_at = clock.add_hours(entered_at, stage.sla_amount)
        share = stage.sla_amount * (stage.sla_warn_percent or 0) / 100
        warn_at = clock.add_hours(entered_at, share) if stage.sla_warn_percent else None
    return warn_at, due_at


def scan_slas(conn: Connection, *, limit: int = BATCH) -> tuple[int, int]:
    """Fire every warning and breach that fell due; returns how many of each. Run inside one
    transaction: the marks and the events commit together, or neither does."""
    now = utcnow(conn)
    warned = _fire(conn, "warn_at", "warned_at", now, limit)
    breached = _fire(conn, "due_at", "breached_at", now, limit)
    _announce(conn, warned, StageSlaWarned)
    _announce(conn, breached, StageSlaBreached)
    return len(warned), len(breached)


def _fire(conn: Connection, deadline: str, fired: str, now: datetime, limit: int) -> list[Any]:
    statement = _fire_statement(deadline, fired, conn.dialect.name == "postgresql")
    return list(conn.execute(statement, {"now": now, "limit": limit}))


@functools.cache
def _fire_statement(deadline: str, fired: str, skip_locked: bool) -> Any:
    """The scan's UPDATE … RETURNING, built once per kind of deadline (the scan runs every
    minute; building and caching the statement cost more than the query itself)."""
    now = sa.bindparam("now", type_=UTCDateTime())
    due = sa.and_(
        stage_visits.c[deadline] <= now,
        stage_visits.c.left_at.is_(None),
        stage_visits.c[fired].is_(None),
    )
    chosen = (
        sa.select(stage_visits.c.id)
        .where(due)
        .order_by(stage_visits.c[deadline])
        .limit(sa.bindparam("limit", type_=sa.Integer()))
    )
    if skip_locked:
        chosen = chosen.with_for_update(skip_locked=True)
    return (
        stage_visits.update()
        .where(stage_visits.c.id.in_(chosen.scalar_subquery()), stage_visits.c[fired].is_(None))
        .values({fired: now})
        .returning(
            stage_visits.c.id,
            stage_visits.c.form_key,
            stage_visits.c.record_id,
            stage_visits.c.stage_key,
            stage_visits.c[deadline].label("deadline"),
            stage_visits.c.due_at,
        )
    )


def _announce(
    conn: Connection, rows: Sequence[Any], event: type[StageSlaWarned] | type[StageSlaBreached]
) -> None:
    by_form: dict[str, list[RecordEvent]] = {}
    for row in rows:
        due = row.due_at.isoformat() if row.due_at else ""
        by_form.setdefault(row.form_key, []).append(
            event(row.form_key, row.record_id, None, 0, row.stage_key, row.id, due)
        )
    for form_key, events in by_form.items():
        form = find_form(conn, form_key)
        if form is not None:
            announce(conn, form, events)
