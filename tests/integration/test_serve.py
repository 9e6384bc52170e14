"""``meridian serve`` as operators run it: a real process on 127.0.0.1, uvloop and httptools,
several worker processes answering the API over one database."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from meridian.cli.main import cli
from tests.integration.test_heap_freeze import WATCHED

STARTUP_SECONDS = 120
RUN = "from meridian.cli import run\nrun()\n"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"meridian serve did not answer in {STARTUP_SECONDS} s: {log.read_text()}")


@pytest.mark.long
def test_serve_answers_the_api_from_several_worker_processes(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    variables = {
        "MERIDIAN_DATABASE_URL": database_url,
        "MERIDIAN_DATA_DIR": str(tmp_path / "data"),
        "MERIDIAN_PASSWORD_HASHING": "argon2-minimal-for-tests",
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    env = {**os.environ, **variables}
    # The supervising process (the one that runs background jobs) prints its freeze count
    # once it has frozen what it built (core/heap.py); its workers build the app apart.
    serving = [sys.executable, "-c", WATCHED.format(seconds=STARTUP_SECONDS) + RUN]
    # The database is prepared in this process (what is tested is the serving process).
    init = CliRunner().invoke(
        cli, ["init", "--admin-email", "ops@acme.test", "--admin-password", "s3cret-pass"]
    )
    assert init.exit_code == 0, init.output
    token = init.stdout.strip()
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*serving, "serve", "--port", str(port), "--workers", "2", "--no-jobs"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process, log)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
            answers = [client.get("/api/v1/apps") for _ in range(20)]
            assert {answer.status_code for answer in answers} == {200}
            assert (
                client.get("/api/v1/apps", headers={"Authorization": "Bearer no"}).status_code
                == 401
            )
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail(f"meridian serve did not stop on SIGTERM: {log.read_text()}")
    text = log.read_text()
    assert text.count("Started server process") == 2, text
    frozen = re.search(r"^frozen (\d+)$", text, re.MULTILINE)
    assert frozen is not None and int(frozen.group(1)) > 10_000, text
