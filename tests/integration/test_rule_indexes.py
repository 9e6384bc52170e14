"""The indexes an inactivity rule's minute scan reads through: made when the rule is saved,
on SQLite at once, on PostgreSQL by the index job (``CREATE INDEX CONCURRENTLY``) so that
saving a rule never holds the form's writers for a build; kept when the views' indexes are
reconciled; an INVALID leftover of a build that died is replaced by a valid one."""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.actor import Actor
from meridian.http.deps import Workspace
from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import Worker
from meridian.records import views
from meridian.rules.definitions import create_rule
from meridian.schema.catalog import get_form
from meridian.schema.view_indexes import RULE_PREFIX, index_of
from tests.forms import install_forms, lead_form, select_field

SYSTEM = Actor.system()
EAST = {"field": "region", "op": "eq", "value": "east"}


def _indexes(conn: Connection, table: str) -> dict[str, bool]:
    """Every index of ``table`` → valid (SQLite's are always valid)."""
    if conn.dialect.name != "postgresql":
        return {str(item["name"]): True for item in sa.inspect(conn).get_indexes(table)}
    rows = conn.execute(
        sa.text(
            "SELECT c.relname, i.indisvalid FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = to_regclass(:t)"
        ),
        {"t": table},
    )
    return {str(name): bool(valid) for name, valid in rows}


def _install(workspace: Workspace) -> str:
    with workspace.transaction() as conn:
        install_forms(
            conn,
            lead_form(
                {"key": "name", "label": "客户名称", "type": "text"},
                select_field("region", "区域", ("east", "华东"), ("south", "华南")),
            ),
        )
        return str(index_of(get_form(conn, "lead"), ("updated_at",), RULE_PREFIX).name)


def _save_rule(workspace: Workspace) -> None:
    with workspace.transaction() as conn:
        create_rule(
            conn,
            SYSTEM,
            {
                "form_key": "lead",
                "label": "一天无跟进",
                "trigger": {"type": "no_activity", "days": 1},
                "actions": [{"type": "update", "values": {"name": "quiet"}}],
            },
        )


def _run_jobs(workspace: Workspace) -> None:
    Worker(workspace.engine, job_handlers(workspace), workspace.tz).run_once()


def test_saving_an_inactivity_rule_indexes_what_its_scan_reads(
    workspace: Workspace, admin: Actor
) -> None:
    name = _install(workspace)
    _save_rule(workspace)
    with workspace.read() as conn:
        saved = _indexes(conn, "data_lead")
        queued = conn.execute(
            sa.text("SELECT count(*) FROM sys_job WHERE kind = 'schema.view_indexes'")
        ).scalar_one()
    if workspace.engine.dialect.name == "postgresql":
        assert name not in saved, "built in the saving transaction, holding the form's writers"
        assert queued == 1
        _run_jobs(workspace)
    else:
        assert saved.get(name) is True
    with workspace.read() as conn:
        assert _indexes(conn, "data_lead").get(name) is True

    # A view saved (and its indexes reconciled) later keeps the rule's index.
    with workspace.transaction() as conn:
        views.save_view(
            conn,
            admin,
            get_form(conn, "lead"),
            name="华东",
            shared=True,
            settings=json.dumps({"kind": "grid", "filter": json.dumps(EAST)}),
        )
    _run_jobs(workspace)
    with workspace.read() as conn:
        after = _indexes(conn, "data_lead")
    assert after.get(name) is True, after
    assert any(key.startswith("ax_") for key in after), after


def test_an_invalid_leftover_of_a_rule_index_is_built_again(workspace: Workspace) -> None:
    name = _install(workspace)
    if workspace.engine.dialect.name != "postgresql":
        return  # SQLite builds in the saving transaction: nothing is ever left half-built
    with workspace.transaction() as conn:
        conn.exec_driver_sql(
            "INSERT INTO data_lead (name, created_at, updated_at) "
            "VALUES ('a', '2026-01-01', '2026-01-01'), ('b', '2026-01-01', '2026-01-01')"
        )
    # A concurrent build that fails midway leaves its index INVALID, under the rule's name.
    with workspace.engine.connect() as conn:
        auto = conn.execution_options(isolation_level="AUTOCOMMIT")
        try:
            auto.exec_driver_sql(
                f'CREATE UNIQUE INDEX CONCURRENTLY "{name}" ON data_lead (updated_at)'
            )
        except sa.exc.IntegrityError:
            pass
    with workspace.read() as conn:
        assert _indexes(conn, "data_lead").get(name) is False
    _save_rule(workspace)
    _run_jobs(workspace)
    with workspace.read() as conn:
        assert _indexes(conn, "data_lead").get(name) is True
        two = conn.execute(sa.text("SELECT count(*) FROM data_lead")).scalar_one()
    assert two == 2
