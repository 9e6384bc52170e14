"""Engine factory: SQLite (WAL, foreign keys) by default, PostgreSQL by URL."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from meridian.db import direct, revisions

WAL_CHECKPOINT_PAGES = 10_000
"""Pages the WAL may hold before a commit copies them into the database (SQLite's default is
1,000). A 1,000-record import writes more than that, so every batch paid a checkpoint and its
fsync; index pages touched by consecutive batches were copied each time. Measured on 1M
opportunities with commits of 1,000 rows: 5,400 → 7,100 records/s as raw SQL."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
    # Once checkpointed, the WAL file is cut back to 64 MB instead of keeping its peak size.
    cursor.execute("PRAGMA journal_size_limit=67108864")
    cursor.close()


def _postgres_session(dbapi_connection: Any, _record: Any) -> None:
    # psycopg prepares a statement on the server once it ran five times on a connection, and
    # PostgreSQL may then keep one generic plan for it, blind to the values — yet most of
    # Meridian's statements are about their values (a batch's `= ANY(…)` unique check, a `LIKE`
    # search, a filter on a rare or a common stage). Every execution is planned for its own
    # values; the parse is still saved. Measured (300k rows): a LIKE search planned afresh
    # costs about 0.3 ms more (1.2 against 0.9 ms); a 1,000-value `= ANY` check is unchanged.
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET plan_cache_mode = force_custom_plan")
    dbapi_connection.commit()


READ_ONLY = "meridian_read_only"
"""Execution option marking a connection that only reads (see ``read_transaction``)."""


SNAPSHOT_TAKEN = "meridian_snapshot_taken"
"""Execution option marking a read transaction handed on after it has already read (a
request's credential check, ``http.kept_read``): SQLite fixed its snapshot at that first read,
so a data revision read now may be newer than what the transaction sees."""


def snapshot_taken(conn: Connection) -> bool:
    """Whether ``conn``'s transaction had read before it was handed on (``SNAPSHOT_TAKEN``)."""
    return bool(conn.get_execution_options().get(SNAPSHOT_TAKEN, False))


def _sqlite_begin(conn: Connection) -> None:
    # SQLite upgrades a deferred transaction to a write lock lazily, and fails with "database is
    # locked" when two writers race; writers take the lock up front so they queue instead.
    # Readers begin deferred so they never wait for (or block) a writer in WAL mode.
    statement = "BEGIN" if conn.get_execution_options().get(READ_ONLY, False) else "BEGIN IMMEDIATE"
    # Sent on the DB-API connection itself: through SQLAlchemy's execute path (its events,
    # execution context and result) it cost a sixth of a write's ``engine.begin()``. No
    # statement counter or table-write count has anything to learn from a BEGIN; an error
    # still reaches the caller as SQLAlchemy's (a busy database: ``OperationalError``).
    dbapi = conn.dialect.loaded_dbapi
    try:
        conn.connection.driver_connection.execute(statement)  # type: ignore[union-attr]
    except dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(
            statement, (), exc, dbapi.Error, dialect=conn.dialect
        ) from exc


SNAPSHOT_OF = "meridian_snapshot_of"
"""Execution option of a PostgreSQL read transaction: the snapshot (``pg_export_snapshot()``
of another, still open) it begins in, so both see the same rows (``db.beside``)."""

_SNAPSHOT_ID = re.compile(r"[0-9A-F]+(-[0-9A-F]+)+")

TOKENS_AT_BEGIN = "meridian_tokens_at_begin"
"""Engine option: the schema is known to hold the revision tokens' table (the workspace sets
it once the database is migrated), so a PostgreSQL transaction reads them as it begins."""

BEGIN_ATTEMPTS = 16
"""Connections a PostgreSQL transaction tries before it gives up beginning: after the server
restarted, every pooled connection (5 kept and 10 more by default) is dead, and each is found
so in turn."""


