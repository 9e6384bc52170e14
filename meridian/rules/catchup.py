"""Catching up a time rule: the records already inside its window when it is created or
switched on.

A new (or re-enabled) time rule fires only for what falls due from then on: a renewal rule
"90 days before the end" made today would pass over every contract ending within the next 90
days. The builder sees how many records are already inside the window (a dry count) and
chooses to catch them up now. Both are one set-based statement; the catch-up enqueues a run
for each record not yet in the rule's ledger and writes the ledger in the same transaction,
under the rule's row lock that the minute scan also takes — so a record is fired once per
window however often the catch-up is asked for and whatever the scan does next.

The window, for ``date_relative`` with ``offset_days`` o: records whose moment (date + o) has
come while, for a reminder before the date (o < 0), the date itself is still ahead; for o ≥ 0,
whose moment fell within the last max(o, 1) days. For ``no_activity``: every record already
without activity for the rule's days.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Row

from meridian.access.manage import require_admin
from meridian.core import clock
from meridian.core.actor import Actor
from meridian.core.i18n import Text
from meridian.db.tables import rule_fires, rules
from meridian.errors import FieldError, NotFound, ValidationFailed
from meridian.rules.definitions import TIME_TRIGGERS
from meridian.rules.engine import enqueue_runs, last_activity
from meridian.rules.values import expression_sql
from meridian.schema.catalog import get_form
from meridian.schema.compile import compile_form


def _rule(conn: Connection, rule_id: int, *, lock: bool) -> Row[Any]:
    query = sa.select(rules).where(rules.c.id == rule_id)
    rule = conn.execute(query.with_for_update() if lock else query).first()
    if rule is None:
        raise NotFound(Text("rule {id} does not exist", id=rule_id), id=rule_id)
    if rule.trigger["type"] not in TIME_TRIGGERS:
        raise ValidationFailed(
            [
                FieldError(
                    "trigger.type",
                    "not_a_time_rule",
                    Text("only date-relative and inactivity rules have a window to catch up"),
                    rule.trigger["type"],
                )
            ]
        )
    return rule


def _pending(conn: Connection, rule: Row[Any], tz: ZoneInfo) -> tuple[Any, Any, Any]:
    """(the form's table, the ledger key column, the condition of the records inside the
    window that the rule's ledger does not hold yet)."""
    form = get_form(conn, rule.form_key)
    table = compile_form(form).main
    now = clock.utcnow(conn)
    trigger = rule.trigger
    if trigger["type"] == "date_relative":
        column = table.c[trigger["field"]]
        offset = int(trigger["offset_days"])
        today = now.astimezone(tz).date()
        reach = -offset if offset < 0 else max(offset, 1)
        shift = timedelta(days=offset)
        window = sa.and_(column > today - timedelta(days=reach) - shift, column <= today - shift)
    else:
        column = last_activity(conn, table, trigger.get("activity"))
        window = column <= now - timedelta(days=int(trigger["days"]))
    key = sa.cast(column, sa.String())
    fired = sa.exists().where(
        rule_fires.c.rule_id == rule.id,
        rule_fires.c.record_id == table.c.id,
        rule_fires.c.fire_key == key,
    )
    where = sa.and_(window, table.c.deleted_at.is_(None), ~fired)
    if rule.condition:
        where = sa.and_(where, expression_sql(conn, form, rule.condition, tz))
    return table, key, where


def window_count(conn: Connection, actor: Actor, rule_id: int, tz: ZoneInfo) -> int:
    """How many records a catch-up would fire for now (a dry count; changes nothing)."""
    require_admin(actor)
    rule = _rule(conn, rule_id, lock=False)
    table, _, where = _pending(conn, rule, tz)
    return int(conn.scalar(sa.select(sa.func.count()).select_from(table).where(where)) or 0)


def catch_up(conn: Connection, actor: Actor, rule_id: int, tz: ZoneInfo) -> int:
    """Fire the rule for every record already inside its window and not fired yet; returns
    how many. Runs are enqueued and the ledger written in the caller's transaction."""
    require_admin(actor)
    rule = _rule(conn, rule_id, lock=True)
    if not rule.enabled:
        raise ValidationFailed(
            [FieldError("enabled", "rule_off", Text("switch the rule on to catch up"), False)]
        )
    table, key, where = _pending(conn, rule, tz)
    count = int(conn.scalar(sa.select(sa.func.count()).select_from(table).where(where)) or 0)
    if not count:
        return 0
    now = clock.utcnow(conn)
    enqueue_runs(conn, rule, table.c.id, where, now)  # before the ledger: it selects the new ones
    insert_of = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    due = sa.select(
        sa.literal(rule.id, sa.BigInteger()),
        table.c.id,
        key,
        sa.literal(now, rule_fires.c.fired_at.type),
    ).where(where)
    conn.execute(
        insert_of(rule_fires)
        .from_select(["rule_id", "record_id", "fire_key", "fired_at"], due)
        .on_conflict_do_nothing()
    )
    return count
