"""Outbound webhooks against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from meridian.db.tables import outbox
from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import Worker
from tests.conftest import FakeClock, workspace_on


@dataclass
class Receiver:
    url: str
    answers: list[int] = field(default_factory=list)
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append((dict(self.headers), body))
            status = state.answers.pop(0) if state.answers else 200
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"ok" if status == 200 else b"busy")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/crm"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def crm(client: TestClient) -> TestClient:
    client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"})
    form = {
        "key": "contract",
        "label": "合同",
        "fields": [
            {"key": "title", "label": "标题", "type": "text"},
            {"key": "status", "label": "状态", "type": "text"},
        ],
    }
    assert client.post("/api/v1/apps/crm/forms", json=form).status_code == 201
    return client


def worker(engine: Engine) -> Worker:
    return Worker(engine, job_handlers(workspace_on(engine)), ZoneInfo("Asia/Shanghai"))


def test_a_signed_delivery_reaches_the_receiver_with_the_record_and_the_change(
    crm: TestClient, engine: Engine, receiver: Receiver
) -> None:
    created = crm.post(
        "/api/v1/webhooks",
        json={"form_key": "contract", "events": ["RecordUpdated"], "url": receiver.url},
    )
    assert created.status_code == 201
    secret = created.json()["secret"]
    record = crm.post(
        "/api/v1/forms/contract/records", json={"title": "IDC 托管", "status": "草稿"}
    )
    crm.patch(f"/api/v1/forms/contract/records/{record.json()['id']}", json={"status": "已签约"})
    worker(engine).run_once()
    [(headers, body)] = receiver.requests  # created is not subscribed: one delivery
    payload = json.loads(body)
    assert payload["event"] == "RecordUpdated"
    assert payload["changes"] == {"status": ["草稿", "已签约"]}
    assert payload["record"]["status"] == "已签约"
    timestamp = headers["X-Meridian-Timestamp"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    assert headers["X-Meridian-Signature"] == "v1=" + expected.hexdigest()
    # The key names what caused the delivery (the update's event and the subscription), so
    # every attempt and every re-run sends the same one.
    with engine.connect() as conn:
        event_id = conn.scalar(sa.select(outbox.c.id).where(outbox.c.event_type == "RecordUpdated"))
    key = f"meridian-event-{event_id}-webhook-{created.json()['id']}"
    assert headers["X-Idempotency-Key"] == key
    assert "secret" not in crm.get("/api/v1/webhooks").json()["items"][0]


def test_a_refused_delivery_is_retried_with_backoff_and_logged(
    crm: TestClient, engine: Engine, receiver: Receiver, fake_clock: FakeClock
) -> None:
    current = [fake_clock.now()]
    fake_clock.follow(lambda: current[0])
    hook = crm.post(
        "/api/v1/webhooks",
        json={"form_key": "contract", "events": ["RecordCreated"], "url": receiver.url},
    ).json()
    receiver.answers = [503, 500]
    crm.post("/api/v1/forms/contract/records", json={"title": "A"})
    run = worker(engine)
    run.run_once()
    current[0] += timedelta(seconds=10)
    run.run_once()
    current[0] += timedelta(seconds=20)
    run.run_once()
    keys = {headers["X-Idempotency-Key"] for headers, _ in receiver.requests}
    assert len(receiver.requests) == 3 and len(keys) == 1
    log = crm.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json()["items"]
    assert [(d["attempt"], d["status_code"]) for d in log] == [(3, 200), (2, 500), (1, 503)]
    replayed = crm.post(f"/api/v1/webhooks/{hook['id']}/deliveries/{log[0]['id']}/replay")
    assert replayed.status_code == 202
    run.run_once()
    assert len(receiver.requests) == 4
    assert json.loads(receiver.requests[-1][1]) == json.loads(receiver.requests[0][1])
    # The same delivery under the same key: a receiver that already took it drops it.
    assert receiver.requests[-1][0]["X-Idempotency-Key"] in keys


def test_an_unreachable_receiver_is_a_failed_attempt_not_a_crash(
    crm: TestClient, engine: Engine
) -> None:
    hook = crm.post(
        "/api/v1/webhooks",
        json={"form_key": "contract", "events": ["RecordCreated"], "url": "http://127.0.0.1:9/x"},
    ).json()
    crm.post("/api/v1/forms/contract/records", json={"title": "A"})
    worker(engine).run_once()
    [entry] = crm.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json()["items"]
    assert entry["status_code"] is None and "ConnectError" in entry["error"]
    [job] = crm.get("/api/v1/jobs", params={"kind": "webhook.deliver"}).json()["items"]
    assert job["state"] == "ready" and job["attempts"] == 1


def test_bad_subscriptions_are_refused_and_a_rolled_back_change_sends_nothing(
    crm: TestClient, engine: Engine, receiver: Receiver
) -> None:
    bad = crm.post(
        "/api/v1/webhooks",
        json={"form_key": "contract", "events": ["RecordSigned"], "url": "ftp://x"},
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"url", "events"}
    crm.post(
        "/api/v1/webhooks",
        json={"form_key": "contract", "events": ["RecordCreated"], "url": receiver.url},
    )
    refused = crm.post("/api/v1/forms/contract/records", json={"title": ["not", "text"]})
    assert refused.status_code == 422
    worker(engine).run_once()
    assert receiver.requests == []


def test_a_rule_calls_a_webhook_signed_and_retried_until_taken(
    crm: TestClient, engine: Engine, receiver: Receiver, fake_clock: FakeClock
) -> None:
    current = [fake_clock.now()]
    fake_clock.follow(lambda: current[0])
    rule = crm.post(
        "/api/v1/rules",
        json={
            "form_key": "contract",
            "label": "签约通知财务",
            "trigger": {"type": "field_changed", "field": "status", "to": ["已签约"]},
            "actions": [{"type": "webhook", "url": receiver.url, "secret": "s3cret"}],
        },
    )
    assert rule.status_code == 201, rule.text
    record = crm.post("/api/v1/forms/contract/records", json={"title": "A", "status": "草稿"})
    crm.patch(f"/api/v1/forms/contract/records/{record.json()['id']}", json={"status": "已签约"})
    receiver.answers = [502]
    run = worker(engine)
    run.run_once()  # the rule runs and queues the call
    run.run_once()  # the call: refused
    current[0] += timedelta(seconds=11)
    run.run_once()  # the retry: taken
    assert len(receiver.requests) == 2
    (first, _), (headers, body) = receiver.requests
    assert first["X-Idempotency-Key"] == headers["X-Idempotency-Key"]
    payload = json.loads(body)
    assert payload["event"] == "RuleFired" and payload["record"]["status"] == "已签约"
    expected = hmac.new(
        b"s3cret", f"{headers['X-Meridian-Timestamp']}.".encode() + body, hashlib.sha256
    )
    assert headers["X-Meridian-Signature"] == "v1=" + expected.hexdigest()
    [logged] = crm.get(f"/api/v1/rules/{rule.json()['id']}/runs").json()["items"]
    assert logged["outcome"] == "succeeded" and logged["actions"][0]["type"] == "webhook"


def test_a_webhook_action_needs_an_http_url(crm: TestClient) -> None:
    response = crm.post(
        "/api/v1/rules",
        json={
            "form_key": "contract",
            "label": "bad",
            "trigger": {"type": "record_created"},
            "actions": [{"type": "webhook", "url": "file:///etc/passwd"}],
        },
    )
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "actions.0.url" and error["value"] == "file:///etc/passwd"
