"""Migrated template databases: migrate once per test process, copy for every test.

Running every Alembic revision cost each database test 0.1–0.4 s of setup (more on a busy
machine) against a few milliseconds for most tests themselves. A copy is the migrated database
exactly — tables, indexes, ``alembic_version`` and the seeded system rows — so tests see what
an upgrade leaves behind; ``tests/integration/test_migrations.py`` still runs the migrations
themselves and checks that a copy equals their result.

- SQLite: the template is a file, copied byte for byte.
- PostgreSQL: every statement the migrations send that changes something is recorded once
  (reads — Alembic's look at the catalog — are not needed again) and replayed into a schema.
  The statements name no schema, so they land wherever ``search_path`` points. Replaying
  still costs the server about 0.3 s of CPU per test (61 tables, 110 indexes, then a
  ``DROP SCHEMA … CASCADE``), so each test process replays once into a schema of its own and
  *puts it back* before every test that wants a migrated database (``PostgresTemplate.
  restore``): tables, views and sequences the last test created are dropped, every table
  that holds rows the template does not is emptied (``DELETE``: a ``TRUNCATE`` makes new
  files for the table and its indexes and costs ~3 ms of server CPU per table), seeded tables
  get the template's rows again and sequences its positions. Before that, the schema's shape
  (columns, defaults, indexes, constraints, triggers, functions) is compared with the
  template's; a schema changed in any other way, or one a straggling connection still locks,
  is dropped and replayed afresh, so a test never sees what an earlier one left. The shape is
  compared only when the catalog's fingerprint (which transaction wrote each of its rows)
  changed since the last putting back (``tests/integration/test_postgres_template.py``
  changes the shape in each way the comparison covers).
  Measured against the alternatives in the note of this change: a template *database*
  (``CREATE DATABASE … TEMPLATE``) writes about 5 MB of WAL per copy and its ``DROP
  DATABASE`` waits for a checkpoint of the whole cluster; ``TRUNCATE`` of every table costs
  about as much as the replay.

Each copy gets fresh revision tokens (``meridian.db.revisions``), as a new migration would:
per-process caches are keyed by them, and two databases must never share one. On PostgreSQL
they are given in the transaction that puts the schema back.
"""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from meridian.db import direct
from meridian.db.engine import make_engine
from meridian.db.migrate import upgrade_database
from meridian.db.tables import revisions

_FRESH_TOKENS = {
    "sqlite": f"UPDATE {revisions.name} SET token = lower(hex(randomblob(16)))",
    "postgresql": f"UPDATE {revisions.name} SET token = replace(gen_random_uuid()::text, '-', '')",
}
"""Every revision a new random token (32 hex digits, as ``secrets.token_hex(16)``) in one
statement: a SELECT of the names and an UPDATE per name were eight round trips a test."""


@dataclass(frozen=True)
class SqliteTemplate:
    path: Path

    @classmethod
    def build(cls, folder: Path) -> SqliteTemplate:
        path = folder / "template.db"
        engine = make_engine(f"sqlite:///{path}")
        upgrade_database(engine)
        engine.dispose()
        # Fold the write-ahead log into the file, so the file alone is the whole database.
        with closing(sqlite3.connect(path)) as raw:
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return cls(path)

    def copy_to(self, url: str) -> Engine:
        target = sa.make_url(url).database
        assert target is not None
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.path, target)
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql(_FRESH_TOKENS["sqlite"])
        return engine


