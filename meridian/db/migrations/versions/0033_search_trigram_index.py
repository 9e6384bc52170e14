"""SQLite: each form's search text gets its trigram index (an FTS5 table beside the form's table)

A substring search on ``_search`` scanned every row on SQLite; the write path now keeps an FTS5
table with the trigram tokenizer in step (``records.search.index_search_texts``). Existing
forms get theirs here, filled from ``_search`` in one ``INSERT … SELECT`` per form. PostgreSQL
has had its pg_trgm index on the column since revision 0001: nothing to do there.

Revision ID: 0033
Revises: 0028
"""

import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0028"
branch_labels = None
depends_on = None


def search_table_name(table: str) -> str:
    """The name ``schema.compile.search_table_name`` gives, as of this revision."""
    return f"{table}___search"


def _form_tables(conn: sa.Connection) -> list[str]:
    existing = set(sa.inspect(conn).get_table_names())
    keys = conn.execute(sa.text("SELECT key FROM meta_form")).scalars()
    return [f"data_{key}" for key in keys if f"data_{key}" in existing]


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    quote = conn.dialect.identifier_preparer.quote
    for table in _form_tables(conn):
        index = quote(search_table_name(table))
        conn.exec_driver_sql(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {index}"
            " USING fts5(_search, tokenize='trigram', detail='none')"
        )
        conn.exec_driver_sql(f"DELETE FROM {index}")
        conn.exec_driver_sql(
            f"INSERT INTO {index} (rowid, _search)"
            f" SELECT id, _search FROM {quote(table)} WHERE _search IS NOT NULL"
        )


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    quote = conn.dialect.identifier_preparer.quote
    for table in _form_tables(conn):
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {quote(search_table_name(table))}")
