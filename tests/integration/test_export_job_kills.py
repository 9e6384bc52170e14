"""An export job survives its worker's death: a real ``meridian worker`` writes a long export
and is killed with SIGKILL while rows are in its partial file and the export is not finished,
and the next worker — taking the job over when the lease runs out — writes the file again
from its first row. The stored file holds each record exactly once, the dead attempt's partial
file is gone, and the export is audited once (SQLite and PostgreSQL).

A worker on an idle machine writes the whole file faster than its first progress report, so
the test holds the export's row (PostgreSQL) or the database's write lock (SQLite) once the
worker has begun writing: its next write waits, and the kill lands mid-export every time."""

from __future__ import annotations

import csv
import io
import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from meridian.db.bulk import insert_many
from meridian.http.deps import Workspace
from meridian.schema.catalog import get_form
from meridian.schema.compile import compile_form
from meridian.settings import Settings
from tests.worker_processes import poll_while_alive, start_meridian, warm_fork_server, worker_env

ROWS = 60_000


def _fill(client: TestClient, workspace: Workspace) -> None:
    assert client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"}).status_code == 201
    form = {
        "key": "lead",
        "label": "线索",
        "title_field": "name",
        "fields": [
            {"key": "name", "label": "名称", "type": "text"},
            {"key": "amount", "label": "金额", "type": "money"},
            {"key": "city", "label": "城市", "type": "text"},
            {"key": "note", "label": "备注", "type": "text"},
        ],
    }
    assert client.post("/api/v1/apps/crm/forms", json=form).status_code == 201
    now = datetime.now(UTC)
    with workspace.transaction() as conn:
        table = compile_form(get_form(conn, "lead")).main
        insert_many(
            conn,
            table,
            [
                {
                    "id": n,
                    "name": f"线索{n:06d}",
                    "amount": 100 * n,
                    "city": "上海",
                    "note": "机柜 42U，带宽 100M",
                    "_version": 1,
                    "owner_id": None,
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(1, ROWS + 1)
            ],
        )


def _state(client: TestClient, export_id: int) -> dict[str, Any]:
    response = client.get(f"/api/v1/exports/{export_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def _wait(
    client: TestClient, export_id: int, process: BaseProcess, log: Path, until: Any
) -> dict[str, Any]:
    return poll_while_alive(lambda: _state(client, export_id), until, process, log, seconds=600)


@contextmanager
def _writes_held(database_url: str, export_id: int) -> Iterator[None]:
    """The worker's next write to the export waits until the block ends."""
    url = sa.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        held = sqlite3.connect(str(url.database), isolation_level=None)
        try:
            held.execute("BEGIN IMMEDIATE")
            yield
        finally:
            held.close()
        return
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text("SELECT id FROM sys_export WHERE id = :id FOR UPDATE"), {"id": export_id}
            )
            yield
    finally:
        engine.dispose()


def _partial_files(settings: Settings, export_id: int) -> list[Path]:
    return list((settings.data_dir / "files" / "exports").glob(f".export-{export_id}-*"))


def test_an_export_job_whose_worker_is_killed_holds_each_row_once(
    workspace: Workspace, client: TestClient, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    _fill(client, workspace)
    asked = client.post("/api/v1/forms/lead/exports", json={"format": "csv", "sort": "-id"})
    assert asked.status_code == 202, asked.text
    export_id = asked.json()["id"]
    env = worker_env(database_url, settings.data_dir)
    warm_fork_server()

    killed_log = tmp_path / "killed.log"
    first = start_meridian(["worker"], env, killed_log)
    try:
        # rows_total is kept just before the first row is written.
        _wait(client, export_id, first, killed_log, lambda s: s["rows_total"] is not None)
        with _writes_held(database_url, export_id):
            deadline = time.monotonic() + 60
            while not any(p.stat().st_size for p in _partial_files(settings, export_id)):
                assert first.is_alive(), killed_log.read_text()[-2000:]
                assert time.monotonic() < deadline, "the worker wrote no rows"
                time.sleep(0.01)
            time.sleep(0.5)  # past its first progress report: waiting on the held write
            first.kill()
            first.join()
    finally:
        first.kill()
        first.join()
    assert first.exitcode == -signal.SIGKILL
    state = _state(client, export_id)
    assert state["state"] == "running", state
    assert state["rows_done"] < ROWS == state["rows_total"], state
    partials = _partial_files(settings, export_id)
    assert partials, "the killed worker left its partial file"
    assert any(p.stat().st_size for p in partials), "rows were written before the kill"

    next_log = tmp_path / "next.log"
    second = start_meridian(["worker"], env, next_log)
    try:
        state = _wait(client, export_id, second, next_log, lambda s: s["state"] != "running")
    finally:
        second.kill()
        second.join()
    assert state["state"] == "done", (state, next_log.read_text()[-2000:])
    assert state["rows_done"] == state["rows_total"] == ROWS
    got = client.get(state["file"])
    assert got.status_code == 200
    rows = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
    ids = [int(row[0]) for row in rows[1:]]
    assert ids == list(range(ROWS, 0, -1)), "each record once, in the grid's order"
    assert not any(p.exists() for p in partials)
    with workspace.read() as conn:
        attempts = conn.execute(
            sa.text("SELECT attempts FROM sys_job WHERE kind = 'export.run'")
        ).scalar_one()
        audited = conn.execute(
            sa.text("SELECT count(*) FROM sys_audit WHERE action = 'records_exported'")
        ).scalar_one()
    assert attempts == 2
    assert audited == 1
