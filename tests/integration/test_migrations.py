"""The Alembic revisions and the declared system tables must agree on both dialects."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

from meridian.core.actor import Actor
from meridian.db.engine import make_engine
from meridian.db.migrate import alembic_config, head_revision, upgrade_database
from meridian.db.tables import metadata, revisions
from meridian.events.audit_keys import load_audit_key, open_audit_trail
from meridian.schema import changes
from meridian.schema.compile import compile_form
from meridian.schema.model import App, Form, parse_model


def test_migrated_database_matches_declared_system_tables(engine_by_migrations: Engine) -> None:
    with engine_by_migrations.connect() as conn:
        context = MigrationContext.configure(conn)
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_upgrade_is_idempotent(engine_by_migrations: Engine) -> None:
    upgrade_database(engine_by_migrations)
    upgrade_database(engine_by_migrations)


def _comparable_index(index: Any) -> dict[str, Any]:
    """An index as the inspector reports it, its partial-index ``WHERE`` clause as text (the
    inspector gives a new clause object each time, which never equals another)."""
    options = {key: str(value) for key, value in index.get("dialect_options", {}).items()}
    return {**index, "dialect_options": options}


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
            "indexes": sorted(
                (_comparable_index(index) for index in inspector.get_indexes(table)),
                key=lambda index: str(index["name"]),
            ),
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


def test_stored_file_ids_become_tokens(database_url: str, tmp_path: Path) -> None:
    """Revision 0007 names every stored file by a random token and rewrites attachment
    columns (line items' too) from ids to tokens, keeping their order."""
    engine = make_engine(database_url)
    config = alembic_config()
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0010")  # the revision before 0007
        open_audit_trail(engine, load_audit_key(configured="", data_dir=tmp_path))
        _ids_become_tokens(engine)
    finally:
        engine.dispose()


def _ids_become_tokens(engine: Engine) -> None:
    form = parse_model(
        Form,
        {
            "key": "deal",
            "app_key": "crm",
            "label": "商机",
            "fields": [
                {"key": "files", "label": "附件", "type": "attachment"},
                {
                    "key": "items",
                    "label": "明细",
                    "type": "child_table",
                    "fields": [{"key": "docs", "label": "文件", "type": "attachment"}],
                },
            ],
        },
    )
    now = datetime.now(UTC)
    with engine.begin() as conn:
        changes.create_app(conn=conn, actor=Actor.system(), app=App(key="crm", label="CRM"))
        changes.create_form(conn=conn, actor=Actor.system(), form=form)
        for file_id in (1, 2):
            conn.execute(
                sa.text(
                    "INSERT INTO sys_file (id, name, content_type, size, sha256, storage_path,"
                    " created_at) VALUES (:id, 'a.pdf', 'application/pdf', 1, 'x', 'x', :at)"
                ),
                {"id": file_id, "at": now},
            )
        tables = compile_form(form)
        stamps = {"created_at": now, "updated_at": now}
        conn.execute(tables.main.insert(), [{"id": 1, "files": [2, 1, 99], **stamps}])
        conn.execute(tables.main.insert(), [{"id": 2, "files": None, **stamps}])
        conn.execute(
            tables.lines["items"].insert(), [{"_parent_id": 1, "_position": 0, "docs": [1]}]
        )
    upgrade_database(engine)
    with engine.connect() as conn:
        token = dict(conn.execute(sa.text("SELECT id, token FROM sys_file")).all())
        main = dict(conn.execute(sa.select(tables.main.c.id, tables.main.c.files)).all())
        [docs] = conn.execute(sa.select(tables.lines["items"].c.docs)).scalars()
    assert all(re.fullmatch(r"[0-9a-f]{32}", t) for t in token.values())
    assert token[1] != token[2]
    assert main == {1: [token[2], token[1]], 2: None}
    assert docs == [token[1]]
