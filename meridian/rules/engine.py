"""Running rules: record triggers in the save transaction, time triggers set-based, actions as jobs.

- A record change reaches :func:`on_record_events` inside the writer's transaction. For each
  enabled rule of the form whose trigger matches, the condition is checked in SQL for all the
  changed records at once, and a ``rules.run`` job is enqueued per record that passes — so the
  actions happen exactly when the change commits.
- ``rules.scan`` (every minute) fires date-relative and inactivity rules with one
  ``INSERT … SELECT`` per rule into a ledger keyed by (rule, record, date value), between the
  rule's watermark and now: downtime is caught up, nothing fires twice, and a user who moves the
  date re-arms the rule.
- ``rules.run`` performs the actions through the records service, as Meridian itself, and logs
  the run. Changes made by actions trigger rules again; past :data:`MAX_DEPTH` the chain is
  stopped and the stop is logged, so a loop between rules can never spin.
"""

from __future__ import annotations

import contextvars
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from meridian.core import clock
from meridian.core.i18n import localized, stored
from meridian.core.timezones import DEFAULT_TIME_ZONE
from meridian.db import revisions
from meridian.db.revisions import token_of
from meridian.db.sets import one_of
from meridian.db.tables import jobs, rule_runs, rules
from meridian.errors import MeridianError
from meridian.events.records import RecordEvent
from meridian.expr import (
    CompiledExpression,
    Env,
    ExpressionError,
    Guard,
    compile_expression,
    environment,
    guard_of,
)
from meridian.jobs.queue import DEFAULT_ATTEMPTS, READY, JobContext, enqueue_many
from meridian.records.subscribers import Changes
from meridian.rules.actions import actions_of
from meridian.rules.definitions import RULES_REVISION
from meridian.rules.triggers import RuleTrigger, triggers_of
from meridian.rules.values import expression_sql, passing_ids
from meridian.schema.catalog import get_form
from meridian.schema.compile import compile_form
from meridian.schema.expressions import LogicalReader, plain_scope
from meridian.schema.model import Form

RUN, SCAN, SCHEDULED = "rules.run", "rules.scan", "rules.scheduled"
MAX_DEPTH = 5
SUCCEEDED, WARNING = "succeeded", "warning"
"""Run outcomes: a warning is a run whose actions all did their part and one of them had no
effect it was meant to have (a notification that reached nobody)."""
_depth: contextvars.ContextVar[int] = contextvars.ContextVar("rule_depth", default=0)


@dataclass
class _Run:
    """The ``rules.run`` job being performed: what the keys of the calls it makes derive from."""

    job_id: int
    calls: int = 0

    def call_key(self) -> str:
        """The next call's key: the run's job and the call's place in the run, so the same
        call of the same run has the same key however often it is queued or sent."""
        self.calls += 1
        return f"meridian-rule-run-{self.job_id}-call-{self.calls}"


_run: contextvars.ContextVar[_Run | None] = contextvars.ContextVar("rule_run", default=None)


def next_call_key() -> str | None:
    """The idempotency key of the next outbound call the current ``rules.run`` makes (None
    outside a run): the run's job and the call's place in it."""
    run = _run.get()
    return run.call_key() if run is not None else None


# ---- record triggers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _RecordRule:
    id: int
    trigger: Mapping[str, Any]
    condition: str
    kind: RuleTrigger

    @property
    def event_type(self) -> str | None:
        return self.kind.event_type

    @property
    def any_change(self) -> bool:
        """True unless the trigger tests each event (``field_changed`` waits for one field)."""
        return self.kind.matches is None

    def matches(self, event: RecordEvent) -> bool:
        """Whether ``event`` (already of :attr:`event_type`) triggers the rule."""
        return self.kind.matches is None or self.kind.matches(self.trigger, event)


_books: dict[str, Mapping[str, tuple[_RecordRule, ...]]] = {}
"""The enabled record rules by form, under the rules' revision token they were read with."""


