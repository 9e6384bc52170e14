"""Attachments are read only by their uploader and by those who may read a record holding them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from meridian.access import manage
from meridian.access.tokens import create_token
from meridian.app import create_app
from meridian.core.actor import Actor
from meridian.http.deps import Workspace
from meridian.settings import Settings

Client = Callable[[str], TestClient]


@pytest.fixture
def as_user(client: TestClient, workspace: Workspace, settings: Settings) -> Client:
    """``as_user(email)``: a client with that member's own token (the users are created here)."""
    client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"})
    form = {
        "key": "deal",
        "label": "商机",
        "fields": [
            {"key": "name", "label": "名称", "type": "text"},
            {"key": "files", "label": "附件", "type": "attachment"},
        ],
    }
    assert client.post("/api/v1/apps/crm/forms", json=form).status_code == 201
    rules = {"create": True, "read": "own", "update": "own"}
    assert client.put("/api/v1/roles/member/forms/deal", json=rules).status_code == 200
    tokens = {}
    with workspace.transaction() as conn:
        for email in ("amy@acme.test", "bob@acme.test"):
            user = manage.add_user(
                conn,
                Actor.system(),
                email=email,
                name=email[0],
                password="Secret-2026",
                passwords=workspace.passwords,
                must_change_password=False,
            )
            tokens[email] = create_token(conn=conn, user_id=user["id"], name="t")
    app = create_app(settings, workspace=workspace)
    return lambda email: TestClient(app, headers={"Authorization": f"Bearer {tokens[email]}"})


def test_only_the_uploader_and_readers_of_a_holding_record_get_the_file(
    client: TestClient, as_user: Client
) -> None:
    a, b = as_user("amy@acme.test"), as_user("bob@acme.test")
    uploaded = a.post(
        "/api/v1/files", files={"file": ("合同.pdf", b"%PDF-1.4 x", "application/pdf")}
    )
    assert uploaded.status_code == 201
    file_id = uploaded.json()["id"]
    assert a.get(f"/api/v1/files/{file_id}").content == b"%PDF-1.4 x"
    assert b.get(f"/api/v1/files/{file_id}").status_code == 404  # not attached anywhere yet

    record = a.post("/api/v1/forms/deal/records", json={"name": "A", "files": [file_id]}).json()
    assert b.get(f"/api/v1/files/{file_id}").status_code == 404  # B may not read A's record

    assert (
        client.put(
            "/api/v1/roles/member/forms/deal", json={"read": "all", "update": "own"}
        ).status_code
        == 200
    )
    assert b.get(f"/api/v1/files/{file_id}").status_code == 200

    assert (
        client.put(
            "/api/v1/roles/member/forms/deal",
            json={"read": "all", "fields": {"files": "hidden"}},
        ).status_code
        == 200
    )
    assert b.get(f"/api/v1/files/{file_id}").status_code == 404  # the field is hidden from B

    assert client.put("/api/v1/roles/member/forms/deal", json={"read": "all"}).status_code == 200
    assert client.delete(f"/api/v1/forms/deal/records/{record['id']}").status_code == 204
    assert b.get(f"/api/v1/files/{file_id}").status_code == 404  # only in the trash now
    assert a.get(f"/api/v1/files/{file_id}").status_code == 200  # still its uploader's
    assert client.get(f"/api/v1/files/{file_id}").status_code == 200  # and an administrator's
    assert b.get("/api/v1/files/999999").status_code == 404
