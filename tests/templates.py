"""Migrated template databases: migrate once per test process, copy for every test.

Running every Alembic revision cost each database test 0.1–0.4 s of setup (more on a busy
machine) against a few milliseconds for most tests themselves. A copy is the migrated database
exactly — tables, indexes, ``alembic_version`` and the seeded system rows — so tests see what
an upgrade leaves behind; ``tests/integration/test_migrations.py`` still runs the migrations
themselves and checks that a copy equals their result.

- SQLite: the template is a file, copied byte for byte.
- PostgreSQL: every statement the migrations send that changes something is recorded once
  (reads — Alembic's look at the catalog — are not needed again) and replayed into each test's
  own schema. The statements name no schema, so they land wherever ``search_path`` points.
  Measured against the alternatives in the note of this change: a template *database*
  (``CREATE DATABASE … TEMPLATE``) is cluster-wide, needs the template idle, and writes about
  5 MB of WAL per copy; cloning tables with ``CREATE TABLE … (LIKE …)`` would share the
  template's sequences and leave out foreign keys.

Each copy gets fresh revision tokens (``meridian.db.revisions``), as a new migration would:
per-process caches are keyed by them, and two databases must never share one.
"""

from __future__ import annotations

import secrets
import shutil
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from meridian.db.engine import make_engine
from meridian.db.migrate import upgrade_database
from meridian.db.tables import revisions


def _fresh_revision_tokens(engine: Engine) -> None:
    with engine.begin() as conn:
        for name in conn.scalars(sa.select(revisions.c.name)).all():
            conn.execute(
                revisions.update()
                .where(revisions.c.name == name)
                .values(token=secrets.token_hex(16))
            )


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
        _fresh_revision_tokens(engine)
        return engine


@dataclass(frozen=True)
class PostgresTemplate:
    statements: list[tuple[str, Any, bool]] = field(default_factory=list)

    @classmethod
    def build(cls, url: str) -> PostgresTemplate:
        """Migrate ``url`` (an empty schema first on its search path), recording the changes."""
        engine = make_engine(url)
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
            engine.dispose()
        return cls(recorded)

    def copy_to(self, url: str) -> Engine:
        """Replay the migration's changes into ``url``'s (empty) schema, in one transaction."""
        engine = make_engine(url)
        with engine.begin() as conn:
            driver = conn.connection.driver_connection
            assert driver is not None
            with driver.cursor() as cursor:
                for statement, parameters, many in self.statements:
                    if many:
                        cursor.executemany(statement, parameters)
                    else:
                        cursor.execute(statement, dict(parameters) or None)
        _fresh_revision_tokens(engine)
        return engine
