"""Bulk inserts straight through the driver's ``executemany``.

SQLAlchemy's executemany keeps per-row, per-parameter bookkeeping that costs several times
the driver's own work: measured on SQLite, about 35 µs of a 40 µs row in a 1,000-row import.
Here the statement is compiled once per table and column list, each value (None too) passes
through its column type's bind processor exactly as SQLAlchemy would pass it, and the driver
gets plain tuples (or dicts, for PostgreSQL's named parameters).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect


def insert_many(conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT ``rows``, which all have the same keys, in one driver ``executemany``."""
    if not rows:
        return
    keys = tuple(rows[0])
    statement = _prepared(table, keys, conn.dialect)
    conn.exec_driver_sql(statement.sql, [statement.parameters(row) for row in rows])


class _Prepared:
    def __init__(self, table: sa.Table, keys: tuple[str, ...], dialect: Dialect) -> None:
        compiled = (
            table.insert().values({key: sa.bindparam(key) for key in keys}).compile(dialect=dialect)
        )
        self.sql = str(compiled)
        processors: list[tuple[str, Callable[[Any], Any] | None]] = [
            (key, table.c[key].type.dialect_impl(dialect).bind_processor(dialect)) for key in keys
        ]
        order = compiled.positiontup
        if order is not None:  # positional parameters (SQLite): in the statement's order
            processors = [next(p for p in processors if p[0] == name) for name in order]
        plain = [key for key, process in processors if process is None]
        converted = [(key, process) for key, process in processors if process is not None]
        if order is None:  # named parameters (PostgreSQL's psycopg)

            def named(row: Mapping[str, Any]) -> dict[str, Any]:
                values = {key: row[key] for key in plain}
                values.update((key, process(row[key])) for key, process in converted)
                return values

            self.parameters: Callable[[Mapping[str, Any]], Any] = named
        else:
            self.parameters = lambda row: tuple(
                row[key] if process is None else process(row[key]) for key, process in processors
            )


@functools.lru_cache(maxsize=256)
def _prepared(table: sa.Table, keys: tuple[str, ...], dialect: Dialect) -> _Prepared:
    return _Prepared(table, keys, dialect)