@dataclass(frozen=True)
class _FormRules:
    """A form's enabled record rules, each with its condition compiled for that exact form
    when it reads only the record's own fields (None: no condition, or SQL decides)."""

    form: Form
    reader: LogicalReader
    """The values of the fields those compiled conditions read (all a save needs to
    prepare) as expressions see them, each field's scale asked once per rules revision (a save
    made it anew for each of its two events)."""
    groups: tuple[
        tuple[Guard | None, tuple[tuple[_RecordRule, CompiledExpression | None], ...]], ...
    ]
    """The rules by the guard their conditions share (``stage = "won" and …``): a save tests
    each guard once and skips the rules behind one that fails."""

    @classmethod
    def of(
        cls, form: Form, rules: tuple[tuple[_RecordRule, CompiledExpression | None], ...]
    ) -> _FormRules:
        read = {key for _, c in rules if c is not None for key in c.fields_used}
        guards: dict[Any, Guard | None] = {}
        members: dict[Any, list[tuple[_RecordRule, CompiledExpression | None]]] = {}
        for rule, compiled in rules:
            guard = guard_of(compiled) if compiled is not None else None
            key = guard.key if guard is not None else None
            guards.setdefault(key, guard)
            members.setdefault(key, []).append((rule, compiled))
        return cls(
            form,
            LogicalReader(f for f in form.active_fields if f.key in read),
            tuple((guards[key], tuple(found)) for key, found in members.items()),
        )


_forms: dict[tuple[str, int], _FormRules] = {}
"""By (rules' token, id of the form object); the entry holds the form, so the id cannot be
reused by another form while the entry lives."""
_CACHED = 256


def _record_rules(conn: Connection, form: Form) -> _FormRules:
    """The form's enabled record rules, read and compiled once per rules revision: a save
    pays one small query to learn that nothing changed."""
    current = revisions.token(conn, RULES_REVISION)
    found = _forms.get((current, id(form))) if current else None
    if found is not None and found.form is form:
        return found
    book = _books.get(current) if current else None
    if book is None:
        current, book = _read_book(conn)
    found = _FormRules.of(
        form, tuple((rule, _own_condition(form, rule.condition)) for rule in book.get(form.key, ()))
    )
    if current:
        if len(_forms) >= _CACHED:
            _forms.clear()
        _forms[current, id(form)] = found
    return found


def _read_book(conn: Connection) -> tuple[str | None, Mapping[str, tuple[_RecordRule, ...]]]:
    token_row = sa.select(token_of(RULES_REVISION).label("token")).subquery()
    rows = conn.execute(
        sa.select(
            token_row.c.token,
            rules.c.id,
            rules.c.form_key,
            sa.cast(rules.c.trigger, sa.Text).label("trigger"),
            rules.c.condition,
        )
        .select_from(token_row.outerjoin(rules, rules.c.enabled))
        .order_by(rules.c.id)
    ).all()
    book: dict[str, list[_RecordRule]] = {}
    known = triggers_of(conn)
    for row in rows:
        if row.id is None:
            continue
        trigger = json.loads(row.trigger)
        kind = known.get(trigger["type"])
        if kind is not None and kind.event_type is not None:
            book.setdefault(row.form_key, []).append(
                _RecordRule(row.id, MappingProxyType(trigger), row.condition, kind)
            )
    frozen = {key: tuple(found) for key, found in book.items()}
    token = rows[0].token
    if token:
        if len(_books) >= _CACHED:
            _books.clear()
        _books[token] = frozen
    return token, frozen


def _own_condition(form: Form, condition: str) -> CompiledExpression | None:
    """A condition over the record's own fields, compiled to run in Python over the saved row;
    None when there is no condition or it reads linked records or lines (then SQL decides)."""
    if not condition:
        return None
    try:
        return compile_expression(condition, plain_scope(form.fields))
    except ExpressionError:
        return None


class _Conditions:
    """Record-trigger conditions for one write, checked cheaply: one that reads only the
    record's own fields runs in Python over the rows as saved (the writer hands them over,
    and each record's values are prepared once for every rule); one that reads linked records
    or lines runs in SQL. Both give the same answer (the expression language's differential
    test holds them to it)."""

    def __init__(self, conn: Connection, changes: Changes, read: LogicalReader) -> None:
        self.conn = conn
        self.changes = changes
        self.read = read
        self.envs: dict[int, Env] | None = None

    def passing(
        self, rule: _RecordRule, compiled: CompiledExpression | None, events: list[RecordEvent]
    ) -> list[RecordEvent]:
        if not rule.condition:
            return events
        if compiled is None:
            ids = [e.record_id for e in events]
            passed = set(
                passing_ids(self.conn, self.changes.form, rule.condition, ids, DEFAULT_TIME_ZONE)
            )
            return [e for e in events if e.record_id in passed]
        envs = self.envs if self.envs is not None else self._environments()
        run = compiled.closure
        return [e for e in events if (env := envs.get(e.record_id)) and run(env) is True]

    def may_pass(self, guard: Guard | None) -> bool:
        """False when no changed record passes ``guard``: every condition behind it fails."""
        if guard is None:
            return True
        envs = self.envs if self.envs is not None else self._environments()
        return any(guard.check(env) is True for env in envs.values())

    def _environments(self) -> dict[int, Env]:
        """Every changed record's values as expressions see them, once per write."""
        form, saved, read = self.changes.form, self.changes.rows, self.read
        ids = {e.record_id for e in self.changes.events}
        records = {i: read(saved[i]) for i in ids if i in saved}
        missing = sorted(ids - records.keys())
        if missing:
            table = compile_form(form).main
            for row in self.conn.execute(
                sa.select(table).where(one_of(self.conn, table.c.id, missing))
            ).mappings():
                records[row["id"]] = read(row)
        now = clock.utcnow(self.conn).astimezone(DEFAULT_TIME_ZONE)
        self.envs = {
            i: environment(values, today=now.date(), now=now) for i, values in records.items()
        }
        return self.envs


