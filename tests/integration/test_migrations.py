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
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from meridian.core.actor import Actor
from meridian.db.engine import make_engine
from meridian.db.migrate import alembic_config, head_revision, upgrade_database
from meridian.db.tables import metadata, revisions
from meridian.events.audit_keys import load_audit_key, open_audit_trail
from meridian.records import listing
from meridian.schema import changes
from meridian.schema.catalog import get_form
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


def test_existing_forms_get_their_search_index(database_url: str, tmp_path: Path) -> None:
    """Revision 0033 gives every existing form on SQLite its trigram search table, filled from
    the stored search texts, so a search of the old records is served by the index."""
    engine = make_engine(database_url)
    config = alembic_config()
    form = parse_model(
        Form,
        {
            "key": "deal",
            "app_key": "crm",
            "label": "商机",
            "fields": [{"key": "name", "label": "名称", "type": "text"}],
        },
    )
    tables = compile_form(form)
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0028")  # the revision before 0033
        open_audit_trail(engine, load_audit_key(configured="", data_dir=tmp_path))
        now = datetime.now(UTC)
        with engine.begin() as conn:
            changes.create_app(conn=conn, actor=Actor.system(), app=App(key="crm", label="CRM"))
            changes.create_form(conn=conn, actor=Actor.system(), form=form)
            conn.exec_driver_sql("DROP TABLE IF EXISTS data_deal___search")  # as before 0033
            stamps = {"created_at": now, "updated_at": now}
            conn.execute(
                tables.main.insert(),
                [
                    {"id": 1, "name": "华为云", "_search": "华为云 huaweiyun hwy", **stamps},
                    {"id": 2, "name": "阿里云", "_search": "阿里云 aliyun aly", **stamps},
                    {"id": 3, "name": None, "_search": None, **stamps},
                ],
            )
        upgrade_database(engine)
        with engine.begin() as conn:
            lead = get_form(conn, "deal")
            page = listing.list_records(
                conn=conn, actor=Actor.system(), form=lead, query=listing.RecordQuery(search="hwy")
            )
            assert [item["id"] for item in page.items] == [1]
            if conn.dialect.name == "sqlite":
                indexed = conn.exec_driver_sql("SELECT rowid, _search FROM data_deal___search")
                assert sorted(tuple(row) for row in indexed) == [
                    (1, "华为云 huaweiyun hwy"),
                    (2, "阿里云 aliyun aly"),
                ]
    finally:
        engine.dispose()


def test_select_indexes_of_existing_forms_become_board_indexes(
    database_url: str, tmp_path: Path
) -> None:
    """Revision 0034 rebuilds the plain index an older Meridian gave each select field as the
    board index over live rows the kanban reads (field, updated_at, id, deleted_at)."""
    engine = make_engine(database_url)
    config = alembic_config()
    form = parse_model(
        Form,
        {
            "key": "deal",
            "app_key": "crm",
            "label": "商机",
            "fields": [
                {"key": "name", "label": "名称", "type": "text"},
                {
                    "key": "stage",
                    "label": "阶段",
                    "type": "select",
                    "options": [{"value": "new", "label": "新"}, {"value": "won", "label": "赢"}],
                },
                {
                    "key": "code",
                    "label": "编码",
                    "type": "select",
                    "unique": True,
                    "options": [{"value": "a", "label": "A"}],
                },
            ],
        },
    )
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0033")  # the revision before 0034
        open_audit_trail(engine, load_audit_key(configured="", data_dir=tmp_path))
        now = datetime.now(UTC)
        with engine.begin() as conn:
            changes.create_app(conn=conn, actor=Actor.system(), app=App(key="crm", label="CRM"))
            changes.create_form(conn=conn, actor=Actor.system(), form=form)
            # The index as an older Meridian made it: the select column alone, every row.
            conn.exec_driver_sql("DROP INDEX ix_data_deal_stage")
            conn.exec_driver_sql("CREATE INDEX ix_data_deal_stage ON data_deal (stage)")
            stamps = {"created_at": now, "updated_at": now}
            conn.execute(
                compile_form(form).main.insert(),
                [
                    {"id": 1, "stage": "new", "deleted_at": None, **stamps},
                    {"id": 2, "stage": "won", "deleted_at": None, **stamps},
                    {"id": 3, "stage": "won", "deleted_at": now, **stamps},
                ],
            )
        upgrade_database(engine)
        upgrade_database(engine)  # and again: an index in the new shape is left alone
        with engine.connect() as conn:
            indexes = {
                str(index["name"]): index for index in sa.inspect(conn).get_indexes("data_deal")
            }
            live = conn.execute(
                sa.text(
                    "SELECT stage, count(*) FROM data_deal WHERE deleted_at IS NULL GROUP BY stage"
                )
            )
            assert dict(live.all()) == {"new": 1, "won": 1}
        board = indexes["ix_data_deal_stage"]
        assert board["column_names"] == ["stage", "updated_at", "id", "deleted_at"]
        where = str(_comparable_index(board)["dialect_options"])
        assert "deleted_at IS NULL" in where, where
        assert indexes["uq_data_deal_code"]["column_names"] == ["code"]
    finally:
        engine.dispose()


