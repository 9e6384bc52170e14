"""Rows related to each record of a report, aggregated per record in one joined subquery.

A report over leads can ask when each lead was first answered (its first follow-up or done
task), a report over customers what each paid in total and in two periods (LTV, NRR). The
related records are read as the viewer may read them (row scope, trash, hidden fields), so a
follow-up the viewer cannot see answers nothing; tasks count when the record is readable.

``<key>.count``, ``<key>.sum``, ``<key>.first_at`` (the first at or after the record's
creation: a response answers a record that exists), ``<key>.first_hours``,
``<key>.previous_count``, ``<key>.previous_sum``; see :class:`meridian.reports.model.Related`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.core.i18n import Text
from meridian.db.tables import tasks
from meridian.db.types import UTCDateTime
from meridian.errors import FieldError, ValidationFailed
from meridian.expr.sqlops import SqlContext
from meridian.records.readable import Readable
from meridian.reports.history import hundredths, seconds_between
from meridian.reports.model import Related
from meridian.schema.catalog import find_form
from meridian.schema.compile import compile_form
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Form

Sql = ColumnElement[Any]
COLUMNS = ("count", "sum", "first_at", "first_hours", "previous_count", "previous_sum")
PERIOD_DAYS = 365
"""A period aggregate without a dashboard date range: the last 365 days."""


def _refused(path: str, code: str, message: str, value: Any = None) -> ValidationFailed:
    return ValidationFailed([FieldError(path, code, message, value)])


@dataclass(frozen=True)
class Period:
    """The current and the previous period of a ``period`` aggregate (inclusive days)."""

    low: date
    high: date

    @property
    def previous(self) -> Period:
        length = (self.high - self.low).days + 1
        return Period(self.low - timedelta(days=length), self.low - timedelta(days=1))


def default_period(today: date) -> Period:
    return Period(today - timedelta(days=PERIOD_DAYS - 1), today)


@dataclass(frozen=True)
class Aggregated:
    """One related spec compiled: the subquery (``rid`` plus the aggregates) and the scale
    of its sum."""

    spec: Related
    subquery: sa.Subquery
    scale: int
    timed: bool
    """Whether ``at`` is a time (``first_hours`` needs one)."""


def aggregate(
    *,
    conn: Connection,
    actor: Actor,
    tz: ZoneInfo,
    ctx: SqlContext,
    form: Form,
    spec: Related,
    index: int,
    period: Period,
) -> Aggregated:
    path = f"related.{index}"
    selects: list[sa.Select[Any]] = []
    kinds: set[str] = set()
    scales: set[int] = set()
    for i, part in enumerate(spec.parts):
        where = f"{path}.parts.{i}"
        if part.tasks:
            kinds.add("datetime")
            selects.append(
                sa.select(
                    tasks.c.record_id.label("rid"),
                    tasks.c.closed_at.label("at"),
                    sa.cast(sa.null(), sa.BigInteger()).label("amount"),
                ).where(
                    tasks.c.form_key == form.key,
                    tasks.c.state == "done",
                    tasks.c.closed_at.is_not(None),
                )
            )
            continue
        target = find_form(conn, part.form or "")
        if target is None:
            raise _refused(f"{where}.form", "unknown_form", Text("no such form"), part.form)
        rows = Readable.of(conn, form_access(conn, actor, target), tz, alias=f"r{index}_{i}")
        table = rows.table
        link = rows.form.get_field(part.link or "")
        if (
            link is None
            or link.archived
            or not field_type(link).links_records
            or link.many
            or link.target != form.key
            or link.key not in table.c
        ):
            raise _refused(
                f"{where}.link",
                "unknown_field",
                Text("{key!r} is no link of {form!r} to this form", key=part.link, form=target.key),
                part.link,
            )
        at, kind = _at(rows, part.at, f"{where}.at")
        kinds.add(kind)
        amount: Sql = sa.cast(sa.null(), sa.BigInteger())
        if part.amount is not None:
            field = rows.form.get_field(part.amount)
            if (
                field is None
                or field.archived
                or part.amount not in table.c
                or field_type(field).report_kind(field) != "number"
            ):
                raise _refused(
                    f"{where}.amount",
                    "not_a_number",
                    Text(
                        "{key!r} is no number field of {form!r}", key=part.amount, form=target.key
                    ),
                    part.amount,
                )
            storage_scale = getattr(field_type(field), "storage_scale", None)
            scales.add(storage_scale(field) if storage_scale is not None else 0)
            amount = sa.cast(table.c[part.amount], sa.BigInteger())
        selects.append(
            rows.select(
                table.c[link.key].label("rid"), at.label("at"), amount.label("amount")
            ).where(table.c[link.key].is_not(None))
        )
    if len(kinds) > 1:
        raise _refused(
            f"{path}.parts", "mixed_times", Text("the parts' times must all be dates or all times")
        )
    if len(scales) > 1:
        raise _refused(
            f"{path}.parts", "mixed_scales", Text("the parts' amounts must have the same places")
        )
    rows_union = (selects[0] if len(selects) == 1 else sa.union_all(*selects)).subquery(
        f"ru{index}"
    )
    kind = kinds.pop()
    at = rows_union.c.at
    amount = rows_union.c.amount
    # A response answers a record that exists: the first related row at or after the
    # record's creation (a time; a date counts from the day of creation).
    record = compile_form(form).main.alias(f"rc{index}")
    created: Sql = record.c.created_at
    if kind == "date":
        created = sa.literal(date(1, 1, 1))
    columns: list[Sql] = [
        rows_union.c.rid.label("rid"),
        sa.func.min(sa.case((at >= created, at))).label("first_at"),
    ]
    if spec.period:
        now_in = _within(at, kind, period, tz)
        before = _within(at, kind, period.previous, tz)
        columns += [
            sa.func.count(sa.case((now_in, 1))).label("n"),
            sa.func.sum(sa.case((now_in, amount))).label("total"),
            sa.func.count(sa.case((before, 1))).label("pn"),
            sa.func.sum(sa.case((before, amount))).label("ptotal"),
        ]
    else:
        columns += [sa.func.count().label("n"), sa.func.sum(amount).label("total")]
    source: sa.FromClause = rows_union
    if kind != "date":
        source = rows_union.join(record, record.c.id == rows_union.c.rid)
    grouped = (
        sa.select(*columns)
        .select_from(source)
        .group_by(rows_union.c.rid)
        .subquery(f"rel_{spec.key}")
    )
    return Aggregated(spec, grouped, scales.pop() if scales else 0, kind == "datetime")


def _at(rows: Readable, key: str, path: str) -> tuple[Sql, str]:
    table = rows.table
    if key in ("created_at", "updated_at"):
        return table.c[key], "datetime"
    field = rows.form.get_field(key)
    kind = field_type(field).report_kind(field) if field is not None else None
    if field is None or field.archived or key not in table.c or kind not in ("date", "datetime"):
        raise _refused(path, "not_a_date", Text("{key!r} is no date or time field", key=key), key)
    return table.c[key], kind


def _within(at: Sql, kind: str, period: Period, tz: ZoneInfo) -> Sql:
    if kind == "date":
        return sa.and_(at >= period.low, at <= period.high)
    from meridian.reports.history import end_of_day

    low = end_of_day(period.low - timedelta(days=1), tz)
    high = end_of_day(period.high, tz)
    return sa.and_(at >= sa.literal(low, UTCDateTime()), at < sa.literal(high, UTCDateTime()))


def column(
    found: Aggregated, name: str, created_at: Sql, ctx: SqlContext, path: str, ref: str
) -> tuple[Sql, str, int]:
    """(SQL, kind, scale) of ``<key>.<name>``; 422 naming ``path`` for an unknown name."""
    sub = found.subquery.c
    if name == "count":
        return sa.func.coalesce(sub.n, 0), "number", 0
    if name == "sum":
        return sa.func.coalesce(sub.total, 0), "number", found.scale
    if name in ("previous_count", "previous_sum") and found.spec.period:
        if name == "previous_count":
            return sa.func.coalesce(sub.pn, 0), "number", 0
        return sa.func.coalesce(sub.ptotal, 0), "number", found.scale
    if name == "first_at":
        return sub.first_at, "datetime" if found.timed else "date", 0
    if name == "first_hours" and found.timed:
        return hundredths(seconds_between(ctx, created_at, sub.first_at), 3600), "number", 2
    raise _refused(
        path,
        "unknown_field",
        Text(
            "{ref!r}: a related aggregate is one of {names}",
            ref=ref,
            names=", ".join(COLUMNS),
        ),
        ref,
    )
