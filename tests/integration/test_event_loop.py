"""A request that waits for the database never holds up the others: the server's event loop
serves every connection, so database work runs in the thread pool, pages included.

A real uvicorn server (uvloop, httptools) on 127.0.0.1 serves the app; another transaction holds
the lock the page's session must take to record its use, and the health check is asked while
the page waits.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI

from meridian.app import create_app
from meridian.core.actor import Actor
from meridian.core.clock import SYSTEM_CLOCK
from meridian.db.tables import sessions
from meridian.http.deps import Workspace
from meridian.settings import Settings
from tests.conftest import FakeClock

HELD_SECONDS = 4.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def served(workspace: Workspace, admin: Actor, settings: Settings) -> Iterator[str]:
    app: FastAPI = create_app(settings, workspace=workspace)
    port = _free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_a_page_waiting_for_a_lock_does_not_stall_the_server(
    served: str, workspace: Workspace, fake_clock: FakeClock
) -> None:
    with httpx.Client(base_url=served, timeout=60) as browser:
        signed_in = browser.post(
            "/login", data={"email": "admin@acme.test", "password": "correct horse"}
        )
        assert signed_in.status_code in (200, 303), signed_in.text
        assert browser.get("/").status_code == 200
        # Two minutes on: the page's next request records the session's use (a write).
        later = SYSTEM_CLOCK.now() + timedelta(minutes=2)
        fake_clock.follow(lambda: later)

        holding = threading.Event()

        def hold_the_lock() -> None:
            with workspace.transaction() as conn:  # SQLite: the write lock; PostgreSQL: rows
                conn.execute(sessions.update().values(last_seen_at=sessions.c.last_seen_at))
                holding.set()
                time.sleep(HELD_SECONDS)

        holder = threading.Thread(target=hold_the_lock)
        holder.start()
        assert holding.wait(30)
        page: dict[str, httpx.Response] = {}
        reader = threading.Thread(target=lambda: page.update(answer=browser.get("/")))
        reader.start()
        time.sleep(0.5)  # the page is now waiting for the lock
        began = time.monotonic()
        with httpx.Client(base_url=served, timeout=60) as other:
            health = other.get("/healthz")
        waited = time.monotonic() - began
        reader.join()
        holder.join()
    assert health.status_code == 200
    assert waited < HELD_SECONDS / 2, f"the health check waited {waited:.1f} s behind the page"
    assert page["answer"].status_code == 200
    with workspace.read() as conn:
        seen = conn.scalar(sa.select(sa.func.max(sessions.c.last_seen_at)))
    assert seen is not None and seen >= later.replace(tzinfo=seen.tzinfo)
