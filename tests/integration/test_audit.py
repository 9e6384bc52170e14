"""The audit trail: what is recorded, how it is searched, and that tampering is found."""

from __future__ import annotations

import hashlib
import hmac
import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from meridian.app import create_workspace
from meridian.cli.main import cli
from meridian.core.actor import Actor
from meridian.db.engine import make_engine
from meridian.db.tables import audit_head, audit_log
from meridian.errors import AuditKeyProblem, MeridianError
from meridian.events.audit import verify_chain
from meridian.events.audit_anchors import Anchor, check_anchors, current_anchor, read_anchors
from meridian.http.deps import Workspace
from meridian.settings import Settings

GENESIS = "0" * 64
_CONTENT = (
    "id",
    "at",
    "actor_id",
    "action",
    "object_type",
    "object_id",
    "detail",
    "ip",
    "prev_hash",
)


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


def _canonical(entry: dict[str, Any]) -> bytes:
    """The entry's content as the published algorithm serialises it (an attacker knows it)."""
    content = [entry["at"].isoformat() if key == "at" else entry[key] for key in _CONTENT]
    return json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _rehash_from(conn: Any, first: int, digest: Callable[[bytes], str]) -> None:
    """What someone with write access to the database does after editing entry ``first``:
    recompute every hash from there on and move the head row to match."""
    rows = conn.execute(
        sa.select(audit_log).where(audit_log.c.id >= first).order_by(audit_log.c.id)
    ).all()
    previous = conn.scalar(sa.select(audit_log.c.hash).where(audit_log.c.id == first - 1))
    for row in rows:
        entry = {**row._mapping, "prev_hash": previous or GENESIS}
        previous = digest(_canonical(entry))
        conn.execute(
            audit_log.update()
            .where(audit_log.c.id == row.id)
            .values(prev_hash=entry["prev_hash"], hash=previous)
        )
    conn.execute(audit_head.update().values(last_hash=previous))


@pytest.mark.parametrize(
    "digest",
    [
        pytest.param(lambda content: hashlib.sha256(content).hexdigest(), id="sha256"),
        pytest.param(
            lambda content: hmac.new(b"a guess at the key", content, hashlib.sha256).hexdigest(),
            id="hmac-guessed-key",
        ),
    ],
)
def test_an_edited_entry_with_every_later_hash_recomputed_is_found(
    workspace: Workspace, trail: list[dict[str, Any]], digest: Callable[[bytes], str]
) -> None:
    """The rewrite from issue 13: change entry n, re-hash n and everything after it, update
    the head. Without the key outside the database the new hashes cannot be right."""
    target = trail[-3]["id"]  # the permission change
    with workspace.transaction() as conn:
        conn.execute(
            audit_log.update()
            .where(audit_log.c.id == target)
            .values(detail={"before": {}, "after": {"read": "own"}})
        )
        _rehash_from(conn, target, digest)
    with workspace.read() as conn:
        report = verify_chain(conn)
    assert not report.intact
    assert report.bad_id == target


def _cli(database_url: str, data_dir: Path, *args: str) -> Any:
    env = {"MERIDIAN_DATA_DIR": str(data_dir), "MERIDIAN_DATABASE_URL": database_url}
    return CliRunner().invoke(cli, ["audit", *args], env=env)


def test_deleting_the_newest_entries_and_moving_the_head_back_is_found_by_an_anchor(
    client: TestClient,
    workspace: Workspace,
    trail: list[dict[str, Any]],
    database_url: str,
    settings: Settings,
    tmp_path: Path,
) -> None:
    """The other rewrite from issue 13: delete the newest entries and point the head row at
    the last one kept. Every hash left is genuine, so only an anchor kept elsewhere shows it."""
    anchors = tmp_path / "elsewhere" / "anchors.txt"
    anchors.parent.mkdir()
    first = _cli(database_url, settings.data_dir, "anchor", "--append", str(anchors))
    assert first.exit_code == 0, first.stderr
    anchored_id = len(trail)
    assert first.stdout.startswith(f"{anchored_id} ")
    wrong = {"email": "admin@acme.test", "password": "wrong"}
    for _ in range(3):
        assert client.post("/api/v1/auth/login", json=wrong).status_code == 401
    assert _cli(database_url, settings.data_dir, "anchor", "--append", str(anchors)).exit_code == 0
    assert len(anchors.read_text().splitlines()) == 2
    ok = _cli(database_url, settings.data_dir, "verify", "--anchor", str(anchors))
    assert ok.exit_code == 0 and "2 anchors held" in ok.stderr

    def truncate_to(last_kept: int) -> None:
        with workspace.transaction() as conn:
            kept = conn.scalar(sa.select(audit_log.c.hash).where(audit_log.c.id == last_kept))
            conn.execute(audit_log.delete().where(audit_log.c.id > last_kept))
            conn.execute(audit_head.update().values(last_id=last_kept, last_hash=kept))

    truncate_to(anchored_id + 1)
    # What stays undetected, as docs/access.md says: without an anchor, or after the last one.
    assert _cli(database_url, settings.data_dir, "verify").exit_code == 0
    after_last = _cli(database_url, settings.data_dir, "verify", "--anchor", str(anchors))
    assert after_last.exit_code == 1  # the second anchor named entry anchored_id + 3
    assert f"entry {anchored_id + 3}:" in after_last.stderr and "is gone" in after_last.stderr
    truncate_to(anchored_id - 2)
    assert _cli(database_url, settings.data_dir, "verify").exit_code == 0
    only_first = tmp_path / "first.txt"
    only_first.write_text(anchors.read_text().splitlines()[0] + "\n")
    gone = _cli(database_url, settings.data_dir, "verify", "--anchor", str(only_first))
    assert gone.exit_code == 1 and f"entry {anchored_id}:" in gone.stderr


