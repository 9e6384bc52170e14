"""Long exports as jobs: ``POST /api/v1/forms/{form}/exports`` checks the export at once and
queues it; a worker writes the file into the store, keeps the progress (rows done of how
many, rows per second) on ``GET /api/v1/exports/{id}``, audits it and tells its owner; the
owner downloads it, nobody else sees it (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import json

import openpyxl
import sqlalchemy as sa
from fastapi.testclient import TestClient

from meridian.access import manage
from meridian.access.permissions import set_form_rules
from meridian.app import create_app
from meridian.core.actor import Actor
from meridian.http.deps import Workspace
from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import Worker
from meridian.schema.catalog import get_form
from meridian.settings import Settings
from tests.conftest import a_member
from tests.integration.test_export import _csv, _set_up, _won_view


def _work(workspace: Workspace) -> None:
    worker = Worker(workspace.engine, job_handlers(workspace), workspace.tz)
    while worker.run_once():
        pass


def _member(workspace: Workspace, settings: Settings) -> TestClient:
    """A member who reads deals but has no 导出."""
    _, token = a_member(workspace)
    return TestClient(
        create_app(settings, workspace=workspace), headers={"Authorization": f"Bearer {token}"}
    )


def test_an_export_job_writes_the_grid_into_a_file_its_owner_downloads(
    client: TestClient, workspace: Workspace, settings: Settings
) -> None:
    _set_up(client)
    asked = client.post(
        "/api/v1/forms/deal/exports",
        json={"format": "csv", "columns": ["name", "stage"], "sort": "-name"},
        headers={"Accept-Language": "zh-CN"},
    )
    assert asked.status_code == 202, asked.text
    export = asked.json()
    assert export["state"] == "queued" and export["file"] is None
    _work(workspace)
    done = client.get(f"/api/v1/exports/{export['id']}").json()
    assert done["state"] == "done", done
    assert done["rows_done"] == done["rows_total"] == 3
    assert done["percent"] == 100.0 and done["rows_per_second"] > 0
    got = client.get(done["file"])
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("text/csv")
    rows = _csv(got.content)
    assert rows[0] == ["ID", "商机名称", "阶段", "负责人"]
    assert [row[1] for row in rows[1:]] == ["专线", "IDC 托管", "CDN 加速"]
    with workspace.read() as conn:
        audited = conn.execute(
            sa.text("SELECT object_id, detail FROM sys_audit WHERE action = 'records_exported'")
        ).one()
        told = conn.execute(sa.text("SELECT title FROM sys_notification")).scalars().all()
    assert audited.object_id == str(export["id"])
    detail = audited.detail if isinstance(audited.detail, dict) else json.loads(audited.detail)
    assert detail["rows"] == 3 and detail["columns"] == ["name", "stage"]
    assert len(told) == 1


def test_an_xlsx_export_job_of_a_saved_view(client: TestClient, workspace: Workspace) -> None:
    _set_up(client)
    view = _won_view(workspace, ["name", "amount"], "name")
    asked = client.post("/api/v1/forms/deal/exports", json={"view": view["id"]})
    assert asked.status_code == 202, asked.text
    _work(workspace)
    done = client.get(f"/api/v1/exports/{asked.json()['id']}").json()
    assert done["state"] == "done" and done["rows_total"] == 2
    sheet = openpyxl.load_workbook(io.BytesIO(client.get(done["file"]).content)).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert [row[1] for row in values[1:]] == ["IDC 托管", "专线"]


def test_an_export_job_is_refused_at_once_and_is_only_its_owners(
    client: TestClient, workspace: Workspace, settings: Settings
) -> None:
    _set_up(client)
    bad = client.post("/api/v1/forms/deal/exports", json={"columns": ["nope"]})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "columns"
    assert client.post("/api/v1/forms/deal/exports", json={"format": "pdf"}).status_code == 422
    assert client.post("/api/v1/forms/deal/exports", json={"sort": "nope"}).status_code == 422
    assert client.get("/api/v1/exports/999").status_code == 404
    with workspace.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM sys_export")).scalar_one() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM sys_job")).scalar_one() == 0
    mine = client.post("/api/v1/forms/deal/exports", json={"format": "csv"}).json()
    no_export = _member(workspace, settings)
    assert no_export.post("/api/v1/forms/deal/exports", json={}).status_code == 403
    assert no_export.get(f"/api/v1/exports/{mine['id']}").status_code == 404
    assert no_export.get(f"/api/v1/exports/{mine['id']}/file").status_code == 404
    assert client.get(f"/api/v1/exports/{mine['id']}/file").status_code == 404  # not yet done


def test_an_export_its_owner_may_no_longer_make_fails_with_the_reason(
    client: TestClient, workspace: Workspace, settings: Settings
) -> None:
    """导出 taken away between asking and running: the job fails the export with why (in the
    reader's language), tells the owner, writes no file and is not tried again."""
    _set_up(client)
    rep = _member(workspace, settings)
    with workspace.transaction() as conn:
        manage.create_role(conn, Actor.system(), "exporter", "导出员")
        set_form_rules(conn, "exporter", get_form(conn, "deal"), {"read": "all", "export": "all"})
        user_id = conn.execute(
            sa.text("SELECT id FROM sys_user WHERE email = 'rep@acme.test'")
        ).scalar_one()
        manage.update_user(conn, Actor.system(), user_id, {"roles": ["exporter"]})
    asked = rep.post("/api/v1/forms/deal/exports", json={"format": "xlsx"})
    assert asked.status_code == 202, asked.text
    with workspace.transaction() as conn:
        manage.update_user(conn, Actor.system(), user_id, {"roles": ["member"]})
    _work(workspace)
    failed = rep.get(f"/api/v1/exports/{asked.json()['id']}", headers={"Accept-Language": "en"})
    assert failed.json()["state"] == "failed"
    assert failed.json()["error"] and failed.json()["file"] is None
    assert rep.get(f"/api/v1/exports/{asked.json()['id']}/file").status_code == 404
    with workspace.read() as conn:
        job = conn.execute(
            sa.text("SELECT state, attempts FROM sys_job WHERE kind = 'export.run'")
        ).one()
        told = conn.execute(
            sa.text("SELECT count(*) FROM sys_notification WHERE user_id = :u"), {"u": user_id}
        ).scalar_one()
    assert tuple(job) == ("done", 1)
    assert told == 1
