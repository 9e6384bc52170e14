"""The OA pattern end to end: a contract entering 谈判 starts its approval, whose first node
calls the company's OA system (a real HTTP receiver on 127.0.0.1, HMAC-signed); the OA's
decision comes back through the API in the name of the OA's approver account and is recorded
as that approver's act; the record unlocks and the 签约 gate requiring the approval lets it on.
SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from meridian.access.tokens import create_token
from meridian.app import create_app
from meridian.core.actor import Actor
from meridian.http.deps import Workspace
from meridian.integrations.webhooks import sign
from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import Worker
from meridian.settings import Settings
from tests.approvals_support import approver, build_company
from tests.conftest import workspace_on

SECRET = "oa-shared-secret"


@pytest.fixture
def oa() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The OA system's receiving end: records every call with its headers."""
    calls: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            calls.append({"headers": dict(self.headers), "body": body})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"accepted": true}')

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/oa/approvals", calls
    server.shutdown()
    server.server_close()


def test_the_oa_decides_through_the_api_and_the_record_moves_on(
    workspace: Workspace,
    admin: Actor,
    settings: Settings,
    oa: tuple[str, list[dict[str, Any]]],
) -> None:
    url, calls = oa
    company = build_company(workspace, admin)
    # The OA's account in Meridian (here the clerk) is the approver the OA decides as.
    company.flow(
        "contract_approval",
        [
            {"id": "tell_oa", "type": "action", "action": "webhook", "url": url, "secret": SECRET},
            approver("oa", company, "clerk", label="OA 审批"),
        ],
    )
    app = create_app(settings, workspace=workspace)
    with workspace.transaction() as conn:
        tokens = {
            name: create_token(conn=conn, user_id=company.id(name), name="oa")
            for name in ("sales", "clerk")
        }
        tokens["admin"] = create_token(conn=conn, user_id=company.admin.user_id or 0, name="t")
    sales, oa_client, admin_client = (
        TestClient(app, headers={"Authorization": f"Bearer {tokens[n]}"})
        for n in ("sales", "clerk", "admin")
    )
    pipeline = {
        "key": "contracting",
        "label": "签约流程",
        "stage_field": "stage",
        "stages": [
            {
                "key": "negotiation",
                "label": "谈判",
                "category": "open",
                "entry": [{"kind": "start_approval", "config": {"flow": "contract_approval"}}],
            },
            {
                "key": "signed",
                "label": "签约",
                "category": "won",
                "entry": [{"kind": "approval", "config": {"flow": "contract_approval"}}],
            },
        ],
    }
    saved = admin_client.put("/api/v1/forms/contract/pipelines/contracting", json=pipeline)
    assert saved.status_code == 200, saved.text
    record_id = company.contract("1200000")
    record_url = f"/api/v1/forms/contract/records/{record_id}"

    # Entering 谈判 starts the approval; the worker calls the OA, signed.
    assert sales.patch(record_url, json={"stage": "negotiation"}).status_code == 200
    worker = Worker(
        workspace.engine, job_handlers(workspace_on(workspace.engine)), ZoneInfo("Asia/Shanghai")
    )
    while worker.run_once():
        pass
    (call,) = calls
    headers = {k.lower(): v for k, v in call["headers"].items()}
    timestamp = int(headers["x-meridian-timestamp"])
    assert headers["x-meridian-signature"] == sign(SECRET, timestamp, call["body"])
    assert headers["x-idempotency-key"]
    sent = json.loads(call["body"])
    assert sent["record_id"] == record_id and sent["form"] == "contract"
    approval_id = sent["approval_id"]

    # While the OA decides, the record is locked.
    assert sales.patch(record_url, json={"note": "改价"}).status_code == 422

    # The OA's decision comes back as its approver's act, by the approval the call named.
    seen = oa_client.get(f"/api/v1/approvals/{approval_id}")
    assert seen.status_code == 200, seen.text
    (task,) = [t for t in seen.json()["tasks"] if t["state"] == "pending"]
    assert task["assignee_id"] == company.id("clerk")
    decided = oa_client.post(
        f"/api/v1/approvals/tasks/{task['id']}/approve", json={"comment": "OA 流程 #88021 已通过"}
    )
    assert decided.status_code == 200, decided.text
    approval = sales.get(f"/api/v1/approvals/{approval_id}").json()
    assert approval["state"] == "approved"
    act = next(a for a in approval["trail"] if a["action"] == "approve")
    assert act["actor_id"] == company.id("clerk")
    assert act["comment"] == "OA 流程 #88021 已通过"

    # Unlocked, and the 签约 gate holds the approval as met.
    assert sales.patch(record_url, json={"note": "已盖章"}).status_code == 200
    moved = sales.patch(record_url, json={"stage": "signed"})
    assert moved.status_code == 200, moved.text
    # A second decision from the OA (a retried call) is refused, not counted twice.
    again = oa_client.post(f"/api/v1/approvals/tasks/{task['id']}/approve", json={})
    assert again.status_code == 409
