"""Attachments are read only by their uploader and by those who may read a record holding them."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

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


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
WINDOWS_PROGRAM = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 120 + b"PE\x00\x00"
TOKEN = re.compile(r"^[0-9a-f]{32}$")


def _upload(client: TestClient, name: str, content: bytes, **target: str) -> Any:
    return client.post("/api/v1/files", files={"file": (name, content)}, data=target)


def _refusal(response: Any, token: str) -> tuple[int, str, str]:
    """Status, code and message of a refusal, with the token itself taken out."""
    body = response.json()
    error = body["errors"][0] if "errors" in body else {"code": body["code"], "message": ""}
    return response.status_code, error["code"], error["message"].replace(token, "<id>")


def test_another_records_file_cannot_be_attached_or_downloaded_by_its_id(
    client: TestClient, as_user: Client
) -> None:
    """The probe's attack: A puts record X's file id into A's own record, then downloads it."""
    a, b = as_user("amy@acme.test"), as_user("bob@acme.test")
    secret = _upload(b, "报价底价.pdf", PDF).json()["id"]
    b.post("/api/v1/forms/deal/records", json={"name": "X", "files": [secret]}).raise_for_status()
    own = a.post("/api/v1/forms/deal/records", json={"name": "A"}).json()
    unknown = "0" * 32

    attach = a.patch(f"/api/v1/forms/deal/records/{own['id']}", json={"files": [secret]})
    never = a.patch(f"/api/v1/forms/deal/records/{own['id']}", json={"files": [unknown]})
    assert _refusal(attach, secret) == _refusal(never, unknown)
    assert _refusal(attach, secret)[:2] == (422, "unknown_file")
    created = a.post("/api/v1/forms/deal/records", json={"name": "A2", "files": [secret]})
    assert _refusal(created, secret) == _refusal(never, unknown)
    bulk = a.post(
        "/api/v1/forms/deal/records/update",
        json={"ids": [own["id"]], "values": {"files": [secret]}},
    )
    assert _refusal(bulk, secret) == _refusal(never, unknown)
    assert a.get(f"/api/v1/forms/deal/records/{own['id']}").json()["files"] is None

    download = a.get(f"/api/v1/files/{secret}")
    assert download.status_code == 404
    assert download.json()["detail"].replace(secret, "<id>") == a.get(
        f"/api/v1/files/{unknown}"
    ).json()["detail"].replace(unknown, "<id>")
    assert b.get(f"/api/v1/files/{secret}").content == PDF  # its record's reader still may


def test_guessed_and_sequential_ids_name_no_file(client: TestClient, as_user: Client) -> None:
    a = as_user("amy@acme.test")
    first = _upload(a, "a.pdf", PDF).json()["id"]
    second = _upload(a, "a.pdf", PDF).json()["id"]  # the same bytes, another file
    assert TOKEN.match(first) and TOKEN.match(second) and first != second
    for guess in (1, 2, "1", "2", first.upper(), first[:-1]):
        response = a.post("/api/v1/forms/deal/records", json={"name": "A", "files": [guess]})
        assert response.status_code == 422
        assert response.json()["errors"][0]["code"] == "unknown_file"
        assert a.get(f"/api/v1/files/{guess}").status_code == 404
        assert client.get(f"/api/v1/files/{guess}").status_code == 404


def test_an_uploader_attaches_a_fresh_file_until_a_record_holds_it(
    client: TestClient, as_user: Client
) -> None:
    a, b = as_user("amy@acme.test"), as_user("bob@acme.test")
    fresh = _upload(a, "合同.pdf", PDF).json()["id"]
    assert b.post("/api/v1/forms/deal/records", json={"files": [fresh]}).status_code == 422
    first = a.post("/api/v1/forms/deal/records", json={"name": "A1", "files": [fresh]})
    assert first.status_code == 201, first.text
    # A reads the record holding it, so A may attach it again elsewhere.
    assert a.post("/api/v1/forms/deal/records", json={"files": [fresh]}).status_code == 201
    users = client.get("/api/v1/users").json()["items"]
    bob = next(u["id"] for u in users if u["email"] == "bob@acme.test")
    for record in a.get("/api/v1/forms/deal/records").json()["items"]:
        moved = client.patch(f"/api/v1/forms/deal/records/{record['id']}", json={"owner_id": bob})
        assert moved.status_code == 200, moved.text
    # Now only Bob reads the records holding it: its uploader neither attaches nor reads it.
    assert a.post("/api/v1/forms/deal/records", json={"files": [fresh]}).status_code == 422
    assert a.get(f"/api/v1/files/{fresh}").status_code == 404
    assert b.get(f"/api/v1/files/{fresh}").content == PDF


