"""Request bodies cost nothing before they are allowed (issue 13, section 3: size).

A real server on 127.0.0.1 and a raw socket: a client that announces a body and sends none of
it must get its answer all the same — which proves the server refused without waiting for, or
reading, the body.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
import uvicorn
from fastapi.testclient import TestClient

from meridian.app import create_app
from meridian.db.tables import files
from meridian.http.deps import Workspace
from meridian.settings import Settings
from tests.forms import install_forms, lead_form

MB = 1024 * 1024
RECORDS = "/api/v1/forms/lead/records"


@dataclass(frozen=True)
class Live:
    port: int
    token: str


@pytest.fixture
def live(settings: Settings, workspace: Workspace, client: TestClient) -> Iterator[Live]:
    """Meridian served by uvicorn, with the lead form and an administrator's token."""
    with workspace.transaction() as conn:
        install_forms(conn, lead_form({"key": "name", "label": "名称", "type": "text"}))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    app = create_app(settings, workspace=workspace)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.02)
    token = client.headers["authorization"].removeprefix("Bearer ")
    yield Live(port, token)
    server.should_exit = True
    thread.join(timeout=10)


def _open(live: Live, head: str) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", live.port), timeout=10)
    connection.sendall(head.encode())
    return connection


def _head(live: Live, *, length: int | None, token: str | None, chunked: bool = False) -> str:
    lines = [
        f"POST {RECORDS} HTTP/1.1",
        f"Host: 127.0.0.1:{live.port}",
        "Content-Type: application/json",
    ]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    return "\r\n".join(lines) + "\r\n\r\n"


def _response(connection: socket.socket) -> tuple[int, bytes]:
    """The status and the body of the answer (read until the server closes or it is whole)."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(65536)
        assert chunk, f"the server closed without an answer: {received!r}"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = connection.recv(65536)
        assert chunk, "the server closed before the whole answer"
        body += chunk
    return status, body


def _count_leads(workspace: Workspace) -> int:
    with workspace.read() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM data_lead")).scalar_one())


@pytest.mark.parametrize("token", [None, "not-a-token"], ids=["no token", "unknown token"])
def test_an_unauthenticated_request_is_refused_before_its_body(live: Live, token: str) -> None:
    """The client announces a megabyte and sends none of it; the 401 comes all the same."""
    connection = _open(live, _head(live, length=MB, token=token))
    with connection:
        status, body = _response(connection)
    assert status == 401
    assert b'"code":"unauthenticated"' in body


def test_a_body_announced_over_the_limit_is_refused_before_it_is_read(
    live: Live, workspace: Workspace
) -> None:
    connection = _open(live, _head(live, length=200 * MB, token=live.token))
    with connection:
        status, body = _response(connection)
    assert status == 413
    assert b'"code":"too_large"' in body
    assert _count_leads(workspace) == 0


def test_a_streamed_body_is_cut_off_at_the_limit(live: Live, workspace: Workspace) -> None:
    """Chunked, with no length announced: the server stops reading at the first chunk past
    the limit (2 MB) and answers 413 while the client would still be sending."""
    connection = _open(live, _head(live, length=None, token=live.token, chunked=True))
    chunk = b'{"name": "' + b"x" * (256 * 1024)
    sent = 0
    with connection:
        connection.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        sent += len(chunk)
        filler = b"y" * (256 * 1024)
        connection.settimeout(0.2)
        answered = False
        while sent < 20 * MB and not answered:
            try:
                connection.sendall(f"{len(filler):x}\r\n".encode() + filler + b"\r\n")
                sent += len(filler)
                answered = bool(connection.recv(1, socket.MSG_PEEK))
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                answered = True
        connection.settimeout(10)
        status, body = _response(connection)
    assert status == 413
    assert b'"code":"too_large"' in body
    assert sent < 20 * MB, "the server read the whole body"
    assert _count_leads(workspace) == 0


def test_uploads_have_a_limit_of_their_own(
    settings: Settings, workspace: Workspace, client: TestClient
) -> None:
    limited = settings.model_copy(update={"request_max_bytes": MB, "max_upload_bytes": 3 * MB})
    with TestClient(create_app(limited, workspace=workspace), headers=client.headers) as api:
        small = api.post("/api/v1/files", files={"file": ("notes.txt", b"ACME " * (MB // 2))})
        assert small.status_code == 201, small.text
        large = api.post("/api/v1/files", files={"file": ("notes.txt", b"ACME " * MB)})
        assert large.status_code == 413
        assert large.json()["limit"] == 3 * MB
        json_body = api.post("/api/v1/apps", json={"key": "crm", "label": "x" * (2 * MB)})
        assert json_body.status_code == 413
        assert json_body.json()["limit"] == MB
    with workspace.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(files)).scalar() == 1
