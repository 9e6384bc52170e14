"""The minute scan of time rules (``date_relative``, ``no_activity``): what fell due since a
rule's watermark fires once, without holding up anyone who writes.

One rule, one window, in three steps:

1. **read** what fell due in one set-based statement, in a read-only transaction: on SQLite
   that takes no write lock (WAL readers never block the writer), and the indexes the rule's
   columns get when it is saved (``rules.watched``) make it a range read, not a walk of the
   table (issue 21: 2.5 s inside the write lock at 1M customers, once a minute);
2. **fire** it in short transactions of ``CHUNK`` records, with a pause after each on SQLite
   so a waiting writer gets the lock (``PAUSE``): the ledger rows (``ON CONFLICT DO
   NOTHING`` on rule, record and fire key) and one run job for each ledger row this chunk
   added, under the rule's row lock that a catch-up also takes;
3. **advance** the watermark, in a transaction of its own, if nobody moved it meanwhile.

A worker that dies between steps leaves the watermark where it was: the next scan reads the
window again and the ledger refuses what already fired, so each record fires once per window.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, Row

from meridian.core import clock
from meridian.core.timezones import DEFAULT_TIME_ZONE
from meridian.db.engine import read_transaction, transaction
from meridian.db.tables import rule_fires, rules
from meridian.jobs.queue import JobContext, enqueue_many
from meridian.rules.definitions import TIME_TRIGGERS
from meridian.rules.engine import RUN, last_activity, run_payload
from meridian.rules.values import expression_sql
from meridian.schema.catalog import get_form
from meridian.schema.compile import compile_form

CHUNK = 100
"""Records fired per write transaction: each holds the write lock for a few milliseconds."""

PAUSE = 0.05
"""Seconds the scan leaves SQLite's write lock free after each chunk (or twice as long as it
held it). A waiting writer polls the lock at growing intervals (SQLite's busy handler: 1, 2,
5, 10, 15, 20, 25 ms …); chunks committed back to back took it again before the writer looked,
and a write waited 1.9 s behind 20,000 records fired in 40 short transactions."""

Due = tuple[int, str]
"""A record that fell due and its fire key (the watched moment, as the ledger stores it)."""


def scan_time_rules(context: JobContext) -> None:
    """The ``rules.scan`` job: fire each enabled time rule for what fell due since its watermark."""
    with read_transaction(context.engine) as conn:
        ids = list(conn.scalars(sa.select(rules.c.id).where(rules.c.enabled).order_by(rules.c.id)))
    for rule_id in ids:
        scan_time_rule(context.engine, rule_id, DEFAULT_TIME_ZONE)


def scan_time_rule(engine: Engine, rule_id: int, tz: ZoneInfo) -> int:
    """Read, fire and advance one rule's window (module docstring); returns how many runs it
    enqueued."""
    with read_transaction(engine) as conn:
        rule = conn.execute(sa.select(rules).where(rules.c.id == rule_id)).first()
        if rule is None or not rule.enabled or rule.trigger["type"] not in TIME_TRIGGERS:
            return 0
        now = clock.utcnow(conn)
        due = due_records(conn, rule, now, tz)
    fired, held = 0, 0.0
    for start in range(0, len(due), CHUNK):
        if start:
            _let_writers_in(engine, held)
        began = time.perf_counter()
        with transaction(engine) as conn:
            current = _locked(conn, rule_id)
            if current is None or current.scanned_until != rule.scanned_until:
                return fired  # switched off, changed or scanned by someone else meanwhile
            fired += fire_due(conn, rule, due[start : start + CHUNK], now)
        held = time.perf_counter() - began
    with transaction(engine) as conn:
        current = _locked(conn, rule_id)
        if current is not None and current.scanned_until == rule.scanned_until:
            conn.execute(rules.update().where(rules.c.id == rule_id).values(scanned_until=now))
    return fired


def _let_writers_in(engine: Engine, held: float) -> None:
    if engine.dialect.name == "sqlite":  # PostgreSQL's writers wait for rows, not the database
        time.sleep(max(PAUSE, 2 * held))


def _locked(conn: Connection, rule_id: int) -> Row[Any] | None:
    rule = conn.execute(sa.select(rules).where(rules.c.id == rule_id).with_for_update()).first()
    return rule if rule is not None and rule.enabled else None


def fire_time_rule(conn: Connection, rule: Row[Any], now: datetime, tz: ZoneInfo) -> int:
    """One window of one time rule in the caller's transaction (tests, benches, a catch-up
    of a single rule); returns how many runs it enqueued."""
    due = due_records(conn, rule, now, tz)
    fired = sum(fire_due(conn, rule, due[i : i + CHUNK], now) for i in range(0, len(due), CHUNK))
    if now > (rule.scanned_until or rule.created_at):
        conn.execute(rules.update().where(rules.c.id == rule.id).values(scanned_until=now))
    return fired


def due_records(conn: Connection, rule: Row[Any], now: datetime, tz: ZoneInfo) -> list[Due]:
    """The live records whose watched moment fell in (watermark, now], meeting the rule's
    condition: one statement, reading only."""
    since = rule.scanned_until or rule.created_at
    if now <= since:
        return []  # this moment is scanned already
    form = get_form(conn, rule.form_key)
    table = compile_form(form).main
    trigger = rule.trigger
    if trigger["type"] == "date_relative":
        column = table.c[trigger["field"]]
        shift = timedelta(days=trigger["offset_days"])
        low, high = since.astimezone(tz).date() - shift, now.astimezone(tz).date() - shift
        window = sa.and_(column > low, column <= high)
    else:
        activity = trigger.get("activity")
        column = last_activity(conn, table, activity)
        shift = timedelta(days=trigger["days"])
        low, high = since - shift, now - shift
        window = sa.and_(
            column > low, column <= high, _candidates(conn, table, activity, low, high)
        )
    query = sa.select(table.c.id, sa.cast(column, sa.String())).where(
        window, table.c.deleted_at.is_(None)
    )
    if rule.condition:
        query = query.where(expression_sql(conn, form, rule.condition, tz))
    return [(int(record_id), str(key)) for record_id, key in conn.execute(query)]


def _candidates(
    conn: Connection, table: sa.Table, activity: Any, low: datetime, high: datetime
) -> Any:
    """A necessary condition for the last activity to fall in (low, high] that indexes answer:
    the record's own update, or a linked record's creation, fell in it. Without it the newest
    linked record was computed for every record of the form."""
    updated = sa.and_(table.c.updated_at > low, table.c.updated_at <= high)
    if not activity:
        return updated
    linked = compile_form(get_form(conn, activity["form"])).main
    created = linked.c.created_at
    touched = sa.select(linked.c[activity["link_field"]]).where(
        created > low, created <= high, linked.c.deleted_at.is_(None)
    )
    return sa.or_(updated, table.c.id.in_(touched))


def fire_due(conn: Connection, rule: Row[Any], due: Sequence[Due], now: datetime) -> int:
    """Write the ledger rows of ``due`` and a run for each one that is new; returns how many.

    Two statements, since the scan makes them under SQLite's write lock, once per chunk: the
    ledger INSERT returns the records it added (``ON CONFLICT DO NOTHING`` returns none for a
    row already there) and their runs are one multi-row INSERT. The runs were enqueued by an
    INSERT … SELECT over the ledger and counted by another SELECT, each with the chunk's ids
    as an IN list: twice the work held under the lock, which a loaded host stretched into
    writers' waits of over 100 ms when it took the core away from the scan (issue 21)."""
    if not due:
        return 0
    insert_of = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    added = conn.scalars(
        insert_of(rule_fires).on_conflict_do_nothing().returning(rule_fires.c.record_id),
        [
            {"rule_id": rule.id, "record_id": record_id, "fire_key": key, "fired_at": now}
            for record_id, key in due
        ],
    ).all()
    enqueue_many(conn, RUN, [run_payload(rule, record_id) for record_id in added], run_at=now)
    return len(added)
