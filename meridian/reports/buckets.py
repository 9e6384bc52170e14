"""Dates and times bucketed by day, ISO week (from Monday), month, quarter or year, in SQL.

A time is first turned into the date it falls on in the company time zone (the expression
language's ``local_date``, which spells the zone's offsets out for SQLite); each bucket is
named by the ISO date of its first day on both dialects, so the two agree to the row.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from meridian.expr import sqlops
from meridian.expr.sqlops import SqlContext

Sql = ColumnElement[Any]


def local_day(ctx: SqlContext, column: Sql, kind: str) -> Sql:
    """The calendar date of a date or time column."""
    return sqlops.local_date(ctx, column) if kind == "datetime" else column


def bucket_start(ctx: SqlContext, day: Sql, bucket: str) -> Sql:
    """The first day of ``day``'s bucket, as ISO text (SQLite) or a date (PostgreSQL)."""
    if ctx.postgres:
        if bucket == "day":
            return sa.cast(day, sa.Date())
        truncated = sa.func.date_trunc(bucket, sa.cast(day, sa.DateTime()))
        return sa.cast(truncated, sa.Date())
    text = sa.type_coerce(day, sa.String())
    if bucket == "day":
        return sa.func.date(text, type_=sa.String())
    if bucket == "week":
        return sa.func.date(text, "weekday 0", "-6 days", type_=sa.String())
    if bucket == "month":
        return sa.func.strftime("%Y-%m-01", text, type_=sa.String())
    if bucket == "year":
        return sa.func.strftime("%Y-01-01", text, type_=sa.String())
    month = sa.cast(sa.func.strftime("%m", text), sa.Integer())
    back = sa.cast((month - 1) % 3, sa.String()).concat(" months")
    return sa.func.date(text, "start of month", "-" + back, type_=sa.String())


def as_date(value: Any) -> date | None:
    """A bucket's start as the database returned it."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def bucket_end(start: date, bucket: str) -> date:
    """The last day of the bucket that starts on ``start``."""
    if bucket == "day":
        return start
    if bucket == "week":
        return start + timedelta(days=6)
    months = {"month": 1, "quarter": 3, "year": 12}[bucket]
    index = start.year * 12 + start.month - 1 + months
    return date(index // 12, index % 12 + 1, 1) - timedelta(days=1)


def bucket_label(start: date, bucket: str) -> str:
    if bucket == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    if bucket == "month":
        return f"{start.year}-{start.month:02d}"
    if bucket == "quarter":
        return f"{start.year} Q{(start.month - 1) // 3 + 1}"
    if bucket == "year":
        return str(start.year)
    return start.isoformat()
