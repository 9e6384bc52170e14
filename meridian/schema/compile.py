"""The one place form metadata becomes SQLAlchemy tables.

Every form table gets the same system columns; child tables and many-to-many links get tables
of their own named after the form and field. Identifiers come from validated keys only.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from meridian.db.types import BigId, UTCDateTime
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Field, Form
from meridian.schema.name_keys import NAME_KEY, NAME_REVERSED, name_key_columns

MAX_IDENTIFIER = 63


def bounded_name(name: str) -> str:
    """Keep an identifier within PostgreSQL's 63 bytes with a stable hash suffix."""
    if len(name) <= MAX_IDENTIFIER:
        return name
    digest = hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{name[: MAX_IDENTIFIER - 9]}_{digest}"


def side_table_name(form: Form, field: Field) -> str:
    return bounded_name(f"data_{form.key}__{field.key}")


def search_table_name(table: str) -> str:
    """SQLite's trigram index of a form's ``_search`` text (an FTS5 table; rowid = record id).
    Field keys start with a letter, so no side table ``data_<form>__<field>`` takes this name;
    a form key has at most 40 characters, so the name stays within 63. Revision 0033 names it
    the same way."""
    return f"{table}___search"


def index_name(table: str, column: str, suffix: str = "ix") -> str:
    return bounded_name(f"{suffix}_{table}_{column}")


@dataclass(frozen=True)
class FormTables:
    """The physical tables of one form."""

    form: Form
    main: sa.Table
    lines: dict[str, sa.Table] = field(default_factory=dict)
    """Child-table field key → its lines table."""
    links: dict[str, sa.Table] = field(default_factory=dict)
    """Many-to-many link field key → its pair table."""

    def column(self, key: str) -> sa.Column[Any]:
        return self.main.c[key]

    def every_table(self) -> list[sa.Table]:
        """The main table, then every lines and pair table."""
        return [self.main, *self.lines.values(), *self.links.values()]


def _field_column(field: Field) -> sa.Column[Any]:
    return sa.Column(field.key, field_type(field).sql_type(field), nullable=True)


def field_indexes(table: sa.Table, field: Field) -> list[sa.Index]:
    """Create (and attach to ``table``) the indexes a field needs.

    Unique fields get a unique index over live rows only, so a soft-deleted record never blocks
    a new one; links, users, dates and selects are indexed because views filter on them.
    """
    kind = field_type(field)
    if not kind.has_column or field.archived:
        return []
    column = table.c[field.key]
    if field.unique:
        return [
            sa.Index(
                index_name(table.name, field.key, "uq"),
                column,
                unique=True,
                sqlite_where=table.c.deleted_at.is_(None),
                postgresql_where=table.c.deleted_at.is_(None),
            )
        ]
    if kind.board_grouping and (field.indexed or kind.always_indexed):
        return [board_index(table, index_name(table.name, field.key), column)]
    if field.indexed or kind.always_indexed:
        return [sa.Index(index_name(table.name, field.key), column)]
    return []


def board_index(table: sa.Table, name: str, *columns: sa.Column[Any]) -> sa.Index:
    """An index over live rows only that a kanban reads without touching the table: its
    counts (and sums, when ``columns`` end with the summed one) per column, and each column's
    cards newest first (issue 21: a stage index without ``deleted_at`` visited every row of
    1M opportunities to count them, 2.7 s)."""
    first, *rest = columns
    live = table.c.deleted_at.is_(None)
    return sa.Index(
        name,
        first,
        table.c.updated_at,
        table.c.id,
        *rest,
        table.c.deleted_at,
        sqlite_where=live,
        postgresql_where=live,
    )


def name_key_indexes(table: sa.Table) -> list[sa.Index]:
    """The indexes duplicate detection looks names up by (``schema/name_keys.py``): over the
    records that have a key only, so a form without a name field pays nothing for them."""
    indexes = []
    for key in (NAME_KEY, NAME_REVERSED):
        column = table.c[key]
        keyed = column.is_not(None)
        indexes.append(
            sa.Index(
                index_name(table.name, key), column, sqlite_where=keyed, postgresql_where=keyed
            )
        )
    return indexes


def system_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("_version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("owner_id", sa.BigInteger, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.BigInteger, nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("updated_by", sa.BigInteger, nullable=True),
        sa.Column("deleted_at", UTCDateTime, nullable=True),
        sa.Column("_search", sa.Text, nullable=True),
        *name_key_columns(),
    ]


@functools.lru_cache(maxsize=512)
def compile_form(form: Form) -> FormTables:
    """Build the tables for ``form`` on a private MetaData (no global registry).

    Compiling is pure, so results are memoised by the frozen (hashable) form definition.
    """
    metadata = sa.MetaData()
    stored = [
        f
        for f in form.fields
        if field_type(f).has_column and not (field_type(f).links_records and f.many)
    ]
    main = sa.Table(
        form.table_name, metadata, *system_columns(), *(_field_column(f) for f in stored)
    )
    for f in stored:
        field_indexes(main, f)
    sa.Index(index_name(main.name, "owner_id"), main.c.owner_id)
    name_key_indexes(main)
    lines: dict[str, sa.Table] = {}
    links: dict[str, sa.Table] = {}
    for f in form.fields:
        if field_type(f).holds_lines:
            lines[f.key] = _lines_table(metadata, form, f)
        elif field_type(f).links_records and f.many:
            links[f.key] = _pair_table(metadata, form, f)
    return FormTables(form=form, main=main, lines=lines, links=links)


def _lines_table(metadata: sa.MetaData, form: Form, field: Field) -> sa.Table:
    name = side_table_name(form, field)
    return sa.Table(
        name,
        metadata,
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "_parent_id",
            sa.BigInteger,
            sa.ForeignKey(f"{form.table_name}.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("_position", sa.Integer, nullable=False),
        *(_field_column(line) for line in field.fields if field_type(line).has_column),
        sa.Index(index_name(name, "_parent_id"), "_parent_id", "_position"),
    )


def _pair_table(metadata: sa.MetaData, form: Form, field: Field) -> sa.Table:
    name = side_table_name(form, field)
    return sa.Table(
        name,
        metadata,
        sa.Column(
            "source_id",
            sa.BigInteger,
            sa.ForeignKey(f"{form.table_name}.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("target_id", sa.BigInteger, primary_key=True),
        sa.Index(index_name(name, "target_id"), "target_id"),
    )
