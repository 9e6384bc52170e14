"""A saved view's index is built on PostgreSQL without holding the table's writers
(``CREATE INDEX CONCURRENTLY`` in a job), the view answers correctly before its index exists,
and a build whose worker is SIGKILLed leaves no INVALID index once the job has run again."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access import manage
from meridian.access.actors import load_actor
from meridian.access.users import get_user_id
from meridian.core.actor import Actor
from meridian.http.deps import Workspace
from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import Worker
from meridian.records import bulk, listing, views
from meridian.schema import changes
from meridian.schema.catalog import get_form
from tests.forms import install_forms, lead_form, select_field
from tests.worker_processes import start_meridian, warm_fork_server

SYSTEM = Actor.system()
EAST = {"field": "region", "op": "eq", "value": "east"}


@pytest.fixture(autouse=True)
def _postgres_only(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite builds a view's index in the saving transaction (no concurrent build)")


def _prepare(workspace: Workspace) -> Actor:
    with workspace.transaction() as conn:
        install_forms(
            conn,
            lead_form(
                {"key": "name", "label": "客户名称", "type": "text"},
                select_field("region", "区域", ("east", "华东"), ("south", "华南")),
                {"key": "seats", "label": "机柜数", "type": "integer"},
            ),
        )
        lead = get_form(conn, "lead")
        items = [
            {"name": f"客户 {i}", "region": ("east", "south")[i % 3 % 2], "seats": i}
            for i in range(300)
        ]
        bulk.create_records(conn=conn, actor=SYSTEM, form=lead, items=items)
        manage.add_user(
            conn,
            SYSTEM,
            email="views@acme.test",
            name="Vera",
            password="grid-and-board-4-us",
            passwords=workspace.passwords,
            roles=["member"],
            must_change_password=False,
        )
        manage.set_form_permissions(conn, SYSTEM, "member", lead, {"read": True})
        return load_actor(conn, get_user_id(conn, "views@acme.test"))


def _save_view(workspace: Workspace, vera: Actor) -> None:
    with workspace.transaction() as conn:
        views.save_view(
            conn,
            vera,
            get_form(conn, "lead"),
            name="华东 by seats",
            shared=False,
            settings=json.dumps({"kind": "grid", "filter": json.dumps(EAST), "sort": "-seats"}),
        )


def _indexes(conn: Connection) -> dict[str, bool]:
    """The view indexes on the table → valid."""
    rows = conn.execute(
        sa.text(
            "SELECT c.relname, i.indisvalid FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = to_regclass('data_lead') AND c.relname LIKE 'ax\\_%'"
        )
    )
    return {str(name): bool(valid) for name, valid in rows}


def _east_page(workspace: Workspace) -> list[int]:
    with workspace.read() as conn:
        page = listing.list_records(
            conn=conn,
            actor=SYSTEM,
            form=get_form(conn, "lead"),
            query=listing.RecordQuery(filter=EAST, sort="-seats", limit=50),
        )
    return [int(item["seats"]) for item in page.items]


EXPECTED = sorted((i for i in range(300) if i % 3 % 2 == 0), reverse=True)[:50]


@contextmanager
def _writer_held(database_url: str) -> Iterator[None]:
    """An open transaction that has written to the table: a build waits for it to end."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(
                "INSERT INTO data_lead (name, region, seats, created_at, updated_at) "
                "VALUES ('held', 'south', -1, now(), now())"
            )
            yield
            conn.rollback()
    finally:
        engine.dispose()


def _wait_for(what: str, check: Callable[[], Any], alive: Callable[[], bool]) -> Any:
    deadline = time.monotonic() + 120
    while not (found := check()):
        assert alive(), f"gave up before {what}"
        assert time.monotonic() < deadline, f"no {what} within 120 s"
        time.sleep(0.02)
    return found


