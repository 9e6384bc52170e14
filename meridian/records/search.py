"""Search text for a record, and the predicate that finds records by it.

The text holds each searchable value with its full pinyin and initials, so ``hwy`` finds
华为云. PostgreSQL serves the substring match from a pg_trgm index; SQLite scans.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from meridian.core.pinyin import search_text
from meridian.schema.compile import FormTables
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Field


def searchable_fields(fields: tuple[Field, ...]) -> tuple[Field, ...]:
    return tuple(f for f in fields if field_type(f).searchable)


def record_search_text(fields: tuple[Field, ...], columns: Mapping[str, Any]) -> str | None:
    values = [str(columns[f.key]) for f in fields if columns.get(f.key) is not None]
    return search_text(*values) if values else None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_predicate(tables: FormTables, query: str) -> ColumnElement[bool]:
    """Substring match on ``_search`` (lower case); pg_trgm's GIN index serves it on PostgreSQL."""
    term = query.strip().lower()
    return tables.main.c._search.like(f"%{_escape_like(term)}%", escape="\\")


def columns_search_predicate(
    tables: FormTables, fields: tuple[Field, ...], query: str
) -> ColumnElement[bool]:
    """Substring match on the given text columns themselves (no pinyin): for an actor from
    whom some searchable field is hidden, whose values the search text would give away."""
    pattern = f"%{_escape_like(query.strip().lower())}%"
    matches = [sa.func.lower(tables.main.c[f.key]).like(pattern, escape="\\") for f in fields]
    return sa.or_(*matches) if matches else sa.false()
