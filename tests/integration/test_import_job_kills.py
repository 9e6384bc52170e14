"""An import started over HTTP survives its worker's death: a real ``meridian worker`` runs
the import's job, is killed with SIGKILL once some batches are committed and more are under
way, and the next worker — taking the job over when the lease runs out — goes on after the
last committed batch. Each row of the file is imported exactly once (SQLite and PostgreSQL).
"""

from __future__ import annotations

from multiprocessing.process import BaseProcess
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from meridian.dataio.running import BATCH_ROWS
from meridian.http.deps import Workspace
from meridian.settings import Settings
from tests.worker_processes import kill_session, poll_while_alive, start_meridian, worker_env

ROWS = 5 * BATCH_ROWS


def _worker(database_url: str, settings: Settings, log: Path) -> BaseProcess:
    """``meridian worker`` forked from the warm fork server, in a session of its own."""
    return start_meridian(
        ["worker"], worker_env(database_url, settings.data_dir), log, new_session=True
    )


def _progress(client: TestClient, import_id: int) -> dict[str, object]:
    response = client.get(f"/api/v1/imports/{import_id}/progress")
    assert response.status_code == 200, response.text
    return dict(response.json())


def _wait(
    client: TestClient, import_id: int, process: BaseProcess, log: Path, rows: int
) -> dict[str, object]:
    return poll_while_alive(
        lambda: _progress(client, import_id),
        lambda seen: int(str(seen["rows_done"])) >= rows or seen["state"] != "running",
        process,
        log,
        seconds=900,
        every=0.05,
    )


def test_an_import_job_whose_worker_is_killed_imports_each_row_once(
    workspace: Workspace, client: TestClient, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    assert client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"}).status_code == 201
    form = {
        "key": "lead",
        "label": "线索",
        "title_field": "name",
        "fields": [
            {"key": "name", "label": "名称", "type": "text"},
            {"key": "amount", "label": "金额", "type": "money"},
        ],
    }
    assert client.post("/api/v1/apps/crm/forms", json=form).status_code == 201
    lines = ["名称,金额"] + [f"线索{n:05d},{n}万" for n in range(ROWS)]
    content = ("\n".join(lines) + "\n").encode("utf-8")
    uploaded = client.post(
        "/api/v1/forms/lead/imports", files={"file": ("线索.csv", content, "text/csv")}
    )
    assert uploaded.status_code == 201, uploaded.text
    import_id = uploaded.json()["id"]
    assert client.post(f"/api/v1/imports/{import_id}/run").status_code == 202

    first = _worker(database_url, settings, tmp_path / "killed.log")
    try:
        progress = _wait(client, import_id, first, tmp_path / "killed.log", BATCH_ROWS)
    finally:
        kill_session(first)
    killed_at = int(str(progress["rows_done"]))
    assert progress["state"] == "running" and BATCH_ROWS <= killed_at < ROWS, progress

    second = _worker(database_url, settings, tmp_path / "next.log")
    try:
        progress = _wait(client, import_id, second, tmp_path / "next.log", ROWS + 1)
    finally:
        kill_session(second)
    assert progress["state"] == "finished", (progress, (tmp_path / "next.log").read_text()[-2000:])
    assert progress["counts"] == {"created": ROWS, "updated": 0, "merged": 0, "rejected": 0}, (
        killed_at,
        progress,
        (tmp_path / "next.log").read_text()[-2000:],
    )
    with workspace.read() as conn:
        names = conn.execute(sa.text("SELECT name FROM data_lead")).scalars().all()
        outcomes = conn.execute(
            sa.text("SELECT count(*), count(DISTINCT row_number) FROM sys_import_row")
        ).one()
    assert len(names) == ROWS and len(set(names)) == ROWS, "each row once"
    assert tuple(outcomes) == (ROWS, ROWS)
