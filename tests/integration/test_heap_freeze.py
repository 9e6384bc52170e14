"""Long-running processes freeze what they built while starting (``core/heap.py``): a server
process once its app is built, ``meridian worker`` once its handlers are loaded. Without it a
full garbage collection walks every module, route and table the process holds, 0.1–0.2 s of
CPU, in whichever request or job triggers it (``meridian serve`` itself is held to it in
``test_serve.py``).

Each runs in a real process of its own on the test's database: a freeze lasts as long as its
process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

WATCHED = """
import gc, sys, threading, time

def watch():
    deadline = time.monotonic() + {seconds}
    while not gc.get_freeze_count() and time.monotonic() < deadline:
        time.sleep(0.05)
    print("frozen", gc.get_freeze_count(), flush=True)

threading.Thread(target=watch, daemon=True).start()
"""
"""A thread that prints the process's freeze count once it is above 0, or at the deadline."""


def _environment(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "MERIDIAN_DATABASE_URL": database_url,
        "MERIDIAN_DATA_DIR": str(tmp_path / "data"),
        "MERIDIAN_PASSWORD_HASHING": "argon2-minimal-for-tests",
    }


def _frozen_by(code: str, env: dict[str, str]) -> int:
    """The count the watcher prints in a process running ``code``, which is then killed."""
    with subprocess.Popen(
        [sys.executable, "-c", WATCHED.format(seconds=90) + code],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline().split()
        finally:
            process.kill()
    assert line[:1] == ["frozen"], line
    return int(line[1])


@pytest.mark.long
def test_a_server_process_freezes_what_it_built_once_its_app_is_made(
    database_url: str, tmp_path: Path
) -> None:
    # What uvicorn calls in each server process (``meridian serve`` names it as its factory).
    code = "from meridian.app import create_app_from_environment\ncreate_app_from_environment()\n"
    frozen = _frozen_by(code + "time.sleep(90)\n", _environment(database_url, tmp_path))
    assert frozen > 10_000


@pytest.mark.long
def test_a_worker_process_freezes_what_it_built_once_it_runs_jobs(
    database_url: str, tmp_path: Path
) -> None:
    code = "from meridian.cli import run\nsys.argv = ['meridian', 'worker']\nrun()\n"
    assert _frozen_by(code, _environment(database_url, tmp_path)) > 10_000