def on_record_changes(conn: Connection, changes: Changes) -> None:
    """Enqueue a run for every enabled record rule the events trigger and whose condition holds."""
    form_rules = _record_rules(conn, changes.form)
    if not form_rules.groups:
        return
    by_type: dict[str, list[RecordEvent]] = {}
    for event in changes.events:
        by_type.setdefault(event.event_type, []).append(event)
    depth = _depth.get() + 1
    conditions = _Conditions(conn, changes, form_rules.reader)
    queued: list[dict[str, Any]] = []
    for guard, members in form_rules.groups:
        if conditions.may_pass(guard):
            _queue(conn, members, by_type, conditions, depth, queued)
    queued.sort(key=lambda job: int(job["rule_id"]))  # in rule order, as the rules were made
    enqueue_many(conn, RUN, queued)


def _queue(
    conn: Connection,
    members: tuple[tuple[_RecordRule, CompiledExpression | None], ...],
    by_type: Mapping[str, list[RecordEvent]],
    conditions: _Conditions,
    depth: int,
    queued: list[dict[str, Any]],
) -> None:
    for rule, compiled in members:
        matching = by_type.get(rule.event_type or "")
        if matching and not rule.any_change:
            matching = [e for e in matching if rule.matches(e)]
        if not matching:
            continue
        if depth > MAX_DEPTH:
            for event in matching:
                _log(
                    conn,
                    rule.id,
                    event.record_id,
                    rule.trigger["type"],
                    depth,
                    "stopped",
                    [],
                    f"stopped: rules triggered each other {MAX_DEPTH} times in a row (a loop?)",
                    0,
                )
            continue
        for event in conditions.passing(rule, compiled, matching):
            queued.append(run_payload(rule, event.record_id, depth))


# ---- running actions -----------------------------------------------------------------------------


def run_rule(context: JobContext) -> None:
    """The ``rules.run`` job: perform the rule's actions on the record and log the run.

    The actions, the log entry and the job's completion commit in one transaction: a worker
    that dies before the commit leaves nothing behind and the run happens again; one that dies
    after it leaves the job done, so the run never happens twice."""
    payload = context.payload
    started = time.perf_counter()
    token = _depth.set(int(payload["depth"]))
    run = _run.set(_Run(context.job_id))
    try:
        try:
            with context.transaction() as conn:
                rule = conn.execute(
                    sa.select(rules).where(rules.c.id == payload["rule_id"])
                ).first()
                if rule is None or not rule.enabled:
                    return
                outcomes = perform(conn, rule, int(payload["record_id"]), DEFAULT_TIME_ZONE)
                warnings = [o["warning"] for o in outcomes if o.get("warning")]
                _log(
                    conn,
                    rule.id,
                    payload["record_id"],
                    payload["trigger"],
                    payload["depth"],
                    WARNING if warnings else SUCCEEDED,
                    outcomes,
                    ", ".join(warnings) or None,
                    _ms(started),
                )
        except MeridianError as exc:  # the actions were refused: retrying would not help
            with context.transaction() as conn:
                _log(
                    conn,
                    payload["rule_id"],
                    payload["record_id"],
                    payload["trigger"],
                    payload["depth"],
                    "failed",
                    [],
                    exc.detail,
                    _ms(started),
                )
    finally:
        _run.reset(run)
        _depth.reset(token)


def perform(conn: Connection, rule: Row[Any], record_id: int, tz: ZoneInfo) -> list[dict[str, Any]]:
    """Every action of ``rule`` on the record, in the caller's transaction."""
    form = get_form(conn, rule.form_key)
    known = actions_of(conn)
    return [
        known[action["type"]].perform(
            conn=conn, form=form, rule_id=rule.id, record_id=record_id, action=action, tz=tz
        )
        for action in rule.actions
    ]


# ---- time triggers: the scan is rules/scanning.py ------------------------------------------


