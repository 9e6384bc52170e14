"""Notifications from a rule: the inbox, email through a real SMTP server, group robots."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from meridian.access import manage
from meridian.app import create_app
from meridian.core.actor import Actor
from meridian.http.deps import Workspace
from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import Worker
from meridian.notify.inbox import notify_bot, notify_users, set_preferences
from meridian.settings import Settings
from tests.conftest import workspace_on


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    with socket.socket() as probe:  # a free port: aiosmtpd checks it started by connecting
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture
def robot() -> Iterator[tuple[list[tuple[str, dict[str, Any]]], str]]:
    received: list[tuple[str, dict[str, Any]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, json.loads(body)))
            answer = json.dumps({"errcode": 0, "code": 0}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield received, f"http://127.0.0.1:{server.server_address[1]}/robot/send?access_token=t"
    server.shutdown()
    server.server_close()


@pytest.fixture
def crm(client: TestClient, workspace: Workspace) -> dict[str, int]:
    client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"})
    form = {
        "key": "quote",
        "label": "报价",
        "fields": [{"key": "title", "label": "标题", "type": "text"}],
    }
    assert client.post("/api/v1/apps/crm/forms", json=form).status_code == 201
    with workspace.transaction() as conn:
        boss = manage.add_user(
            conn,
            Actor.system(),
            email="boss@acme.test",
            name="老板",
            password="Passw0rd-long",
            passwords=workspace.passwords,
            roles=["manager"],
            must_change_password=False,
        )
        rep = manage.add_user(
            conn,
            Actor.system(),
            email="rep@acme.test",
            name="销售",
            password="Passw0rd-long",
            passwords=workspace.passwords,
            roles=["member"],
            manager_id=boss["id"],
            must_change_password=False,
        )
    return {"boss": boss["id"], "rep": rep["id"]}


def run_jobs(engine: Engine, settings: Settings) -> None:
    worker = Worker(engine, job_handlers(workspace_on(engine, settings)), ZoneInfo("Asia/Shanghai"))
    while worker.run_once():
        pass


def test_a_rule_notifies_the_owners_manager_in_the_inbox_and_by_email(
    client: TestClient,
    workspace: Workspace,
    engine: Engine,
    settings: Settings,
    crm: dict[str, int],
    mailbox: tuple[Mailbox, int],
) -> None:
    box, port = mailbox
    response = client.post(
        "/api/v1/rules",
        json={
            "form_key": "quote",
            "label": "报价提醒经理",
            "trigger": {"type": "record_created"},
            "actions": [
                {
                    "type": "notify",
                    "to": "manager",
                    "title": {"expr": 'CONCAT("新报价：", title)'},
                    "body": "请尽快审核 / please review",
                }
            ],
        },
    )
    assert response.status_code == 201, response.text
    quote = client.post(
        "/api/v1/forms/quote/records", json={"title": "IDC 机柜 20 个", "owner_id": crm["rep"]}
    ).json()
    mail_settings = settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": port, "base_url": "https://crm.acme.test"}
    )
    run_jobs(engine, mail_settings)

    with TestClient(create_app(settings, workspace=workspace)) as boss:
        login = {"email": "boss@acme.test", "password": "Passw0rd-long"}
        csrf = boss.post("/api/v1/auth/login", json=login).json()["csrf_token"]
        inbox = boss.get("/api/v1/notifications").json()
        assert inbox["unread"] == 1
        [note] = inbox["items"]
        assert (note["title"], note["record_id"]) == ("新报价：IDC 机柜 20 个", quote["id"])
        marked = boss.post(
            f"/api/v1/notifications/{note['id']}/read", headers={"X-CSRF-Token": csrf}
        )
        assert marked.json() == {"marked": 1}
        assert boss.get("/api/v1/notifications").json()["unread"] == 0

    [mail] = box.messages
    assert mail["To"] == "boss@acme.test"
    assert mail["Subject"] == "新报价：IDC 机柜 20 个"
    assert isinstance(mail, EmailMessage)
    text = mail.get_content()
    assert (
        "请尽快审核" in text and f"https://crm.acme.test/forms/quote/records/{quote['id']}" in text
    )


def test_email_is_skipped_for_users_who_turned_it_off_and_retried_when_smtp_is_down(
    client: TestClient,
    workspace: Workspace,
    engine: Engine,
    settings: Settings,
    crm: dict[str, int],
) -> None:
    with workspace.transaction() as conn:
        set_preferences(conn, Actor(user_id=crm["rep"]), email=False)
        notify_users(conn, [crm["rep"], crm["boss"]], title="提醒")
    down = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": 9})
    run_jobs(engine, down)
    [job] = client.get("/api/v1/jobs", params={"kind": "notify.email"}).json()["items"]
    assert job["payload"]["to"] == "boss@acme.test"
    assert job["state"] == "ready" and "Connection refused" in job["last_error"]


@pytest.mark.parametrize("kind", ["wecom", "dingtalk", "feishu"])
def test_group_robots_get_their_platforms_message_format(
    client: TestClient,
    workspace: Workspace,
    engine: Engine,
    settings: Settings,
    robot: tuple[list[tuple[str, dict[str, Any]]], str],
    kind: str,
) -> None:
    received, url = robot
    secret = "SEC-test-secret"
    channel = client.post(
        "/api/v1/bot-channels",
        json={"kind": kind, "name": "销售群", "webhook_url": url, "secret": secret},
    )
    assert channel.status_code == 201, channel.text
    with workspace.transaction() as conn:
        notify_bot(
            conn,
            channel.json()["id"],
            title="合同已签约",
            body="华为云 IDC",
            form_key="contract",
            record_id=7,
        )
    run_jobs(engine, settings.model_copy(update={"base_url": "https://crm.acme.test"}))
    [(path, body)] = received
    link = "https://crm.acme.test/forms/contract/records/7"
    if kind == "wecom":
        assert body["msgtype"] == "markdown"
        assert "合同已签约" in body["markdown"]["content"] and link in body["markdown"]["content"]
    elif kind == "dingtalk":
        assert body["msgtype"] == "actionCard" and body["actionCard"]["singleURL"] == link
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(path).query))
        expected = base64.b64encode(
            hmac.new(f"{query['timestamp']}\n{secret}".encode(), digestmod=hashlib.sha256).digest()
        ).decode()
        assert query["sign"] == expected and query["access_token"] == "t"
    else:
        assert body["msg_type"] == "interactive"
        assert body["card"]["header"]["title"]["content"] == "合同已签约"
        assert body["card"]["elements"][1]["actions"][0]["url"] == link
        expected = base64.b64encode(
            hmac.new(f"{body['timestamp']}\n{secret}".encode(), digestmod=hashlib.sha256).digest()
        ).decode()
        assert body["sign"] == expected


def test_bad_bot_channels_are_refused(client: TestClient) -> None:
    response = client.post(
        "/api/v1/bot-channels", json={"kind": "slack", "name": " ", "webhook_url": "ftp://x"}
    )
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"kind", "name", "webhook_url"}


LINK = "https://crm.acme.test/forms/contract/records/7"
STYLED = {
    ("wecom", "text"): lambda b: b["msgtype"] == "text" and LINK in b["text"]["content"],
    ("wecom", "card"): lambda b: (
        b["msgtype"] == "template_card"
        and b["template_card"]["card_type"] == "text_notice"
        and b["template_card"]["main_title"]["title"] == "合同已签约"
        and b["template_card"]["card_action"] == {"type": 1, "url": LINK}
    ),
    ("dingtalk", "text"): lambda b: b["msgtype"] == "text" and LINK in b["text"]["content"],
    ("dingtalk", "markdown"): lambda b: (
        b["msgtype"] == "markdown"
        and b["markdown"]["title"] == "合同已签约"
        and f"({LINK})" in b["markdown"]["text"]
    ),
    ("feishu", "text"): lambda b: b["msg_type"] == "text" and LINK in b["content"]["text"],
    ("feishu", "markdown"): lambda b: (
        b["msg_type"] == "post"
        and b["content"]["post"]["zh_cn"]["title"] == "合同已签约"
        and b["content"]["post"]["zh_cn"]["content"][0][1]["href"] == LINK
    ),
}


@pytest.mark.parametrize(("kind", "style"), sorted(STYLED))
def test_group_robot_messages_come_as_text_markdown_or_card(
    client: TestClient,
    workspace: Workspace,
    engine: Engine,
    settings: Settings,
    robot: tuple[list[tuple[str, dict[str, Any]]], str],
    kind: str,
    style: str,
) -> None:
    received, url = robot
    channel = client.post(
        "/api/v1/bot-channels", json={"kind": kind, "name": "销售群", "webhook_url": url}
    ).json()
    with workspace.transaction() as conn:
        notify_bot(
            conn,
            channel["id"],
            title="合同已签约",
            body="华为云 IDC",
            form_key="contract",
            record_id=7,
            style=style,
        )
    run_jobs(engine, settings.model_copy(update={"base_url": "https://crm.acme.test"}))
    [(_, body)] = received
    assert STYLED[(kind, style)](body), body


def test_a_card_without_a_record_falls_back_to_markdown(
    client: TestClient,
    workspace: Workspace,
    engine: Engine,
    settings: Settings,
    robot: tuple[list[tuple[str, dict[str, Any]]], str],
) -> None:
    received, url = robot
    channel = client.post(
        "/api/v1/bot-channels", json={"kind": "wecom", "name": "群", "webhook_url": url}
    ).json()
    with workspace.transaction() as conn:
        notify_bot(conn, channel["id"], title="日报", body="今日新增 3 条商机", style="card")
    run_jobs(engine, settings)
    [(_, body)] = received
    assert body["msgtype"] == "markdown" and "今日新增" in body["markdown"]["content"]
