"""The audit trail: what is recorded, how it is searched, and that tampering is found."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from meridian.cli.main import cli
from meridian.core.actor import Actor
from meridian.events.audit import verify_chain
from meridian.http.deps import Workspace


@pytest.fixture
def admin_id(admin: Actor) -> int:
    assert admin.user_id is not None
    return admin.user_id


@pytest.fixture
def trail(client: TestClient, workspace: Workspace) -> list[dict[str, Any]]:
    """A few audited actions: a role, a permission change, a failed and a good login."""
    assert client.post("/api/v1/apps", json={"key": "s", "label": "S"}).status_code == 201
    form = {
        "key": "deal",
        "label": "商机",
        "fields": [{"key": "name", "label": "名称", "type": "text"}],
    }
    assert client.post("/api/v1/apps/s/forms", json=form).status_code == 201
    assert client.post("/api/v1/roles", json={"key": "auditor", "label": "审计"}).status_code == 201
    rules = {"read": "all", "fields": {"name": "read_only"}}
    assert client.put("/api/v1/roles/auditor/forms/deal", json=rules).status_code == 200
    wrong = {"email": "admin@acme.test", "password": "wrong"}
    assert client.post("/api/v1/auth/login", json=wrong).status_code == 401
    right = {"email": "admin@acme.test", "password": "correct horse"}
    assert client.post("/api/v1/auth/login", json=right).status_code == 200
    items = client.get("/api/v1/audit").json()["items"]
    return list(reversed(items))


def test_changes_and_logins_are_recorded_in_order(
    trail: list[dict[str, Any]], admin_id: int
) -> None:
    actions = [entry["action"] for entry in trail]
    assert actions[-4:] == ["role_created", "permissions_changed", "login_failed", "login"]
    change = trail[-3]
    assert change["actor_id"] == admin_id and change["object_id"] == "auditor"
    assert change["detail"]["after"]["fields"] == {"name": "read_only"}
    assert change["detail"]["before"]["read"] is False
    assert [e["id"] for e in trail] == list(range(1, len(trail) + 1))


def test_the_log_is_searched_by_actor_object_and_action(
    client: TestClient, trail: list[dict[str, Any]], admin_id: int
) -> None:
    failed = client.get("/api/v1/audit", params={"action": "login_failed"}).json()["items"]
    assert len(failed) == 1 and failed[0]["object_id"] == "admin@acme.test"
    by_object = client.get(
        "/api/v1/audit", params={"object_type": "role", "object_id": "auditor"}
    ).json()["items"]
    assert [e["action"] for e in by_object] == ["permissions_changed", "role_created"]
    page = client.get("/api/v1/audit", params={"limit": 2}).json()
    older = client.get("/api/v1/audit", params={"before_id": page["next_before_id"]}).json()
    assert {e["id"] for e in page["items"]}.isdisjoint({e["id"] for e in older["items"]})
    assert len(page["items"]) + len(older["items"]) == len(trail)


@pytest.mark.parametrize(
    ("tamper", "bad_entry"),
    [
        ('UPDATE sys_audit SET detail = \'{{"label": "x"}}\' WHERE id = {n}', "n"),
        ("UPDATE sys_audit SET actor_id = NULL WHERE id = {n}", "n"),
        ("DELETE FROM sys_audit WHERE id = {n}", "n"),
        ("DELETE FROM sys_audit WHERE id = {last}", "last"),
    ],
)
def test_verify_names_the_first_entry_edited_or_deleted_behind_its_back(
    workspace: Workspace, trail: list[dict[str, Any]], tamper: str, bad_entry: str
) -> None:
    with workspace.read() as conn:
        assert verify_chain(conn).intact
    target = {"n": trail[-3]["id"], "last": trail[-1]["id"]}
    with workspace.transaction() as conn:
        conn.execute(sa.text(tamper.format(n=target["n"], last=target["last"])))
    with workspace.read() as conn:
        report = verify_chain(conn)
    assert not report.intact
    assert report.bad_id == target[bad_entry]


def test_meridian_audit_verify_exits_1_naming_the_entry(
    workspace: Workspace,
    trail: list[dict[str, Any]],
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MERIDIAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MERIDIAN_DATABASE_URL", database_url)
    ok = CliRunner().invoke(cli, ["audit", "verify"])
    assert ok.exit_code == 0, ok.stderr
    assert f"{len(trail)} entries" in ok.stderr
    with workspace.transaction() as conn:
        conn.execute(sa.text("UPDATE sys_audit SET action = 'login' WHERE id = 2"))
    broken = CliRunner().invoke(cli, ["audit", "verify"])
    assert broken.exit_code == 1
    assert "entry 2" in broken.stderr


def test_schema_changes_and_app_exports_are_audited(
    client: TestClient, trail: list[dict[str, Any]]
) -> None:
    assert client.get("/api/v1/apps/s/export").status_code == 200
    recent = client.get("/api/v1/audit", params={"object_type": "form"}).json()["items"]
    assert [e["action"] for e in recent] == ["schema_create_form"]
    exported = client.get("/api/v1/audit", params={"action": "app_exported"}).json()["items"]
    assert exported[0]["object_id"] == "s"
