"""An export job survives its worker's death: a real ``meridian worker`` writes a long export,
is killed with SIGKILL once its progress shows rows written and more to come, and the next
worker — taking the job over when the lease runs out — writes the file again from its first
row. The stored file holds each record exactly once, the dead attempt's partial file is gone,
and the export is audited once (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import os
import time
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
from tests.worker_processes import start_meridian, warm_fork_server

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
    deadline = time.monotonic() + 600
    while True:
        state = _state(client, export_id)
        if until(state):
            return state
        assert process.is_alive(), log.read_text()[-2000:]
        assert time.monotonic() < deadline, f"{state}: {log.read_text()[-2000:]}"
        time.sleep(0.02)


def test_an_export_job_whose_worker_is_killed_holds_each_row_once(
    workspace: Workspace, client: TestClient, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    _fill(client, workspace)
    asked = client.post("/api/v1/forms/lead/exports", json={"format": "csv", "sort": "-id"})
    assert asked.status_code == 202, asked.text
    export_id = asked.json()["id"]
    env = {
        **os.environ,
        "MERIDIAN_DATABASE_URL": database_url,
        "MERIDIAN_DATA_DIR": str(settings.data_dir),
        "MERIDIAN_JOB_LEASE_SECONDS": "2",
    }
    warm_fork_server()

    killed_log = tmp_path / "killed.log"
    first = start_meridian(["worker"], env, killed_log)
    try:
        state = _wait(
            client,
            export_id,
            first,
            killed_log,
            lambda s: s["state"] not in ("queued", "running") or s["rows_done"] > 0,
        )
    finally:
        first.kill()
        first.join()
    assert state["state"] == "running", state
    assert 0 < state["rows_done"] < ROWS == state["rows_total"], state
    partials = list((settings.data_dir / "files" / "exports").glob(f".export-{export_id}-*"))
    assert partials, "the killed worker left its partial file"

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