# One line per part of the current schema's shape, with the schema's own name taken out: the
# same text for two schemas migrated alike, different after any change to a table's columns,
# defaults, indexes, constraints or triggers, or to the schema's functions and types.
_SHAPE = """
SELECT md5(string_agg(replace(line, current_schema() || '.', ''), E'\\n' ORDER BY line))
FROM (
  SELECT 'rel ' || c.relname || ' ' || c.relkind::text AS line
  FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace
  UNION ALL
  SELECT 'col ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
         || ' ' || a.attnotnull || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  WHERE c.relnamespace = current_schema()::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT 'idx ' || pg_get_indexdef(i.indexrelid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
  WHERE c.relnamespace = current_schema()::regnamespace
  UNION ALL
  SELECT 'con ' || c.relname || ' ' || k.conname || ' ' || pg_get_constraintdef(k.oid)
  FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
  WHERE c.relnamespace = current_schema()::regnamespace
  UNION ALL
  SELECT 'trg ' || pg_get_triggerdef(t.oid)
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
  WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal
  UNION ALL
  SELECT 'fn ' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') '
         || md5(p.prosrc)
  FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace
  UNION ALL
  SELECT 'typ ' || t.typname || ' ' || t.typtype::text
  FROM pg_type t
  WHERE t.typnamespace = current_schema()::regnamespace AND t.typrelid = 0
    AND t.typcategory <> 'A'
) AS shape
"""

_RELATIONS = """
SELECT c.relname, c.relkind FROM pg_class c
WHERE c.relnamespace = current_schema()::regnamespace
"""

_SEQUENCES = """
SELECT s.relname, q.last_value
FROM pg_class s, LATERAL (SELECT last_value FROM pg_sequences
                          WHERE schemaname = current_schema() AND sequencename = s.relname) q
WHERE s.relnamespace = current_schema()::regnamespace AND s.relkind = 'S'
"""


# The catalog rows the shape is read from, by the transaction that wrote each (``xmin``): a
# row a later transaction adds, changes (a new row version) or removes changes the list, so an
# equal list means an unchanged shape — without the ~20 ms of the server's CPU that rendering
# every definition for ``_SHAPE`` costs. Only a schema's own list, at two moments, compares.
_FINGERPRINT = """
WITH c AS MATERIALIZED (
  SELECT oid, xmin FROM pg_class WHERE relnamespace = current_schema()::regnamespace
)
SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) FROM (
  SELECT xmin AS x FROM c
  UNION ALL SELECT a.xmin FROM pg_attribute a JOIN c ON c.oid = a.attrelid
  UNION ALL SELECT d.xmin FROM pg_attrdef d JOIN c ON c.oid = d.adrelid
  UNION ALL SELECT i.xmin FROM pg_index i JOIN c ON c.oid = i.indrelid
  UNION ALL SELECT k.xmin FROM pg_constraint k JOIN c ON c.oid = k.conrelid
  UNION ALL SELECT t.xmin FROM pg_trigger t JOIN c ON c.oid = t.tgrelid
  UNION ALL SELECT p.xmin FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace
  UNION ALL SELECT t.xmin FROM pg_type t WHERE t.typnamespace = current_schema()::regnamespace
) AS catalog_rows
"""


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _content(table: str) -> str:
    """A query for the md5 of ``table``'s rows, for telling a seeded table changed."""
    rows = "coalesce(string_agg(t::text, ',' ORDER BY t::text), '')"
    return f"SELECT md5({rows}) FROM {_quoted(table)} t"


class SchemaChanged(Exception):
    """The schema no longer has the template's shape, or could not be locked in time."""


@dataclass(frozen=True)
class _Shape:
    """What a freshly migrated schema holds, to put a used one back."""

    digest: str
    relations: frozenset[str]
    tables: tuple[str, ...]
    seeded: dict[str, str]  # table → md5 of its rows
    sequences: dict[str, int | None]  # sequence → last value (None: never used)


def _read_shape(conn: sa.Connection) -> _Shape:
    relations = conn.execute(sa.text(_RELATIONS)).all()
    tables = tuple(sorted(name for name, kind in relations if kind == "r"))
    seeded = {}
    for table in tables:
        if conn.scalar(sa.text(f"SELECT EXISTS (SELECT 1 FROM {_quoted(table)})")):
            seeded[table] = str(conn.scalar(sa.text(_content(table))))
    return _Shape(
        digest=str(conn.scalar(sa.text(_SHAPE))),
        relations=frozenset(name for name, _ in relations),
        tables=tables,
        seeded=seeded,
        sequences={str(name): value for name, value in conn.execute(sa.text(_SEQUENCES)).all()},
    )


