"""Hostile bodies: what a large request costs the server (issue 13).

    python bench/hostile_bench.py

For each case, starts Meridian (uvicorn, SQLite in a temporary folder) in a child process and
sends it, with a valid token: a JSON record of 1.5 MB and one of 13 MB whose text is far over
its field's limit, and a 200 MB body, once with its length announced and once chunked. Prints
the answer's status and size, and how much the server's peak memory (VmHWM) grew.

Measured before issue 13 on a 2-core machine: the 13 MB record was answered with a 13.6 MB
error, and a 200 MB body raised the server's peak memory by 341 MB (announced) and 430 MB
(chunked). After: 413 at once for both, peak memory unchanged, and the 1.5 MB record's error
is 368 bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MB = 1024 * 1024


def serve(folder: Path) -> None:
    """The child: a workspace with a lead form and an administrator's token, served."""
    import uvicorn

    from meridian.access.tokens import create_token
    from meridian.access.users import create_user
    from meridian.app import create_app, create_workspace
    from meridian.core.actor import Actor
    from meridian.schema import changes
    from meridian.schema.model import App, Form, parse_model
    from meridian.settings import Settings

    settings = Settings(data_dir=folder)
    workspace = create_workspace(settings)
    with workspace.transaction() as conn:
        user_id = create_user(
            conn=conn, email="bench@acme.test", name="Bench", password="bench pass", is_admin=True
        )
        token = create_token(conn=conn, user_id=user_id, name="bench")
        changes.create_app(conn=conn, actor=Actor.system(), app=App(key="sales", label="销售"))
        lead = {"key": "lead", "app_key": "sales", "label": "线索", "title_field": "name"}
        lead["fields"] = [{"key": "name", "label": "名称", "type": "text"}]
        changes.create_form(conn=conn, actor=Actor.system(), form=parse_model(Form, lead))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    print(json.dumps({"port": port, "token": token}), flush=True)
    uvicorn.run(create_app(settings, workspace=workspace), port=port, log_level="error")


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _peak_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def _send(port: int, token: str, body: bytes, *, chunked: bool, total: int) -> tuple[int, int]:
    """Send ``total`` bytes made of ``body`` repeated; the answer's status and size."""
    head = [
        "POST /api/v1/forms/lead/records HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        f"Authorization: Bearer {token}",
        "Connection: close",
        "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}",
    ]
    with socket.create_connection(("127.0.0.1", port), timeout=120) as connection:
        connection.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        sent = 0
        try:
            while sent < total:
                piece = body[: total - sent]
                connection.sendall(
                    f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece
                )
                sent += len(piece)
            if chunked:
                connection.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the whole body was sent
        answer = b""
        while chunk := connection.recv(MB):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    return status, len(answer.partition(b"\r\n\r\n")[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.serve:
        serve(arguments.serve)
        return
    text = b'{"name": "' + b"x" * (13 * MB) + b'"}'
    under = b'{"name": "' + b"x" * (3 * MB // 2) + b'"}'
    cases = [
        ("1.5 MB record, length announced", under, False, len(under)),
        ("13 MB record, length announced", text, False, len(text)),
        ("200 MB body, length announced", b"x" * MB, False, 200 * MB),
        ("200 MB body, chunked", b"x" * MB, True, 200 * MB),
    ]
    for label, body, chunked, total in cases:
        with tempfile.TemporaryDirectory() as folder:  # a fresh server: peaks are per case
            child = subprocess.Popen(
                [sys.executable, __file__, "--serve", folder],
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            )
            try:
                assert child.stdout is not None
                started = json.loads(child.stdout.readline())
                _wait_for(started["port"])
                before = _peak_kb(child.pid)
                began = time.perf_counter()
                status, size = _send(
                    started["port"], started["token"], body, chunked=chunked, total=total
                )
                took = time.perf_counter() - began
                grew = (_peak_kb(child.pid) - before) / 1024
                print(
                    f"{label:32} → {status}, answer {size:,} bytes, {took:.2f} s,"
                    f" server peak memory +{grew:.0f} MB",
                    flush=True,
                )
            finally:
                child.terminate()
                child.wait(timeout=10)


if __name__ == "__main__":
    main()
