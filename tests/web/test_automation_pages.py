"""The automation administration pages over HTTP, with real deliveries and real hook calls:
the webhook delivery log, bot channels and inbound hooks — on each database."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import timedelta
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
from meridian.integrations import inbound
from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import Worker
from meridian.notify import inbox
from meridian.notify.inbox import inbox as inbox_of
from meridian.settings import Settings
from tests.conftest import FakeClock, workspace_on
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
                {"key": "due", "label": "跟进日期", "type": "date"},
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
    nodes = [{"id": "boss", "type": "approver", "approvers": [{"type": "user", "ids": [1]}]}]
    flow = {"key": "lead_approval", "label": "线索审批", "form": "lead"}
    saved = web.post(
        "/admin/approvals",
        data={"csrf_token": csrf, **flow, "draft": json.dumps({"nodes": nodes})},
    )
    assert saved.status_code == 303, saved.text
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
        "flow_key": "lead_approval",
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


def test_the_rule_page_speaks_in_words_and_shows_a_run_that_reached_nobody(
    web: TestClient, engine: Engine
) -> None:
    csrf = log_in(web)
    rule = {
        "form_key": "lead",
        "label": "告诉部门负责人",
        "trigger": {"type": "record_created"},
        "condition": 'severity = "critical"',
        "actions": [
            {"type": "notify", "to": "department_head", "title": "紧急线索"},
            {
                "type": "create",
                "form": "lead",
                "values": {"severity": "follow-up"},  # no name: the form requires one
            },
        ],
    }
    assert web.post("/admin/rules", json=rule, headers={"X-CSRF-Token": csrf}).status_code == 200
    created = web.post(
        "/forms/lead/new", data={"csrf_token": csrf, "name": "华东数据", "severity": "critical"}
    )
    record_url = created.headers["location"]
    run_jobs(engine)
    page = web.get("/admin/rules/1").text
    assert "新建线索记录时" in page and "通知负责人所在部门的部门负责人：“紧急线索”" in page
    assert "新建线索记录：级别 = “follow-up”；负责人为 触发记录的负责人" in page
    assert "&#34;actions&#34;" in page  # the JSON stays, folded, for administrators
    # The run failed (the created lead has no name); the dry run says so before any run.
    assert "失败" in page
    dry = web.post("/admin/rules/1/dry-run", data={"csrf_token": csrf, "record_id": "1"})
    assert dry.status_code == 200
    assert dry.text.count('data-testid="would-fail"') == 1 and "name:" in dry.text
    assert "没有通知到任何人：负责人所在部门及上级部门都没有设置部门负责人。" in dry.text
    rule["actions"] = rule["actions"][:1]
    assert web.put("/admin/rules/1", json=rule, headers={"X-CSRF-Token": csrf}).status_code == 200
    web.post("/forms/lead/new", data={"csrf_token": csrf, "name": "华南", "severity": "critical"})
    run_jobs(engine)
    page = web.get("/admin/rules/1").text
    assert "警告" in page and "没有通知到任何人" in page
    second = web.get(record_url.replace("/1", "/2")).text
    assert 'data-testid="run-warning"' in second and "没有通知到任何人" in second
    web.post("/preferences/language", data={"csrf_token": csrf, "locale": "en"})
    english = web.get("/admin/rules/1").text
    assert "When a 线索 record is created" in english
    assert "Notify the head of the owner&#39;s department: “紧急线索”" in english
    assert "Nobody was notified: no department head above the owner." in english


def test_a_time_rule_page_counts_the_records_inside_its_window_and_catches_them_up(
    web: TestClient, engine: Engine, workspace: Workspace, fake_clock: FakeClock
) -> None:
    csrf = log_in(web)
    today = fake_clock.now().astimezone(ZoneInfo("Asia/Shanghai")).date()
    for days in (3, 5, 40):
        web.post(
            "/forms/lead/new",
            data={"csrf_token": csrf, "name": f"{days}", "due": str(today + timedelta(days))},
        )
    rule = {
        "form_key": "lead",
        "label": "跟进前七天",
        "trigger": {"type": "date_relative", "field": "due", "offset_days": -7},
        "actions": [{"type": "notify", "to": "owner", "title": "该跟进了"}],
    }
    assert web.post("/admin/rules", json=rule, headers={"X-CSRF-Token": csrf}).status_code == 200
    page = web.get("/admin/rules/1").text
    assert "线索记录的「跟进日期」之前 7 天" in page
    assert "有 2 条记录已经处在此规则的时间窗口内" in page and "立即补发 2 条记录" in page
    done = web.post("/admin/rules/1/catch-up", data={"csrf_token": csrf})
    assert "已补发：规则为 2 条记录触发。" in done.text and "有 0 条记录" in done.text
    run_jobs(engine)
    with workspace.read() as conn:
        assert len(inbox_of(conn, Actor(user_id=1, is_admin=True))["items"]) == 2


def test_bad_robot_and_hook_input_is_named_on_the_page_and_changes_nothing(
    web: TestClient, workspace: Workspace
) -> None:
    csrf = log_in(web)
    bad_bot = web.post(
        "/admin/bots",
        data={"csrf_token": csrf, "kind": "slack", "name": " ", "webhook_url": "ftp://x"},
    )
    assert bad_bot.status_code == 422
    for field in ("kind", "webhook_url", "name"):
        assert field in bad_bot.text
    bad_hook = web.post(
        "/admin/hooks",
        data={
            "csrf_token": csrf,
            "form_key": "lead",
            "name": "告警",
            "path.name": "summary",
            "owner": "round_robin",
            "owner_department": "999999",
        },
    )
    problems = " ".join(re.findall(r'class="error">([^<]*)', bad_hook.text))
    assert bad_hook.status_code == 422
    assert "department" in problems or "部门" in problems, problems
    assert 'value="告警"' in bad_hook.text  # what was typed is kept
    assert web.post("/admin/hooks/77/delete", data={"csrf_token": csrf}).status_code == 404
    with workspace.read() as conn:
        assert inbox.list_bot_channels(conn, Actor(user_id=1, is_admin=True)) == []
        assert inbound.list_hooks(conn, Actor(user_id=1, is_admin=True)) == []
    good = web.post(
        "/admin/hooks",
        data={"csrf_token": csrf, "form_key": "lead", "name": "告警", "path.name": "summary"},
    )
    assert good.status_code == 200 and 'data-testid="hook-path"' in good.text
