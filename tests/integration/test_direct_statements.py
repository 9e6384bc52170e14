"""Statements sent straight to the driver (``db.direct``) and the writer's own ``BEGIN`` behave
as SQLAlchemy's: the engine's cursor listeners see them, each with an execution context of its
own (the statement counts of ``test_request_costs`` and ``test_approval_bulk_start`` rely on
it), they run in the caller's transaction, and a driver error
reaches the caller as SQLAlchemy's exception — a busy database at a writer's ``BEGIN
IMMEDIATE`` too."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from meridian.db.bulk import insert_many
from meridian.db.direct import fetch_all
from meridian.db.engine import make_engine, transaction
from meridian.db.revisions import bump, snapshot
from meridian.db.tables import revisions


def test_a_direct_statement_is_seen_by_the_engines_cursor_listeners(engine: Engine) -> None:
    before: list[str] = []
    contexts: list[Any] = []
    after: list[int] = []

    def seen(_c: Any, _cur: Any, statement: str, _p: Any, context: Any, _many: bool) -> None:
        before.append(statement)
        contexts.append(context)

    def done(_c: Any, cursor: Any, statement: str, *_rest: Any) -> None:
        after.append(cursor.rowcount)

    sa.event.listen(engine, "before_cursor_execute", seen)
    sa.event.listen(engine, "after_cursor_execute", done)
    try:
        with transaction(engine) as conn:
            tokens = snapshot(conn)
            insert_many(
                conn, revisions, [{"name": "ACME-LEAD", "token": "a"}, {"name": "Q3", "token": "b"}]
            )
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
        sa.event.remove(engine, "after_cursor_execute", done)
    assert sum("FROM sys_revision" in s for s in before) == 1, before
    assert sum(s.startswith("INSERT INTO sys_revision") for s in before) == 1, before
    assert len(after) == len(before) and after[-1] == 2, after
    # one context per statement, as SQLAlchemy gives (a listener may tell statements apart by it)
    assert None not in contexts and len({id(c) for c in contexts}) == len(contexts), contexts
    with engine.connect() as conn:
        assert dict(fetch_all(conn, "SELECT name, token FROM sys_revision"))["Q3"] == "b"
    assert "ACME-LEAD" not in tokens


def test_direct_statements_belong_to_the_callers_transaction(engine: Engine) -> None:
    with pytest.raises(RuntimeError), transaction(engine) as conn:
        bump(conn, "forms")
        changed = snapshot(conn)["forms"]
        insert_many(conn, revisions, [{"name": "ACME-LEAD", "token": "a"}])
        raise RuntimeError
    with transaction(engine) as conn:
        tokens = snapshot(conn)
        assert "ACME-LEAD" not in tokens and tokens.get("forms") != changed


def test_a_driver_error_reaches_the_caller_as_sqlalchemys(engine: Engine) -> None:
    with transaction(engine) as conn:
        insert_many(conn, revisions, [{"name": "ACME-LEAD", "token": "a"}])
    with pytest.raises(sa.exc.IntegrityError), transaction(engine) as conn:
        insert_many(conn, revisions, [{"name": "ACME-LEAD", "token": "b"}])


def test_a_writer_finding_the_database_busy_gets_sqlalchemys_operational_error(
    engine: Engine,
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("the writer's BEGIN IMMEDIATE is SQLite's")
    other = make_engine(str(engine.url))
    try:
        waiting = other.raw_connection()
        waiting.driver_connection.execute("PRAGMA busy_timeout=50")  # type: ignore[union-attr]
        waiting.close()  # back to the pool: the next transaction takes it
        with transaction(engine) as holder:
            bump(holder, "forms")
            with pytest.raises(sa.exc.OperationalError, match="locked"), transaction(other):
                pass
        with transaction(other) as conn:  # the lock released, the same connection writes
            bump(conn, "forms")
    finally:
        other.dispose()
