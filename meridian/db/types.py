"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; stored as UTC on both dialects."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[datetime]:
        """Said so that code reading values of any column type (keyset cursors) parses ours."""
        return datetime

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: Meridian stores aware datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], Any] | None:
        """On SQLite, the stored text read straight by ``datetime.fromisoformat`` (written in
        C) rather than through a regular expression: every list page reads two per row."""
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        def process(value: Any) -> datetime | None:
            if value is None:
                return None
            return datetime.fromisoformat(value).replace(tzinfo=UTC)

        return process


def sqlite_datetime_iso(stored: str) -> str:
    """A UTC date-time as SQLite holds it → its ISO 8601 text with the UTC offset, exactly as
    ``isoformat()`` of the aware value writes it (microseconds only when not zero), without
    building the datetime: list pages read several per row."""
    if len(stored) == 26 and stored[10] == " " and stored[19] == ".":
        fraction = "" if stored.endswith("000000") else stored[19:]
        return f"{stored[:10]}T{stored[11:19]}{fraction}+00:00"
    return datetime.fromisoformat(stored).replace(tzinfo=UTC).isoformat()


READ_AS_TEXT = frozenset({"sqlite", "postgresql"})
"""Dialects whose list pages read dates, date-times and JSON as text (:func:`listed_as_text`)."""

PG_DATETIME_TEXT = "YYYY-MM-DD HH24:MI:SS.US"
"""A UTC date-time as PostgreSQL writes it for a list page: the very text SQLite holds, so
one reader (:func:`sqlite_datetime_iso`) serves both."""


def listed_as_text(column: sa.ColumnElement[Any], dialect: str) -> sa.ColumnElement[Any]:
    """``column`` as a list page reads it raw, for a reader of its own to turn into the API
    value: SQLite's stored text itself; on PostgreSQL text the server writes in the form SQLite
    stores — a date-time in UTC by ``to_char`` (never hanging on the session's time zone or
    ``DateStyle``), a date likewise, JSON as its text. psycopg then builds no datetime or JSON
    value that SQLAlchemy converts and Meridian writes out again (issue 21)."""
    if dialect != "postgresql":
        return sa.type_coerce(column, sa.String)
    if isinstance(column.type, UTCDateTime):
        return sa.func.to_char(sa.func.timezone("UTC", column), PG_DATETIME_TEXT)
    if isinstance(column.type, sa.Date):
        return sa.func.to_char(column, "YYYY-MM-DD")
    return sa.cast(column, sa.Text)


def sqlite_date_iso(stored: str) -> str:
    """A date as SQLite holds it → its ISO 8601 text (already the same, bar odd rows)."""
    return stored if len(stored) == 10 else date.fromisoformat(stored[:10]).isoformat()


JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
"""JSON on SQLite, JSONB (indexable, comparable) on PostgreSQL."""

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""A 64-bit key; SQLite's INTEGER PRIMARY KEY is already 64-bit and is the rowid."""
