"""Concurrent writers: auto-numbers stay gap-free and unique; stale writes never overwrite."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from meridian.access.organisation import ORGANISATION
from meridian.core.actor import Actor
from meridian.db.engine import make_engine
from meridian.db.locks import serialize
from meridian.errors import StaleVersion
from meridian.http.deps import Workspace
from meridian.records.reads import get_record
from meridian.records.service import create_record, update_record
from meridian.schema.changes import create_app, create_form
from meridian.schema.model import App, Field, Form

CONTRACT = Form(
    key="contract",
    app_key="crm",
    label="合同",
    fields=(
        Field(key="number", label="编号", type="auto_number", auto_pattern="HT-{0000}"),
        Field(key="amount", label="金额", type="money"),
        Field(key="note", label="备注", type="text"),
    ),
)


def setup(workspace: Workspace, admin: Actor) -> None:
    with workspace.transaction() as conn:
        create_app(conn=conn, actor=admin, app=App(key="crm", label="CRM"))
        create_form(conn=conn, actor=admin, form=CONTRACT)


def test_parallel_creates_get_unique_consecutive_numbers(
    workspace: Workspace, admin: Actor
) -> None:
    setup(workspace, admin)

    def make(_: int) -> str:
        with workspace.transaction() as conn:
            record = create_record(conn=conn, actor=admin, form=CONTRACT, values={"amount": "1"})
        return str(record["number"])

    with ThreadPoolExecutor(max_workers=6) as pool:
        numbers = list(pool.map(make, range(60)))
    assert sorted(numbers) == [f"HT-{n:04}" for n in range(1, 61)]


def test_parallel_updates_of_one_version_let_exactly_one_through(
    workspace: Workspace, admin: Actor
) -> None:
    setup(workspace, admin)
    with workspace.transaction() as conn:
        record = create_record(conn=conn, actor=admin, form=CONTRACT, values={"note": "v1"})

    def change(n: int) -> str:
        try:
            with workspace.transaction() as conn:
                update_record(
                    conn=conn,
                    actor=admin,
                    form=CONTRACT,
                    record_id=record["id"],
                    values={"note": f"writer {n}"},
                    expected_version=1,
                )
        except StaleVersion:
            return "stale"
        return f"writer {n}"

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(change, range(8)))
    winners = [o for o in outcomes if o != "stale"]
    assert len(winners) == 1
    with workspace.transaction() as conn:
        final = get_record(conn=conn, actor=admin, form=CONTRACT, record_id=record["id"])
    assert final["note"] == winners[0]
    assert final["_version"] == 2


def test_the_organisation_lock_holds_within_a_schema_and_not_across(database_url: str) -> None:
    """Workspaces in two schemas of one PostgreSQL database never wait for each other's
    organisation changes; two transactions in the same schema do."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite writers already queue on the database's one write lock")
    url = sa.make_url(database_url)
    other_schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(url.set(query={}), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{other_schema}"'))
    here = make_engine(database_url)
    there = make_engine(url.update_query_dict({"options": f"-csearch_path={other_schema}"}))
    try:
        with here.begin() as holder:
            serialize(holder, ORGANISATION)
            with there.connect() as conn, conn.begin():
                conn.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
                serialize(conn, ORGANISATION)  # another schema: taken at once
            with (
                here.connect() as conn,
                pytest.raises(sa.exc.OperationalError, match="lock timeout"),
                conn.begin(),
            ):
                conn.exec_driver_sql("SET LOCAL lock_timeout = '200ms'")
                serialize(conn, ORGANISATION)
    finally:
        here.dispose()
        there.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{other_schema}" CASCADE'))
        admin.dispose()
