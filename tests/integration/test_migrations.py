"""The Alembic revisions and the declared system tables must agree on both dialects."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

from meridian.db.engine import make_engine
from meridian.db.migrate import head_revision, upgrade_database
from meridian.db.tables import metadata, revisions


def test_migrated_database_matches_declared_system_tables(engine_by_migrations: Engine) -> None:
    with engine_by_migrations.connect() as conn:
        context = MigrationContext.configure(conn)
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_upgrade_is_idempotent(engine_by_migrations: Engine) -> None:
    upgrade_database(engine_by_migrations)
    upgrade_database(engine_by_migrations)


def _contents(engine: Engine) -> dict[str, Any]:
    """Every table's shape and rows, leaving out what differs between any two migrations: the
    moment it ran and the random revision tokens."""
    inspector = sa.inspect(engine)
    found: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):
        columns = inspector.get_columns(table)
        kept = [c["name"] for c in columns if c["name"] not in ("created_at", "token")]
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(*(sa.column(name) for name in kept)).select_from(sa.table(table))
            )
            data = sorted(tuple(row) for row in rows)
        found[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], c.get("default")) for c in columns
            ],
            "primary_key": inspector.get_pk_constraint(table),
            "foreign_keys": inspector.get_foreign_keys(table),
            "indexes": sorted(inspector.get_indexes(table), key=lambda index: str(index["name"])),
            "unique": inspector.get_unique_constraints(table),
            "rows": data,
        }
    return found


def test_a_copy_of_the_template_is_the_migrated_database(
    engine: Engine, other_database_url: str
) -> None:
    """The tests' databases are copies of one template; they must be what the migrations make:
    the same tables, indexes, keys, ``alembic_version`` and seeded rows."""
    migrated = make_engine(other_database_url)
    try:
        upgrade_database(migrated)
        copy, original = _contents(engine), _contents(migrated)
        assert copy == original
        assert copy["alembic_version"]["rows"] == [(head_revision(),)]
        assert copy["sys_role"]["rows"] and copy["sys_audit_head"]["rows"]
        with engine.connect() as one, migrated.connect() as other:
            tokens = sa.select(revisions.c.token)
            assert set(one.scalars(tokens)).isdisjoint(other.scalars(tokens))
    finally:
        migrated.dispose()