def test_a_reader_of_a_holding_record_may_attach_its_file(
    client: TestClient, as_user: Client
) -> None:
    a, b = as_user("amy@acme.test"), as_user("bob@acme.test")
    shared = _upload(b, "资质.pdf", PDF).json()["id"]
    b.post("/api/v1/forms/deal/records", json={"name": "B", "files": [shared]}).raise_for_status()
    rules = {"create": True, "read": "all", "update": "own"}
    assert client.put("/api/v1/roles/member/forms/deal", json=rules).status_code == 200
    copy = a.post("/api/v1/forms/deal/records", json={"name": "A", "files": [shared]})
    assert copy.status_code == 201, copy.text
    assert a.get(f"/api/v1/files/{shared}").content == PDF

    hidden = {**rules, "fields": {"files": "hidden"}}
    assert client.put("/api/v1/roles/member/forms/deal", json=hidden).status_code == 200
    assert client.delete(f"/api/v1/forms/deal/records/{copy.json()['id']}").status_code == 204
    other = _upload(a, "x.pdf", PDF).json()["id"]
    assert a.get(f"/api/v1/files/{shared}").status_code == 404  # only in a field hidden from A
    assert a.get(f"/api/v1/files/{other}").status_code == 200


def test_line_items_attach_files_under_the_same_rule(client: TestClient, as_user: Client) -> None:
    line = {"key": "docs", "label": "文件", "type": "attachment"}
    lines = {"key": "items", "label": "明细", "type": "child_table", "fields": [line]}
    assert client.post("/api/v1/forms/deal/fields", json=lines).status_code == 201
    a, b = as_user("amy@acme.test"), as_user("bob@acme.test")
    secret = _upload(b, "底价.pdf", PDF).json()["id"]
    held = b.post("/api/v1/forms/deal/records", json={"items": [{"docs": [secret]}]})
    assert held.status_code == 201, held.text
    assert b.get(f"/api/v1/files/{secret}").content == PDF
    stolen = a.post("/api/v1/forms/deal/records", json={"items": [{"docs": [secret]}]})
    assert stolen.status_code == 422
    assert stolen.json()["errors"][0]["field"] == "items.0.docs"
    assert stolen.json()["errors"][0]["code"] == "unknown_file"
    assert a.get(f"/api/v1/files/{secret}").status_code == 404


def test_a_renamed_program_is_refused_naming_the_field_and_why(
    client: TestClient, as_user: Client
) -> None:
    a = as_user("amy@acme.test")
    plain = _upload(a, "invoice.pdf", WINDOWS_PROGRAM)
    assert plain.status_code == 422
    assert plain.json()["errors"][0]["field"] == "file"
    refused = _upload(a, "invoice.pdf", WINDOWS_PROGRAM, form="deal", field="files")
    assert refused.status_code == 422
    [error] = refused.json()["errors"]
    assert (error["field"], error["code"], error["value"]) == (
        "files",
        "file_content_refused",
        "invoice.pdf",
    )
    assert "the content is a program, not a .pdf file" in error["message"]
    a.headers["Accept-Language"] = "zh-CN"
    in_chinese = _upload(a, "invoice.pdf", WINDOWS_PROGRAM, form="deal", field="files")
    assert "文件内容是程序，不是 .pdf 文件" in in_chinese.json()["errors"][0]["message"]
    script = _upload(a, "deploy.sh", b"echo hi\n", form="deal", field="files")
    assert script.json()["errors"][0]["code"] == "file_type_refused"
    assert "程序和脚本" in script.json()["errors"][0]["message"]
    del a.headers["Accept-Language"]
    page = _upload(a, "report.txt", b"<html><script>alert(1)</script></html>")
    assert page.json()["errors"][0]["code"] == "file_content_refused"
    unknown_field = _upload(a, "a.pdf", PDF, form="deal", field="name")
    assert unknown_field.status_code == 422
    assert unknown_field.json()["errors"][0]["field"] == "field"


