"""Typed DDL statements for user tables, quoted by the dialect and built from validated keys."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.schema.compile import FormTables, index_name


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def add_column(conn: Connection, table: sa.Table, column: sa.Column[Any]) -> None:
    """ALTER TABLE … ADD COLUMN: nullable and without default, so no table rewrite."""
    column_type = column.type.compile(dialect=conn.dialect)
    conn.exec_driver_sql(
        f"ALTER TABLE {_quote(conn, table.name)} "
        f"ADD COLUMN {_quote(conn, column.name)} {column_type}"
    )


def rename_column(conn: Connection, table: sa.Table, old: str, new: str) -> None:
    conn.exec_driver_sql(
        f"ALTER TABLE {_quote(conn, table.name)} "
        f"RENAME COLUMN {_quote(conn, old)} TO {_quote(conn, new)}"
    )


def drop_column(conn: Connection, table: sa.Table, name: str) -> None:
    conn.exec_driver_sql(f"ALTER TABLE {_quote(conn, table.name)} DROP COLUMN {_quote(conn, name)}")


def drop_index(conn: Connection, index: sa.Index) -> None:
    assert index.name is not None
    conn.exec_driver_sql(f"DROP INDEX IF EXISTS {_quote(conn, str(index.name))}")


def create_search_index(conn: Connection, tables: FormTables) -> None:
    """Index ``_search`` for substring search: FTS5 trigram on SQLite, pg_trgm GIN on PostgreSQL."""
    table = _quote(conn, tables.main.name)
    if conn.dialect.name == "postgresql":
        name = _quote(conn, index_name(tables.main.name, "_search", "trgm"))
        conn.exec_driver_sql(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin (_search gin_trgm_ops)"
        )
        return
    fts = _quote(conn, fts_table_name(tables))
    conn.exec_driver_sql(
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5("
        f"_search, content={table}, content_rowid='id', tokenize='trigram')"
    )
    triggers = {
        "ai": f"AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO {fts}(rowid, _search) VALUES (new.id, new._search); END",
        "ad": f"AFTER DELETE ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, _search) VALUES ('delete', old.id, old._search); END",
        "au": f"AFTER UPDATE OF _search ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, _search) VALUES ('delete', old.id, old._search); "
        f"INSERT INTO {fts}(rowid, _search) VALUES (new.id, new._search); END",
    }
    for suffix, body in triggers.items():
        trigger = _quote(conn, f"{fts_table_name(tables)}_{suffix}")
        conn.exec_driver_sql(f"CREATE TRIGGER IF NOT EXISTS {trigger} {body}")


def fts_table_name(tables: FormTables) -> str:
    return f"{tables.main.name}__fts"


def create_form_tables(conn: Connection, tables: FormTables) -> None:
    tables.main.create(conn)
    for side in (*tables.lines.values(), *tables.links.values()):
        side.create(conn)
    create_search_index(conn, tables)
