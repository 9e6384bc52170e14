"""Search text for a record, and the predicate that finds records by it.

The text holds each searchable value with its full pinyin and initials, so ``hwy`` finds
华为云. SQLite searches it through an FTS5 trigram index, PostgreSQL through pg_trgm.
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

MIN_TRIGRAM = 3


def searchable_fields(fields: tuple[Field, ...]) -> tuple[Field, ...]:
    return tuple(f for f in fields if field_type(f).searchable)


def record_search_text(fields: tuple[Field, ...], columns: Mapping[str, Any]) -> str | None:
    values = [str(columns[f.key]) for f in fields if columns.get(f.key) is not None]
    return search_text(*values) if values else None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_predicate(tables: FormTables, dialect: str, query: str) -> ColumnElement[bool]:
    term = query.strip().lower()
    table = tables.main
    if dialect == "postgresql":
        return table.c._search.like(f"%{_escape_like(term)}%", escape="\\")
    if len(term) >= MIN_TRIGRAM:
        fts = sa.table(f"{table.name}__fts", sa.column("rowid"))
        phrase = '"' + term.replace('"', '""') + '"'
        match = sa.text(f'"{table.name}__fts" MATCH :phrase').bindparams(phrase=phrase)
        return table.c.id.in_(sa.select(fts.c.rowid).where(match))
    return table.c._search.like(f"%{_escape_like(term)}%", escape="\\")