def _postgres_begin(conn: Connection) -> None:
    # psycopg left to itself begins a transaction by sending BEGIN alone before the first
    # statement, and pool_pre_ping sent a ping before that at every checkout: a page of records
    # was five round trips (ping, BEGIN, the revision tokens every request reads, the page,
    # COMMIT). The driver runs in autocommit mode instead and each transaction begins here,
    # BEGIN and the tokens' read sent as one text, the tokens kept for the transaction's first
    # ``revisions.snapshot``: a page is three round trips. That first round trip is the ping
    # too: nothing has happened in the transaction yet, so when it finds the connection dead
    # (the server restarted, the connection was cut) the connection leaves the pool and the
    # transaction begins on another, as after a failed ping. A connection whose isolation level
    # SQLAlchemy was asked to set (AUTOCOMMIT for VACUUM or CREATE INDEX CONCURRENTLY) is left
    # to the driver; such a connection (background jobs only) is pinged instead, so it too
    # begins on a live connection.
    revisions.forget(conn)
    options = conn.get_execution_options()
    tokens = False
    level = options.get("isolation_level")
    # A connection taken afresh has the engine's level (AUTOCOMMIT), not one set on this one.
    attempts = BEGIN_ATTEMPTS if level in (None, "AUTOCOMMIT") else 1
    if level is not None:
        sql = "SELECT 1"
    else:
        sql = "BEGIN ISOLATION LEVEL REPEATABLE READ" if options.get(READ_ONLY) else "BEGIN"
        snapshot = options.get(SNAPSHOT_OF)
        if snapshot is not None:  # before any statement reads, as PostgreSQL requires
            if not _SNAPSHOT_ID.fullmatch(snapshot):
                raise ValueError(f"not a PostgreSQL snapshot: {snapshot!r}")
            sql = f"{sql}; SET TRANSACTION SNAPSHOT '{snapshot}'"
        tokens = options.get(TOKENS_AT_BEGIN, False)
        if tokens:
            sql = f"{sql}; {revisions.all_sql(conn.dialect)}"
    for attempt in range(1, attempts + 1):
        try:
            rows = direct.fetch_last(conn, sql)
        except sa.exc.DBAPIError as exc:
            if not exc.connection_invalidated or attempt == attempts:
                raise
            continue
        if tokens:
            revisions.offer(conn, rows)
        return


IDLE_PING_SECONDS = 10.0
"""A pooled PostgreSQL connection idle longer than this is pinged as it is taken out (a
firewall, a pooler or ``idle_session_timeout`` may have cut it); one in steady use is not —
its transaction's first round trip finds it dead (``_postgres_begin``)."""

_LAST_USED = "meridian_last_used"


def _note_last_use(_dbapi_connection: Any, record: Any) -> None:
    record.info[_LAST_USED] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    # A transaction begun by a statement (SQLAlchemy's autobegin) has its cursor before the
    # begin listener could replace a dead connection, so a connection long idle is checked here,
    # where the pool itself replaces it (DisconnectionError).
    last = record.info.get(_LAST_USED)
    if last is not None and time.monotonic() - last < IDLE_PING_SECONDS:
        return
    try:
        dbapi_connection.execute("SELECT 1")
    except Exception as exc:  # any failure of a bare ping means the connection is gone
        raise sa.exc.DisconnectionError(str(exc)) from exc


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create the engine for ``url``; for SQLite, create the folder and set the pragmas."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)

        @event.listens_for(engine, "connect")
        def _no_pysqlite_begin(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        event.listen(engine, "begin", _sqlite_begin)
        return engine
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", **kwargs)
    event.listen(engine, "connect", _postgres_session)
    event.listen(engine, "begin", _postgres_begin)
    event.listen(engine, "checkout", _ping_if_idle)
    event.listen(engine, "checkin", _note_last_use)
    return engine


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """One database transaction: commit on success, roll back on any exception."""
    with engine.begin() as conn:
        yield conn


@contextmanager
def read_transaction(engine: Engine, *, snapshot: str | None = None) -> Iterator[Connection]:
    """A transaction that only reads: one consistent snapshot, no write lock on SQLite.

    SQLite fixes a transaction's snapshot at its first read. PostgreSQL's default (READ
    COMMITTED) takes a new one for every statement, so two reads of one request could see
    different moments — an import's progress read ``finished`` beside the counts of a batch
    before; its reads run REPEATABLE READ, one snapshot from the first statement on, which a
    transaction that only reads gets at no cost (it can never fail to serialize). With
    ``snapshot`` (PostgreSQL), the snapshot another open transaction exported (``db.beside``)."""
    options: dict[str, Any] = {READ_ONLY: True}
    if snapshot is not None:
        options[SNAPSHOT_OF] = snapshot
    with engine.connect() as conn:
        reader = conn.execution_options(**options)
        with reader.begin():  # PostgreSQL: REPEATABLE READ (``_postgres_begin``)
            yield reader


def is_postgres(conn: Connection | Engine) -> bool:
    return conn.dialect.name == "postgresql"