def test_an_attachment_field_takes_only_its_types_and_sizes(
    client: TestClient, as_user: Client
) -> None:
    rules = {"accept": ["PDF", ".png"], "max_size": 100}
    changed = client.patch("/api/v1/forms/deal/fields/files", json=rules)
    assert changed.status_code == 200, changed.text
    saved = next(f for f in changed.json()["fields"] if f["key"] == "files")
    assert (saved["accept"], saved["max_size"]) == ([".pdf", ".png"], 100)
    bad = client.patch("/api/v1/forms/deal/fields/files", json={"accept": ["p d f"]})
    assert bad.status_code == 422
    a = as_user("amy@acme.test")
    sheet = _upload(a, "报价.xlsx", b"just text", form="deal", field="files")
    assert sheet.json()["errors"][0]["code"] == "file_type_refused"
    assert ".pdf .png" in sheet.json()["errors"][0]["message"]
    big = _upload(a, "big.pdf", PDF + b"0" * 200, form="deal", field="files")
    assert big.status_code == 422
    assert big.json()["errors"][0]["code"] == "file_too_large"
    fits = _upload(a, "ok.pdf", PDF, form="deal", field="files")
    assert fits.status_code == 201, fits.text
    assert fits.json()["kind"] == "pdf"

    # A file uploaded for no field is checked again when it is attached.
    loose = _upload(a, "big.pdf", PDF + b"0" * 200).json()["id"]
    text = _upload(a, "notes.txt", "备注".encode()).json()["id"]
    refused = a.post("/api/v1/forms/deal/records", json={"name": "A", "files": [loose, text]})
    assert refused.status_code == 422
    codes = [(e["field"], e["code"]) for e in refused.json()["errors"]]
    assert codes == [("files", "file_too_large"), ("files", "file_type_refused")]
    ok = a.post("/api/v1/forms/deal/records", json={"name": "A", "files": [fits.json()["id"]]})
    assert ok.status_code == 201, ok.text


def test_the_workspace_upload_limit_holds_for_every_upload(
    settings: Settings, workspace: Workspace, client: TestClient
) -> None:
    small = settings.model_copy(update={"max_upload_bytes": 64})
    app = create_app(small, workspace=dataclasses.replace(workspace, settings=small))
    token = client.headers["Authorization"]
    limited = TestClient(app, headers={"Authorization": token})
    assert _upload(limited, "a.pdf", PDF).status_code == 201
    too_big = _upload(limited, "b.pdf", PDF + b"0" * 64)
    assert too_big.status_code == 422
    assert too_big.json()["errors"][0]["code"] == "file_too_large"
    assert not list(small.file_store_dir.glob(".upload-*"))


def test_downloads_are_served_as_what_the_bytes_are(client: TestClient) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="1" height="1"/></svg>'
    uploaded = client.post("/api/v1/files", files={"file": ("logo.svg", svg, "text/html")}).json()
    download = client.get(f"/api/v1/files/{uploaded['id']}")
    assert download.headers["content-type"] == "image/svg+xml"
    assert download.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in download.headers["content-security-policy"]


def test_an_archived_field_still_holds_its_files_but_shows_them_to_nobody(
    client: TestClient, as_user: Client
) -> None:
    a, b = as_user("amy@acme.test"), as_user("bob@acme.test")
    rules = {"create": True, "read": "all", "update": "own"}
    assert client.put("/api/v1/roles/member/forms/deal", json=rules).status_code == 200
    held = _upload(b, "资质.pdf", PDF).json()["id"]
    b.post("/api/v1/forms/deal/records", json={"name": "B", "files": [held]}).raise_for_status()
    assert a.get(f"/api/v1/files/{held}").status_code == 200
    assert client.delete("/api/v1/forms/deal/fields/files").status_code == 200
    assert a.get(f"/api/v1/files/{held}").status_code == 404
    assert b.get(f"/api/v1/files/{held}").status_code == 404  # held, so not its uploader's alone
    assert client.post("/api/v1/forms/deal/fields/files/restore").status_code == 200
    assert a.get(f"/api/v1/files/{held}").status_code == 200