def _waiting_build(workspace: Workspace) -> list[Any]:
    """The backends building an index of data_lead and waiting on a lock meanwhile."""
    with workspace.read() as conn:
        return conn.execute(
            sa.text(
                "SELECT pid FROM pg_stat_activity WHERE query ILIKE 'CREATE INDEX%data_lead%' "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
        ).all()


def test_writers_go_on_while_a_view_index_is_built(workspace: Workspace, database_url: str) -> None:
    vera = _prepare(workspace)
    failure: list[BaseException] = []

    def save_and_build() -> None:
        try:
            _save_view(workspace, vera)
            Worker(workspace.engine, job_handlers(workspace), workspace.tz).run_once()
        except BaseException as exc:  # reported by the test thread
            failure.append(exc)

    with _writer_held(database_url):
        builder = threading.Thread(target=save_and_build)
        builder.start()
        _wait_for(
            "build waiting for the open writer", lambda: _waiting_build(workspace), builder.is_alive
        )
        # The view answers (unindexed) while its index is being built …
        assert _east_page(workspace) == EXPECTED
        # … and a new record is written and committed meanwhile, without waiting.
        writer = sa.create_engine(database_url)
        try:
            with writer.begin() as conn:
                conn.exec_driver_sql("SET LOCAL lock_timeout = '3s'")
                conn.exec_driver_sql(
                    "INSERT INTO data_lead (name, region, seats, created_at, updated_at) "
                    "VALUES ('written during the build', 'east', 10000, now(), now())"
                )
        finally:
            writer.dispose()
        assert builder.is_alive(), "the build was waiting for the held writer all along"
    builder.join(120)
    assert not builder.is_alive() and not failure, failure
    with workspace.read() as conn:
        built = _indexes(conn)
    assert list(built.values()) == [True], built
    assert _east_page(workspace) == [10000, *EXPECTED[:49]]


def test_a_build_whose_worker_is_killed_leaves_no_invalid_index(
    workspace: Workspace, database_url: str, settings: Any, tmp_path: Path
) -> None:
    vera = _prepare(workspace)
    _save_view(workspace, vera)
    env = {
        **os.environ,
        "MERIDIAN_DATABASE_URL": database_url,
        "MERIDIAN_DATA_DIR": str(settings.data_dir),
        "MERIDIAN_JOB_LEASE_SECONDS": "2",
    }
    warm_fork_server()
    killed_log = tmp_path / "killed.log"
    with _writer_held(database_url):
        first = start_meridian(["worker"], env, killed_log)
        try:

            def building() -> list[Any]:
                """Past the build's first step (which may wait for autovacuum): its index is
                in the catalog, INVALID, and the build waits for the held writer."""
                with workspace.read() as conn:
                    started = list(_indexes(conn).values()) == [False]
                return _waiting_build(workspace) if started else []

            [(pid,)] = _wait_for("build waiting for the open writer", building, first.is_alive)
            first.kill()
            first.join()
        finally:
            first.kill()
            first.join()
        assert first.exitcode == -signal.SIGKILL

        # The dead worker's backend notices its client is gone and stops building.
        def gone() -> bool:
            with workspace.read() as conn:  # a transaction sees one snapshot of the activity
                return not conn.execute(
                    sa.text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
                ).first()

        _wait_for("end of the dead worker's build", gone, lambda: True)
        with workspace.read() as conn:
            left = _indexes(conn)
        assert list(left.values()) == [False], f"the killed build left an INVALID index: {left}"

    next_log = tmp_path / "next.log"
    second = start_meridian(["worker"], env, next_log)
    try:

        def done() -> bool:
            with workspace.read() as conn:
                state = conn.execute(
                    sa.text("SELECT state FROM sys_job WHERE kind = 'schema.view_indexes'")
                ).scalar_one()
            return state == "done"

        _wait_for("the build run again", done, second.is_alive)
    finally:
        second.kill()
        second.join()
    with workspace.read() as conn:
        now = _indexes(conn)
        attempts = conn.execute(
            sa.text("SELECT attempts FROM sys_job WHERE kind = 'schema.view_indexes'")
        ).scalar_one()
    assert list(now.values()) == [True], (now, next_log.read_text()[-2000:])
    assert now.keys() == left.keys(), "the same index, built again"
    assert attempts == 2
    assert _east_page(workspace) == EXPECTED


def test_a_retype_leaves_the_trigram_index_to_a_concurrent_build(workspace: Workspace) -> None:
    """ALTER … TYPE rebuilds every index of the table under its lock; the trigram index (most
    of that work) is dropped before and built again CONCURRENTLY by the job, and search finds
    the same records meanwhile (unindexed) and after."""
    _prepare(workspace)
    trigram = "trgm_data_lead__search"

    def found() -> list[str]:
        with workspace.read() as conn:
            page = listing.list_records(
                conn=conn,
                actor=SYSTEM,
                form=get_form(conn, "lead"),
                query=listing.RecordQuery(search="客户 29", limit=50),
            )
        return sorted(str(item["name"]) for item in page.items)

    before = found()
    assert before == ["客户 29", *(f"客户 29{n}" for n in range(10))]
    with workspace.transaction() as conn:
        changes.update_field(
            conn=conn,
            actor=SYSTEM,
            form_key="lead",
            field_key="seats",
            changes={"type": "decimal", "scale": 2},
        )
        assert trigram not in _all_indexes(conn)
    assert found() == before
    Worker(workspace.engine, job_handlers(workspace), workspace.tz).run_once()
    with workspace.read() as conn:
        assert _all_indexes(conn)[trigram] is True
    assert found() == before


def _all_indexes(conn: Connection) -> dict[str, bool]:
    rows = conn.execute(
        sa.text(
            "SELECT c.relname, i.indisvalid FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = to_regclass('data_lead')"
        )
    )
    return {str(name): bool(valid) for name, valid in rows}
