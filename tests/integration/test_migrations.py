"""The Alembic revisions and the declared system tables must agree on both dialects."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

from meridian.db.migrate import upgrade_database
from meridian.db.tables import metadata


def test_migrated_database_matches_declared_system_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn)
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_upgrade_is_idempotent(engine: Engine) -> None:
    upgrade_database(engine)
    upgrade_database(engine)
