"""Every form's table gets its records' name keys (``_name_key``, ``_name_rev``), indexed

Duplicate detection for imports looked stored names up with a ``LIKE`` over the search text
and compared each block of similar names with its oldest 2,000 records only. It now looks them
up by the normalised company name the write path keeps (``schema/name_keys.py``): here the two
columns and their indexes are added to the tables made before, and filled from each form's
title field — one UPDATE per table on SQLite, one UPDATE … FROM (VALUES …) per 5,000 records on
PostgreSQL.

Revision ID: 0031
Revises: 0027
"""

import json

import sqlalchemy as sa
from alembic import op

from meridian.schema.compile import index_name, name_key_indexes
from meridian.schema.name_keys import (
    NAME_KEY,
    NAME_REVERSED,
    fill_name_keys,
    name_key_columns,
    name_source,
)

revision = "0031"
down_revision = "0027"
branch_labels = None
depends_on = None


def _forms(conn: sa.Connection) -> list[tuple[str, str | None]]:
    """(table, title field) of each form whose table exists."""
    existing = set(sa.inspect(conn).get_table_names())
    found = []
    for key, definition in conn.execute(sa.text("SELECT key, definition FROM meta_form")):
        parsed = json.loads(definition) if isinstance(definition, str) else definition
        table = f"data_{key}"
        if table in existing:
            found.append((table, (parsed or {}).get("title_field")))
    return found


def upgrade() -> None:
    conn = op.get_bind()
    quote = conn.dialect.identifier_preparer.quote
    for name, title_field in _forms(conn):
        present = {c["name"] for c in sa.inspect(conn).get_columns(name)}
        for column in name_key_columns():
            if column.name in present:  # a table made by this version's code
                continue
            column_type = column.type.compile(dialect=conn.dialect)
            conn.exec_driver_sql(
                f"ALTER TABLE {quote(name)} ADD COLUMN {quote(column.name)} {column_type}"
            )
        table = sa.Table(name, sa.MetaData(), autoload_with=conn)
        fill_name_keys(conn, table, name_source(table, title_field))
        for index in name_key_indexes(table):
            index.create(conn, checkfirst=True)


def downgrade() -> None:
    conn = op.get_bind()
    quote = conn.dialect.identifier_preparer.quote
    for name, _ in _forms(conn):
        for column in (NAME_KEY, NAME_REVERSED):
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {quote(index_name(name, column))}")
        for column in (NAME_KEY, NAME_REVERSED):
            if column in {c["name"] for c in sa.inspect(conn).get_columns(name)}:
                conn.exec_driver_sql(f"ALTER TABLE {quote(name)} DROP COLUMN {quote(column)}")