def _schema_url(base: str, schema: str) -> str:
    url = sa.make_url(base).update_query_dict({"options": f"-csearch_path={schema},public"})
    return url.render_as_string(hide_password=False)


@dataclass
class PostgresTemplate:
    statements: list[tuple[str, Any, bool]] = field(default_factory=list)
    base_url: str = ""
    pristine: str = ""  # the schema migrated once, read from to put seeded rows back
    shape: _Shape | None = None
    reused: str = ""  # this process's schema, put back before each test that wants one
    keeper: Engine | None = None  # the engine that puts it back, its connection kept
    fingerprint: str = ""  # the reused schema's catalog fingerprint when last put back
    abandoned: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, base_url: str) -> PostgresTemplate:
        """Migrate a new schema on ``base_url``'s database, recording the changes; it stays
        (``drop`` removes it and the process's reused schema)."""
        pristine = f"t_{uuid.uuid4().hex[:16]}"
        admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {_quoted(pristine)}"))
        admin.dispose()
        engine = make_engine(_schema_url(base_url, pristine))
        recorded: list[tuple[str, Any, bool]] = []

        def record(
            _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool
        ) -> None:
            if not statement.lstrip().upper().startswith("SELECT"):
                recorded.append((statement, parameters, many))

        event.listen(engine, "before_cursor_execute", record)
        try:
            upgrade_database(engine)
        finally:
            event.remove(engine, "before_cursor_execute", record)
        try:
            with engine.connect() as conn:
                shape = _read_shape(conn)
        finally:
            engine.dispose()
        return cls(recorded, base_url, pristine, shape)

    def copy_to(self, url: str) -> Engine:
        """An engine on ``url``: the process's reused schema as ``restore`` left it, or any
        other (empty) schema with the migration's changes replayed into it, in one
        transaction; either with fresh revision tokens."""
        engine = make_engine(url)
        if not (self.reused and url == _schema_url(self.base_url, self.reused)):
            self._replay(engine)
        return engine

    def _replay(self, engine: Engine) -> str:
        """Replay the migration into ``engine``'s schema, with fresh tokens; returns the
        schema's catalog fingerprint."""
        with engine.begin() as conn:
            driver = conn.connection.driver_connection
            assert driver is not None
            with driver.cursor() as cursor:
                for statement, parameters, many in self.statements:
                    if many:
                        cursor.executemany(statement, parameters)
                    else:
                        cursor.execute(statement, dict(parameters) or None)
                cursor.execute(_FRESH_TOKENS["postgresql"])
            return str(conn.scalar(sa.text(_FINGERPRINT)))

    def restore(self) -> str:
        """The URL of this process's schema, put back to what the migration left (made and
        replayed into the first time, and again whenever putting back is not enough)."""
        if self.reused:
            # One engine for every putting back: a new one connected afresh each time, about
            # 20 ms on a loaded machine.
            self.keeper = self.keeper or make_engine(_schema_url(self.base_url, self.reused))
            try:
                with self.keeper.connect() as conn:
                    self.fingerprint = self._put_back(conn)
                return _schema_url(self.base_url, self.reused)
            except (SchemaChanged, sa.exc.DBAPIError):
                self.abandoned.append(self.reused)
                self._let_go()
        self.reused = f"t_{uuid.uuid4().hex[:16]}"
        admin = sa.create_engine(self.base_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {_quoted(self.reused)}"))
        admin.dispose()
        engine = make_engine(_schema_url(self.base_url, self.reused))
        try:
            self.fingerprint = self._replay(engine)
        finally:
            engine.dispose()
        self._drop_abandoned()
        return _schema_url(self.base_url, self.reused)

    def _put_back(self, conn: sa.Connection) -> str:
        """Undo in one transaction what a test did to the schema, and give it fresh revision
        tokens; returns its catalog fingerprint. ``SchemaChanged`` when it changed more than
        rows and its own relations, or stayed locked for seconds.

        Round trips are what a test's setup waits on (each one a turn of the server's process
        on a busy machine), so the settings, the fingerprint and the tables whose rows changed
        are one, and the rows put back, the tokens and the sequences' positions another. The
        shape's digest (~20 ms of the server's CPU) is read only when the fingerprint says the
        catalog changed since the last putting back."""
        shape = self.shape
        assert shape is not None
        with conn.begin():
            # Foreign keys and the revision triggers stay quiet while rows are put back.
            probes = " UNION ALL ".join(
                f"SELECT '{table}' WHERE ({_content(table)}) <> '{shape.seeded[table]}'"
                if table in shape.seeded
                else f"SELECT '{table}' WHERE EXISTS (SELECT 1 FROM {_quoted(table)})"
                for table in shape.tables
            )
            ((fingerprint, changed),) = direct.fetch_last(
                conn,
                "SET LOCAL lock_timeout = '5s'; SET LOCAL session_replication_role = replica; "
                f"SELECT ({_FINGERPRINT}), ARRAY({probes})",
            )
            if fingerprint != self.fingerprint:
                fingerprint = self._drop_extra_relations(conn, shape) or fingerprint
                if fingerprint != self.fingerprint and conn.scalar(sa.text(_SHAPE)) != shape.digest:
                    raise SchemaChanged
            statements = []
            for table in changed:
                statements.append(f"DELETE FROM {_quoted(table)}")
                if table in shape.seeded:
                    statements.append(
                        f"INSERT INTO {_quoted(table)} "
                        f"SELECT * FROM {_quoted(self.pristine)}.{_quoted(table)}"
                    )
            statements += [_FRESH_TOKENS["postgresql"], _SEQUENCES]
            moved = [
                (name, shape.sequences.get(name))
                for name, value in direct.fetch_last(conn, "; ".join(statements))
                if value != shape.sequences.get(name)
            ]
            if moved:
                conn.execute(
                    sa.text(
                        "SELECT "
                        + ", ".join(
                            f"setval(:name{i}, :value{i}, :called{i})" for i in range(len(moved))
                        )
                    ),
                    {
                        key: value
                        for i, (name, wanted) in enumerate(moved)
                        for key, value in (
                            (f"name{i}", f"{_quoted(self.reused)}.{_quoted(name)}"),
                            (f"value{i}", wanted or 1),
                            (f"called{i}", wanted is not None),
                        )
                    },
                )
        return str(fingerprint)

    def _drop_extra_relations(self, conn: sa.Connection, shape: _Shape) -> str | None:
        """Drop the tables, views, sequences and indexes the last test made; the catalog's
        fingerprint after, or None when there were none."""
        extra = [
            (name, kind)
            for name, kind in conn.execute(sa.text(_RELATIONS)).all()
            if name not in shape.relations
        ]
        if not extra:
            return None
        for kinds, what in (("rpf", "TABLE"), ("v", "VIEW"), ("m", "MATERIALIZED VIEW")):
            names = [_quoted(name) for name, kind in extra if kind in kinds]
            if names:
                conn.execute(sa.text(f"DROP {what} IF EXISTS {', '.join(names)} CASCADE"))
        for kind, what in (("S", "SEQUENCE"), ("i", "INDEX")):
            names = [_quoted(name) for name, k in extra if k == kind]
            if names:
                conn.execute(sa.text(f"DROP {what} IF EXISTS {', '.join(names)} CASCADE"))
        return str(conn.scalar(sa.text(_FINGERPRINT)))

    def _drop_abandoned(self) -> None:
        """Drop the schemas given up on; one still locked is tried again later."""
        admin = sa.create_engine(self.base_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(sa.text("SET lock_timeout = '5s'"))
                for schema in list(self.abandoned):
                    try:
                        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {_quoted(schema)} CASCADE"))
                        self.abandoned.remove(schema)
                    except sa.exc.OperationalError:
                        pass
        finally:
            admin.dispose()

    def _let_go(self) -> None:
        if self.keeper is not None:
            self.keeper.dispose()
            self.keeper = None

    def drop(self) -> None:
        """Drop the template's schema and the process's reused one (at the session's end)."""
        self._let_go()
        self.abandoned.extend(name for name in (self.pristine, self.reused) if name)
        self._drop_abandoned()


# A module's own database: what its setup built (forms, records, users — seconds on
# PostgreSQL for the IDC solution), kept beside the database and put back before each of its
# tests, so every test starts from the same rows without paying for building them again.


@dataclass(frozen=True)
class SqliteSnapshot:
    """A SQLite database as a module's setup left it, copied into a file of its own and back
    through SQLite's online backup: the database is written as by any other connection, so
    the engine's pooled connections read the copy at their next transaction, and a
    connection that watches ``PRAGMA data_version`` (the report cache's) sees it change. A
    file copied over the database under a disposed engine would leave that watcher a new
    connection whose versions repeat the last one's, and a kept result from the last test
    would be served again."""

    path: Path

    @classmethod
    def take(cls, engine: Engine, path: Path) -> SqliteSnapshot:
        _back_up(_sqlite_file(engine), path)
        return cls(path)

    def restore(self, engine: Engine) -> None:
        """Put the copy back, with fresh revision tokens."""
        _back_up(self.path, _sqlite_file(engine))
        with engine.begin() as conn:
            conn.exec_driver_sql(_FRESH_TOKENS["sqlite"])


def _back_up(source: Path, target: Path) -> None:
    with (
        closing(sqlite3.connect(source)) as reading,
        closing(sqlite3.connect(target, timeout=10)) as writing,
    ):
        reading.backup(writing)


def _sqlite_file(engine: Engine) -> Path:
    database = engine.url.database
    assert database is not None
    return Path(database)


@dataclass
class PostgresSnapshot(PostgresTemplate):
    """The process's reused schema as a module's setup left it, put back before each of the
    module's tests as the template puts it back to the migration (``restore``): the rows of
    every table that held any are copied into a schema of their own once, and each restore
    empties the tables whose rows differ from the copy, fills them from it again, and gives
    the sequences their positions of then. It cannot be replayed: a test that changes the
    shape (beyond making tables of its own) fails the next test's setup with
    ``SchemaChanged``. The process's template puts the schema back to the migration again
    for whichever test comes after the module."""

    @classmethod
    def take(cls, template: PostgresTemplate) -> PostgresSnapshot:
        assert template.reused, "restore the template first"
        kept = f"t_{uuid.uuid4().hex[:16]}"
        keeper = make_engine(_schema_url(template.base_url, template.reused))
        with keeper.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {_quoted(kept)}"))
            shape = _read_shape(conn)
            for table in shape.seeded:
                conn.execute(
                    sa.text(
                        f"CREATE TABLE {_quoted(kept)}.{_quoted(table)} AS "
                        f"TABLE {_quoted(template.reused)}.{_quoted(table)}"
                    )
                )
            fingerprint = str(conn.scalar(sa.text(_FINGERPRINT)))
        return cls(
            base_url=template.base_url,
            pristine=kept,
            shape=shape,
            reused=template.reused,
            keeper=keeper,
            fingerprint=fingerprint,
        )

    def restore(self) -> str:
        assert self.keeper is not None
        with self.keeper.connect() as conn:
            self.fingerprint = self._put_back(conn)
        return _schema_url(self.base_url, self.reused)

    def drop(self) -> None:
        """Drop the copy of the rows; the reused schema stays the template's."""
        self._let_go()
        self.abandoned.append(self.pristine)
        self._drop_abandoned()