def test_an_anchor_that_no_longer_matches_its_entry_is_named(
    workspace: Workspace, trail: list[dict[str, Any]], tmp_path: Path
) -> None:
    with workspace.read() as conn:
        anchor = current_anchor(conn)
    other = Anchor(anchor.entry_id, "f" * 64, anchor.at)
    with workspace.read() as conn:
        assert check_anchors(conn, [anchor]) is None
        report = check_anchors(conn, [anchor, other])
    assert report is not None and report.bad_id == anchor.entry_id
    broken = tmp_path / "broken.txt"
    broken.write_text("12 not-a-hash\n")
    with pytest.raises(MeridianError, match="line 1"):
        read_anchors(broken)


def test_the_key_is_made_once_in_the_data_directory_readable_by_its_owner_alone(
    workspace: Workspace, settings: Settings, engine: Engine, trail: list[dict[str, Any]]
) -> None:
    key_file = settings.data_dir / "audit.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    made = key_file.read_text()
    again = create_workspace(settings, engine=engine)
    assert key_file.read_text() == made
    with again.read() as conn:
        assert verify_chain(conn).intact
    with workspace.read() as conn:
        head = conn.execute(sa.select(audit_head)).one()
    assert head.key_id and head.key_id not in made
    other_key = settings.model_copy(update={"audit_key": SecretStr("x" * 40)})
    elsewhere = make_engine(settings.resolved_database_url)
    try:
        with pytest.raises(AuditKeyProblem, match=head.key_id):
            create_workspace(other_key, engine=elsewhere)
    finally:
        elsewhere.dispose()
    key_file.chmod(0o644)
    with pytest.raises(AuditKeyProblem, match="chmod 600"):
        create_workspace(settings, engine=engine)


def _as_before_keys(workspace: Workspace) -> None:
    """Turn the trail into one written before keys existed: plain SHA-256, no key named."""
    with workspace.transaction() as conn:
        _rehash_from(conn, 1, lambda content: hashlib.sha256(content).hexdigest())
        conn.execute(audit_head.update().values(key_id=None))


def test_a_trail_begun_before_keys_is_keyed_at_the_first_start_that_makes_the_key(
    workspace: Workspace, settings: Settings, engine: Engine, trail: list[dict[str, Any]]
) -> None:
    _as_before_keys(workspace)
    (settings.data_dir / "audit.key").unlink()
    upgraded = create_workspace(settings, engine=engine)
    with upgraded.read() as conn:
        report = verify_chain(conn)
        marker = conn.execute(sa.select(audit_log).order_by(audit_log.c.id.desc())).first()
    assert report.intact and report.entries == len(trail) + 1
    assert marker is not None and marker.action == "audit_chain_keyed"
    assert marker.detail == {"entries": len(trail), "unkeyed_chain": "intact"}


def test_an_unkeyed_trail_is_not_keyed_silently_by_a_key_that_already_existed(
    workspace: Workspace,
    settings: Settings,
    engine: Engine,
    trail: list[dict[str, Any]],
    database_url: str,
) -> None:
    """Blanking the head's key name and re-hashing the trail the old way must not let the next
    start launder the rewrite: it refuses until an operator runs ``meridian audit rekey``."""
    with workspace.transaction() as conn:
        conn.execute(audit_log.update().where(audit_log.c.id == 2).values(action="login"))
    _as_before_keys(workspace)
    with pytest.raises(AuditKeyProblem, match="meridian audit rekey"):
        create_workspace(settings, engine=engine)
    refused = _cli(database_url, settings.data_dir, "verify")
    assert refused.exit_code == 1 and "meridian audit rekey" in refused.stderr
    keyed = _cli(database_url, settings.data_dir, "rekey")
    assert keyed.exit_code == 0, keyed.stderr
    assert _cli(database_url, settings.data_dir, "verify").exit_code == 0
    with workspace.read() as conn:
        marker = conn.execute(sa.select(audit_log).order_by(audit_log.c.id.desc())).first()
    assert marker is not None and marker.detail["unkeyed_chain"] == "intact"


def test_meridian_init_makes_the_key_in_the_data_directory(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    env = {"MERIDIAN_DATA_DIR": str(fresh), "MERIDIAN_DATABASE_URL": ""}
    made = CliRunner().invoke(cli, ["init"], env=env)
    assert made.exit_code == 0, made.stderr
    key_file = fresh / "audit.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_text().strip()) == 64
    checked = CliRunner().invoke(cli, ["audit", "verify"], env=env)
    assert checked.exit_code == 0 and "intact" in checked.stderr