def last_activity(conn: Connection, table: sa.Table, activity: Mapping[str, str] | None) -> Any:
    """When the record last saw activity: its own last update, or the newest linked record
    (a follow-up logged against a customer) when the trigger names such a form."""
    if not activity:
        return table.c.updated_at
    linked = compile_form(get_form(conn, activity["form"])).main
    newest = (
        sa.select(sa.func.max(linked.c.created_at))
        .where(linked.c[activity["link_field"]] == table.c.id, linked.c.deleted_at.is_(None))
        .scalar_subquery()
    )
    if conn.dialect.name == "postgresql":
        return sa.func.greatest(table.c.updated_at, newest, type_=table.c.updated_at.type)
    # SQLite's two-argument max() is NULL when either is: fall back to the update time.
    return sa.func.max(
        table.c.updated_at,
        sa.func.coalesce(newest, table.c.updated_at),
        type_=table.c.updated_at.type,
    )


def run_payload(rule: Any, record_id: Any, depth: int = 1) -> dict[str, Any]:
    """A :data:`RUN` job's payload, wherever a run is enqueued (a record's event, a time
    rule's scan, a schedule): ``record_id`` a value, or a column when built in SQL."""
    return {
        "rule_id": rule.id,
        "record_id": record_id,
        "trigger": rule.trigger["type"],
        "depth": depth,
    }


def enqueue_runs(
    conn: Connection, rule: Row[Any], record_id: Any, where: Any, now: datetime
) -> None:
    """One run job per record ``record_id`` selects under ``where``, built in SQL: a window or
    a schedule may hold thousands of records."""
    build = sa.func.jsonb_build_object if conn.dialect.name == "postgresql" else sa.func.json_object
    payload = build(*(part for pair in run_payload(rule, record_id).items() for part in pair))
    columns = ["kind", "payload", "state", "run_at", "attempts", "max_attempts", "created_at"]
    rows = sa.select(
        sa.literal(RUN),
        payload,
        sa.literal(READY),
        sa.literal(now, jobs.c.run_at.type),
        sa.literal(0),
        sa.literal(DEFAULT_ATTEMPTS),
        sa.literal(now, jobs.c.created_at.type),
    ).where(where)
    conn.execute(jobs.insert().from_select(columns, rows))


def run_scheduled_rule(context: JobContext) -> None:
    """The job a rule's cron schedule enqueues: a run for every live record meeting the
    condition, enqueued set-based in the transaction that completes the job (so once)."""
    with context.transaction() as conn:
        rule = conn.execute(
            sa.select(rules).where(rules.c.id == context.payload["rule_id"])
        ).first()
        if rule is None or not rule.enabled:
            return
        form = get_form(conn, rule.form_key)
        table = compile_form(form).main
        where: Any = table.c.deleted_at.is_(None)
        if rule.condition:
            where = sa.and_(where, expression_sql(conn, form, rule.condition, DEFAULT_TIME_ZONE))
        enqueue_runs(conn, rule, table.c.id, where, clock.utcnow(conn))


# ---- the run log ---------------------------------------------------------------------------------


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _log(
    conn: Connection,
    rule_id: int,
    record_id: int | None,
    trigger: str,
    depth: int,
    outcome: str,
    actions: list[dict[str, Any]],
    error: str | None,
    duration_ms: int,
) -> None:
    conn.execute(
        rule_runs.insert().values(
            rule_id=rule_id,
            form_key=sa.select(rules.c.form_key).where(rules.c.id == rule_id).scalar_subquery(),
            record_id=record_id,
            trigger=trigger,
            depth=depth,
            outcome=outcome,
            actions=actions,
            error=None if error is None else stored(error),
            duration_ms=duration_ms,
            at=clock.utcnow(conn),
        )
    )


def runs(
    conn: Connection,
    *,
    rule_id: int | None = None,
    form_key: str | None = None,
    record_id: int | None = None,
    limit: int = 100,
    locale: str = "en",
) -> list[dict[str, Any]]:
    """The run log, newest first: of one rule, or of one record (its form's rules); a failed
    run's error said in ``locale`` (it is kept as msgid and parameters, see ``_log``)."""
    query = sa.select(rule_runs).order_by(rule_runs.c.id.desc()).limit(max(1, min(limit, 500)))
    if rule_id is not None:
        query = query.where(rule_runs.c.rule_id == rule_id)
    if form_key is not None:
        query = query.where(rule_runs.c.form_key == form_key)
    if record_id is not None:
        query = query.where(rule_runs.c.record_id == record_id)
    return [
        {
            **row._mapping,
            "at": row.at.isoformat(),
            "error": None if row.error is None else localized(row.error, locale),
        }
        for row in conn.execute(query)
    ]