def test_existing_records_get_their_name_keys(database_url: str, tmp_path: Path) -> None:
    """Revision 0031 adds the name key columns and their indexes to every existing form's
    table and fills them from the title field, so duplicate detection finds the old records."""
    engine = make_engine(database_url)
    config = alembic_config()
    before = ScriptDirectory.from_config(config).get_revision("0031").down_revision
    form = parse_model(
        Form,
        {
            "key": "deal",
            "app_key": "crm",
            "label": "客户",
            "title_field": "name",
            "fields": [{"key": "name", "label": "名称", "type": "text"}],
        },
    )
    tables = compile_form(form)
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, before)
        open_audit_trail(engine, load_audit_key(configured="", data_dir=tmp_path))
        now = datetime.now(UTC)
        with engine.begin() as conn:
            changes.create_app(conn=conn, actor=Actor.system(), app=App(key="crm", label="CRM"))
            changes.create_form(conn=conn, actor=Actor.system(), form=form)
            for column in ("_name_key", "_name_rev"):  # the table as before 0031
                conn.exec_driver_sql(f"DROP INDEX ix_data_deal_{column}")
                conn.exec_driver_sql(f"ALTER TABLE data_deal DROP COLUMN {column}")
            stamps = {"created_at": now, "updated_at": now}
            conn.execute(
                tables.main.insert(),
                [
                    {"id": 1, "name": "腾讯科技（深圳）有限责任公司", **stamps},
                    {"id": 2, "name": "ＡＣＭＥ 有限公司", **stamps},
                    {"id": 3, "name": None, **stamps},
                ],
            )
        upgrade_database(engine)
        with engine.begin() as conn:
            keys = conn.exec_driver_sql("SELECT id, _name_key, _name_rev FROM data_deal")
            assert sorted(tuple(row) for row in keys) == [
                (1, "腾讯科技(深圳)", ")圳深(技科讯腾"),
                (2, "acme", "emca"),
                (3, None, None),
            ]
            indexes = {index["name"] for index in sa.inspect(conn).get_indexes("data_deal")}
            assert {"ix_data_deal__name_key", "ix_data_deal__name_rev"} <= indexes
    finally:
        engine.dispose()


def test_phone_email_and_uscc_fields_of_existing_forms_get_an_index(
    database_url: str, tmp_path: Path
) -> None:
    """Revision 0039 indexes the party keys deduplication looks every imported value up by
    (phone, e-mail, USCC), which forms made before had unindexed; a unique one keeps its
    unique index."""
    engine = make_engine(database_url)
    config = alembic_config()
    form = parse_model(
        Form,
        {
            "key": "customer",
            "app_key": "crm",
            "label": "客户",
            "fields": [
                {"key": "name", "label": "名称", "type": "text"},
                {"key": "phone", "label": "电话", "type": "phone"},
                {"key": "email", "label": "邮箱", "type": "email"},
                {"key": "uscc", "label": "信用代码", "type": "uscc", "unique": True},
            ],
        },
    )
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0038")  # the revision before 0039
        open_audit_trail(engine, load_audit_key(configured="", data_dir=tmp_path))
        with engine.begin() as conn:
            changes.create_app(conn=conn, actor=Actor.system(), app=App(key="crm", label="CRM"))
            changes.create_form(conn=conn, actor=Actor.system(), form=form)
            # As an older Meridian made the table: no index on the phone and the e-mail.
            conn.exec_driver_sql("DROP INDEX ix_data_customer_phone")
            conn.exec_driver_sql("DROP INDEX ix_data_customer_email")
        upgrade_database(engine)
        upgrade_database(engine)  # and again: an index already there is left alone
        with engine.connect() as conn:
            indexes = {
                str(index["name"]): index["column_names"]
                for index in sa.inspect(conn).get_indexes("data_customer")
            }
        assert indexes["ix_data_customer_phone"] == ["phone"]
        assert indexes["ix_data_customer_email"] == ["email"]
        assert indexes["uq_data_customer_uscc"] == ["uscc"]
        assert "ix_data_customer_uscc" not in indexes
    finally:
        engine.dispose()
