"""The automation administration pages over HTTP, with real deliveries and real hook calls:
the webhook delivery log, bot channels and inbound hooks — on each database."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from meridian.access import manage
from meridian.access.sessions import csrf_token_for
from meridian.app import create_app
from meridian.core.actor import Actor
from meridian.http.deps import SESSION_COOKIE, Workspace
from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import Worker
from meridian.settings import Settings
from tests.conftest import workspace_on
from tests.forms import install_forms, lead_form

PASSWORD = "s3cret-pass"


@pytest.fixture
def receiver() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


@pytest.fixture
def web(settings: Settings, workspace: Workspace) -> Iterator[TestClient]:
    system = Actor.system()
    with workspace.transaction() as conn:
        install_forms(
            conn,
            lead_form(
                {"key": "name", "label": "客户名称", "type": "text", "required": True},
                {"key": "severity", "label": "级别", "type": "text"},
            ),
        )
        manage.add_user(
            conn,
            system,
            email="admin@acme.test",
            name="admin",
            password=PASSWORD,
            passwords=workspace.passwords,
            roles=["administrator"],
            must_change_password=False,
        )
    with TestClient(create_app(settings, workspace=workspace), follow_redirects=False) as client:
        yield client


def log_in(client: TestClient) -> str:
    response = client.post(
        "/login", data={"email": "admin@acme.test", "password": PASSWORD, "next": "/"}
    )
    assert response.status_code == 303, response.text
    return csrf_token_for(client.cookies[SESSION_COOKIE])


def _routes(routes: Any, prefix: str) -> Iterator[tuple[str, set[str]]]:
    """Every route's path and methods, through included routers."""
    for route in routes:
        included = getattr(route, "include_context", None)
        if included is not None:
            yield from _routes(included.included_router.routes, prefix + included.prefix)
        elif hasattr(route, "path"):
            yield prefix + route.path, set(getattr(route, "methods", None) or ())


def run_jobs(engine: Engine) -> None:
    Worker(engine, job_handlers(workspace_on(engine)), ZoneInfo("Asia/Shanghai")).run_once()


def test_the_delivery_log_lists_real_deliveries(
    web: TestClient, engine: Engine, receiver: str
) -> None:
    csrf = log_in(web)
    added = web.post(
        "/admin/webhooks",
        data={"csrf_token": csrf, "form_key": "lead", "events": "RecordCreated", "url": receiver},
    )
    assert added.status_code == 200, added.text
    created = web.post("/forms/lead/new", data={"csrf_token": csrf, "name": "华东数据"})
    assert created.status_code == 303, created.text
    run_jobs(engine)
    page = web.get("/admin/webhooks/1")
    assert page.status_code == 200, page.text
    assert "RecordCreated" in page.text and ">200<" in page.text
    assert web.get("/admin/webhooks/999").status_code == 404


def test_every_administration_page_opens_with_real_objects_behind_it(
    web: TestClient, workspace: Workspace, engine: Engine, receiver: str
) -> None:
    """Each GET page under /admin, with something to show on it: a page that breaks only
    once it has rows (the delivery log did) fails here. A new page needs its ids below."""
    csrf = log_in(web)
    web.post(
        "/admin/webhooks",
        data={"csrf_token": csrf, "form_key": "lead", "events": "RecordCreated", "url": receiver},
    )
    rule = {
        "form_key": "lead",
        "label": "新线索提醒",
        "trigger": {"type": "record_created"},
        "actions": [{"type": "notify", "to": "owner", "title": "新线索"}],
    }
    assert web.post("/admin/rules", json=rule, headers={"X-CSRF-Token": csrf}).status_code == 200
    web.post("/admin/departments", data={"csrf_token": csrf, "name": "华东销售部"})
    web.post("/admin/tokens", data={"csrf_token": csrf, "name": "OA", "scope": "read"})
    assert (
        web.post("/forms/lead/new", data={"csrf_token": csrf, "name": "华东数据"}).status_code
        == 303
    )
    run_jobs(engine)
    ids = {
        "user_id": "1",
        "department_id": "1",
        "role": "member",
        "rule_id": "1",
        "webhook_id": "1",
        "channel_id": "1",
        "hook_id": "1",
    }
    pages = sorted(
        path
        for path, methods in _routes(web.app.router.routes, "")  # type: ignore[attr-defined]
        if path.startswith("/admin") and "GET" in methods
    )
    assert "/admin/webhooks/{webhook_id}" in pages
    for path in pages:
        url = path.format(**ids)
        response = web.get(url)
        assert response.status_code == 200, (url, response.text[:2000])
