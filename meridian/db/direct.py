"""Hot statements sent straight to SQLite's DB-API cursor, still seen by the engine's cursor
listeners.

SQLAlchemy's execute path (execution context, parameter distilling, result set-up, its events)
costs ~26 µs a statement against ~2 µs for the cursor itself; every API request reads the
revision tokens, and every write keeps its history and search index and queues its jobs. A
statement whose text and parameters are already what the driver takes (plain SQL, values
already through their bind processors) goes to the cursor here. The engine's
``before_cursor_execute`` and ``after_cursor_execute`` listeners are told of it as SQLAlchemy
would tell them (a statement counter sees it, with a :class:`DirectContext` of its own as the
execution context), and a driver error reaches the caller as SQLAlchemy's exception
(``IntegrityError``, ``OperationalError`` …).

Only on SQLite and inside a transaction: outside one SQLAlchemy begins a transaction first
(which the cursor would not), and on PostgreSQL a round trip dwarfs the saving while
SQLAlchemy's handling of a dropped connection (invalidating it in the pool) is worth keeping.
Elsewhere the statement goes through ``exec_driver_sql`` as before — but for the one text
that begins a PostgreSQL transaction (:func:`fetch_last`), which SQLAlchemy's execute path
cannot send while it begins one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


class DirectContext:
    """The execution context cursor listeners get for a direct statement: one object per
    statement, as SQLAlchemy gives (a listener may tell statements apart by it, the pages of
    one executemany sharing theirs), without a compiled form."""

    __slots__ = ("compiled", "executemany", "parameters", "statement")

    def __init__(self, statement: str, parameters: Any, executemany: bool) -> None:
        self.statement = statement
        self.parameters = parameters
        self.executemany = executemany
        self.compiled = None


def available(conn: Connection) -> bool:
    """Whether statements on ``conn`` go straight to the cursor (SQLite, in a transaction):
    a caller with SQL of SQLite's own asks first, and sends SQLAlchemy's statement if not."""
    return conn.dialect.name == "sqlite" and conn.in_transaction() and not conn.engine.echo


def fetch_all(conn: Connection, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` with ``parameters`` (one statement), as plain tuples."""
    if not available(conn):
        return [tuple(row) for row in conn.exec_driver_sql(sql, tuple(parameters))]
    return _run(conn, sql, parameters, many=False)


def fetch_last(conn: Connection, sql: str) -> list[tuple[Any, ...]]:
    """The rows of the last of several statements without parameters sent as one text
    (PostgreSQL's simple query protocol: one round trip for all). A dead connection is
    invalidated before the error is raised (``connection_invalidated``), as SQLAlchemy's own
    execute path would, so the caller may begin again on another; for the begin of a
    transaction (``db.engine``), where SQLAlchemy's execute path is closed to it."""
    try:
        return _run(conn, sql, (), many=False, last=True)
    except sa.exc.DBAPIError as exc:
        if exc.connection_invalidated:
            conn.invalidate(exc)
        raise


def execute_many(conn: Connection, sql: str, parameters: Sequence[Any]) -> None:
    """Run ``sql`` once per entry of ``parameters`` (tuples, or dicts for named parameters),
    in one driver call."""
    if not parameters:
        return
    if not available(conn):
        conn.exec_driver_sql(sql, parameters)
        return
    if len(parameters) == 1:
        _run(conn, sql, parameters[0], many=False)
    else:
        _run(conn, sql, parameters, many=True)


def _run(
    conn: Connection, sql: str, parameters: Any, *, many: bool, last: bool = False
) -> list[tuple[Any, ...]]:
    dbapi = conn.dialect.loaded_dbapi
    pooled = conn.connection
    cursor = pooled.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        listened = conn.dispatch.before_cursor_execute or conn.dispatch.after_cursor_execute
        context = DirectContext(sql, parameters, many) if listened else None
        if listened:
            for before in conn.dispatch.before_cursor_execute:
                sql, parameters = before(conn, cursor, sql, parameters, context, many)
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        while last and cursor.nextset():
            pass
        rows = cursor.fetchall() if cursor.description is not None else []
        if listened:
            for after in conn.dispatch.after_cursor_execute:
                after(conn, cursor, sql, parameters, context, many)
        return rows
    except dbapi.Error as exc:
        dead = conn.dialect.is_disconnect(exc, pooled.dbapi_connection, cursor)
        raise sa.exc.DBAPIError.instance(
            sql, parameters, exc, dbapi.Error, connection_invalidated=dead, dialect=conn.dialect
        ) from exc
    finally:
        cursor.close()
