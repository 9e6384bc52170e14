"""How a PostgreSQL transaction begins (``db.engine._postgres_begin``): ``BEGIN`` and the
revision tokens in one round trip, no ping before it, and a connection the server dropped
replaced at that first round trip — a request after the server cut every pooled connection
is answered as if nothing happened."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from meridian.db import revisions, statistics
from meridian.db.engine import (
    IDLE_PING_SECONDS,
    TOKENS_AT_BEGIN,
    make_engine,
    read_transaction,
    transaction,
)
from meridian.db.tables import revisions as revision_table
from meridian.http.deps import Workspace

pytestmark = pytest.mark.usefixtures("postgres_only")


@pytest.fixture
def postgres_only(database_url: str) -> None:
    if sa.make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("how PostgreSQL's transactions begin")


@contextmanager
def sent(engine: Engine) -> Iterator[list[str]]:
    """Every text the engine's connections send through a cursor, in order."""
    seen: list[str] = []

    def note(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        seen.append(" ".join(statement.split()))

    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)


def _cut_every_connection(engine: Engine, database_url: str) -> int:
    """What a server restart does to a pool: every connection the pool holds ended by the
    server (only this test's: other tests share the server)."""
    held = [engine.connect() for _ in range(3)]
    pids = [conn.connection.driver_connection.info.backend_pid for conn in held]  # type: ignore[union-attr]
    for conn in held:
        conn.close()
    admin = make_engine(database_url)
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            cut = conn.scalar(
                sa.text("SELECT count(pg_terminate_backend(pid)) FROM unnest(:pids) AS pid"),
                {"pids": pids},
            )
    finally:
        admin.dispose()
    return int(cut or 0)


def test_a_read_begins_with_its_tokens_in_one_round_trip(workspace: Workspace) -> None:
    with sent(workspace.engine) as texts, workspace.read() as conn:
        tokens = revisions.snapshot(conn)
        conn.execute(sa.select(sa.func.count()).select_from(revision_table)).scalar_one()
    assert texts[0].startswith("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT"), texts
    assert "FROM sys_revision" in texts[0], texts
    assert len(texts) == 2, texts  # the tokens cost no statement of their own, no ping
    assert tokens == dict(_tokens(workspace.engine))


def test_a_write_begins_with_its_tokens_and_sees_its_own_bump(workspace: Workspace) -> None:
    with sent(workspace.engine) as texts, workspace.transaction() as conn:
        revisions.bump(conn, "forms")  # before this transaction's first snapshot
        bumped = revisions.token(conn, "forms")
    assert texts[0].startswith("BEGIN; SELECT") and "FROM sys_revision" in texts[0], texts
    assert not any("sys_revision" in t for t in texts[2:]), texts
    assert bumped == dict(_tokens(workspace.engine))["forms"]


def _tokens(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(revision_table.c.name, revision_table.c.token)).all()
    return [(r.name, r.token) for r in rows]


def test_tokens_read_as_one_transaction_began_are_not_anothers(
    workspace: Workspace, database_url: str
) -> None:
    """One pooled connection: a transaction that never looked at its tokens leaves them on
    the connection; the next transaction there, begun by the driver at an isolation level
    SQLAlchemy set (no tokens read at its begin), must read its own."""
    single = make_engine(database_url, pool_size=1, max_overflow=0)
    single.update_execution_options(**{TOKENS_AT_BEGIN: True})
    try:
        with transaction(single) as conn:
            conn.execute(sa.text("SELECT 1"))  # tokens offered at begin, never taken
        with transaction(workspace.engine) as other:
            revisions.bump(other, "forms")
        fresh = dict(_tokens(workspace.engine))["forms"]
        with single.connect() as conn:
            serial = conn.execution_options(isolation_level="SERIALIZABLE")
            with serial.begin():
                assert revisions.token(serial, "forms") == fresh
        with read_transaction(single) as conn:
            assert revisions.token(conn, "forms") == fresh
    finally:
        single.dispose()


def test_requests_go_on_after_the_server_cut_every_pooled_connection(
    workspace: Workspace, client: TestClient, database_url: str
) -> None:
    engine = workspace.engine
    assert _cut_every_connection(engine, database_url) == 3
    page = client.get("/api/v1/roles")
    assert page.status_code == 200, page.text
    _cut_every_connection(engine, database_url)
    created = client.post("/api/v1/departments", json={"name": "华东大区"})
    assert created.status_code == 201, created.text
    _cut_every_connection(engine, database_url)
    with read_transaction(engine) as conn:
        assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
    _cut_every_connection(engine, database_url)
    with transaction(engine) as conn:
        revisions.bump(conn, "forms")


def test_a_vacuum_goes_on_after_the_server_cut_every_pooled_connection(
    workspace: Workspace, database_url: str
) -> None:
    """VACUUM and concurrent index builds run on connections in autocommit, begun by their
    statement: a connection idle for a while is pinged as the pool hands it out, and a dead
    one is replaced there."""
    engine = workspace.engine
    assert _cut_every_connection(engine, database_url) == 3
    later = time.monotonic() + IDLE_PING_SECONDS + 1  # the pool's connections have been idle
    with mock.patch.object(time, "monotonic", lambda: later):
        statistics.vacuum(engine, ["sys_revision"])
