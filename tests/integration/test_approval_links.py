"""Deciding from a WeCom / DingTalk / Feishu card: the robot (a real HTTP receiver on
127.0.0.1) gets one card per approver; the test takes the card's URL out of the JSON it got,
opens it with a plain HTTP client that never signed in, and approves. The flow advances once, a
second POST of the link is refused, an expired or unknown link acts on nothing, and every
refusal is a page (4xx) in the reader's language."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from meridian.app import create_app
from meridian.core.actor import Actor
from meridian.db.tables import approval_acts, approval_links, approval_tasks
from meridian.errors import MeridianError
from meridian.flows.approvals import link_acts, links, operations
from meridian.http.deps import Workspace
from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import Worker
from meridian.notify.inbox import create_bot_channel
from meridian.settings import Settings
from tests.approvals_support import Company, approver, build_company
from tests.conftest import FakeClock, workspace_on

BASE = "https://crm.example.test/meridian"
NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


@pytest.fixture
def clock(fake_clock: FakeClock) -> list[datetime]:
    current = [NOW]
    fake_clock.follow(lambda: current[0])
    return current


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Links are made absolute with the base URL; guessing is slowed after 4 failures."""
    return settings.model_copy(update={"base_url": BASE, "login_max_failures": 4})


@pytest.fixture
def link_settings(settings: Settings) -> Settings:
    return settings


@pytest.fixture
def company(workspace: Workspace, admin: Actor, clock: list[datetime]) -> Company:
    return build_company(workspace, admin)


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
    yield received, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def visitor(workspace: Workspace, link_settings: Settings) -> TestClient:
    """A plain HTTP client: no session, no token, as a phone's browser opening a card."""
    return TestClient(
        create_app(link_settings, workspace=workspace), base_url="https://crm.example.test"
    )


def run_jobs(engine: Engine, settings: Settings) -> None:
    worker = Worker(engine, job_handlers(workspace_on(engine, settings)), ZoneInfo("Asia/Shanghai"))
    while worker.run_once():
        pass


def card_url(kind: str, body: dict[str, Any]) -> str:
    """The button's URL, where each platform's card format keeps it."""
    if kind == "wecom":
        assert body["msgtype"] == "template_card"
        return str(body["template_card"]["card_action"]["url"])
    if kind == "dingtalk":
        assert body["msgtype"] == "actionCard"
        return str(body["actionCard"]["singleURL"])
    assert body["msg_type"] == "interactive"
    return str(body["card"]["elements"][1]["actions"][0]["url"])


def card_title(kind: str, body: dict[str, Any]) -> str:
    if kind == "wecom":
        return str(body["template_card"]["main_title"]["title"])
    if kind == "dingtalk":
        return str(body["actionCard"]["title"])
    return str(body["card"]["header"]["title"]["content"])


def form_token(html: str) -> str:
    found = re.search(r'name="form_token" value="([0-9a-f]+)"', html)
    assert found, html
    return found.group(1)


def path_of(url: str) -> str:
    assert url.startswith(BASE + "/approvals/links/"), url
    return urlsplit(url).path.removeprefix(urlsplit(BASE).path)


def _setup(company: Company, robot_url: str, *nodes: dict[str, Any]) -> tuple[dict[str, int], int]:
    with company.workspace.transaction() as conn:
        channels = {
            kind: create_bot_channel(
                conn,
                company.admin,
                kind=kind,
                name=f"{kind} 审批群",
                webhook_url=f"{robot_url}/{kind}",
                secret=None,
            )["id"]
            for kind in ("wecom", "dingtalk", "feishu")
        }
        from meridian.flows.approvals import definitions

        definitions.save_flow(
            conn,
            company.admin,
            {
                "key": "contract_approval",
                "form": "contract",
                "label": "合同审批",
                "definition": {"nodes": list(nodes), "bots": list(channels.values())},
            },
        )
    record_id = company.contract("150000")
    with company.workspace.transaction() as conn:
        approval = operations.submit(
            conn=conn, actor=company["sales"], flow_key="contract_approval", record_id=record_id
        )
    return channels, int(approval["id"])


def _cards(received: list[tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    return {path.strip("/"): body for path, body in received}


def _state(engine: Engine, approval_id: int) -> tuple[list[tuple[str, str]], int]:
    with engine.connect() as conn:
        tasks = [
            (str(r.assignee_id), r.state)
            for r in conn.execute(
                sa.select(approval_tasks.c.assignee_id, approval_tasks.c.state)
                .where(approval_tasks.c.approval_id == approval_id)
                .order_by(approval_tasks.c.id)
            )
        ]
        acts = conn.scalar(
            sa.select(sa.func.count())
            .select_from(approval_acts)
            .where(approval_acts.c.approval_id == approval_id)
        )
    return tasks, int(acts or 0)


def test_an_approver_approves_from_each_platforms_card_once(
    company: Company,
    engine: Engine,
    link_settings: Settings,
    robot: tuple[list[tuple[str, dict[str, Any]]], str],
    visitor: TestClient,
) -> None:
    received, robot_url = robot
    _, approval_id = _setup(
        company,
        robot_url,
        approver("legal", company, "legal"),
        approver("vp", company, "vp"),
    )
    run_jobs(engine, link_settings)
    cards = _cards(received)
    assert sorted(cards) == ["dingtalk", "feishu", "wecom"]
    urls = {kind: card_url(kind, body) for kind, body in cards.items()}
    for kind, body in cards.items():
        assert "Legal" in card_title(kind, body)  # one card per approver, naming them
    # The database holds only the link's hash: the token is in the message alone.
    token = path_of(urls["wecom"]).rsplit("/", 1)[1]
    with engine.connect() as conn:
        stored = conn.execute(sa.select(approval_links)).all()
    assert len(stored) == 1 and token not in {stored[0].token_hash}
    assert len({urls["wecom"], urls["dingtalk"], urls["feishu"]}) == 1

    page = visitor.get(path_of(urls["dingtalk"]), headers={"Accept-Language": "en"})
    assert page.status_code == 200, page.text
    assert "ACME-IDC-2026" in page.text and "合同审批" in page.text
    assert "You decide as Legal." in page.text
    before_tasks, before_acts = _state(engine, approval_id)

    # Without the page's form token nothing happens (a preview or a forged POST).
    forged = visitor.post(path_of(urls["dingtalk"]), data={"act": "approve", "form_token": "0"})
    assert forged.status_code == 403
    assert _state(engine, approval_id) == (before_tasks, before_acts)

    done = visitor.post(
        path_of(urls["feishu"]),
        data={"act": "approve", "comment": "法务同意", "form_token": form_token(page.text)},
        headers={"Accept-Language": "en"},
    )
    assert done.status_code == 200, done.text
    assert "Approved. Thank you." in done.text
    tasks, acts = _state(engine, approval_id)
    legal, vp = str(company.id("legal")), str(company.id("vp"))
    assert tasks == [(legal, "approved"), (vp, "pending")]  # the flow advanced once
    with engine.connect() as conn:
        decision = conn.execute(
            sa.select(approval_acts).where(
                approval_acts.c.approval_id == approval_id, approval_acts.c.action == "approve"
            )
        ).one()
    assert decision.actor_id == company.id("legal")
    assert decision.comment == "法务同意" and decision.detail["channel"] == "link"

    again = visitor.post(
        path_of(urls["wecom"]),
        data={"act": "approve", "form_token": form_token(page.text)},
        headers={"Accept-Language": "zh-CN"},
    )
    assert again.status_code == 409
    assert "此链接已经用过" in again.text
    assert _state(engine, approval_id) == (tasks, acts)
    reopened = visitor.get(path_of(urls["wecom"]), headers={"Accept-Language": "en"})
    assert reopened.status_code == 409 and "already been used" in reopened.text

    # The VP's cards came when their task opened; the VP waits too long.
    received.clear()
    run_jobs(engine, link_settings)
    vp_url = card_url("wecom", _cards(received)["wecom"])
    assert "Vp" in card_title("wecom", _cards(received)["wecom"])
    vp_page = visitor.get(path_of(vp_url))
    assert vp_page.status_code == 200
    with engine.begin() as conn:
        conn.execute(
            approval_links.update()
            .where(approval_links.c.used_at.is_(None))
            .values(expires_at=NOW - timedelta(minutes=1))
        )
    late = visitor.post(
        path_of(vp_url),
        data={"act": "approve", "form_token": form_token(vp_page.text)},
        headers={"Accept-Language": "en"},
    )
    assert late.status_code == 410 and "expired" in late.text
    assert visitor.get(path_of(vp_url)).status_code == 410
    assert _state(engine, approval_id) == (tasks, acts)


def test_a_link_is_dead_once_its_task_is_no_longer_open(
    company: Company,
    engine: Engine,
    link_settings: Settings,
    robot: tuple[list[tuple[str, dict[str, Any]]], str],
    visitor: TestClient,
) -> None:
    received, robot_url = robot
    _, approval_id = _setup(company, robot_url, approver("legal", company, "legal"))
    run_jobs(engine, link_settings)
    url = card_url("feishu", _cards(received)["feishu"])
    page = visitor.get(path_of(url))
    with company.workspace.transaction() as conn:
        task_id = conn.scalar(
            sa.select(approval_tasks.c.id).where(approval_tasks.c.approval_id == approval_id)
        )
        operations.transfer(
            conn=conn, actor=company["legal"], task_id=int(task_id), user_id=company.id("finance")
        )
    moved = visitor.post(
        path_of(url),
        data={"act": "approve", "form_token": form_token(page.text)},
        headers={"Accept-Language": "en"},
    )
    assert moved.status_code == 409 and "transferred to someone else" in moved.text
    # The new assignee's link works until the task is decided elsewhere (their inbox).
    received.clear()
    run_jobs(engine, link_settings)
    finance_url = card_url("dingtalk", _cards(received)["dingtalk"])
    assert visitor.get(path_of(finance_url)).status_code == 200
    with company.workspace.transaction() as conn:
        finance_task = conn.scalar(
            sa.select(approval_tasks.c.id).where(
                approval_tasks.c.approval_id == approval_id, approval_tasks.c.state == "pending"
            )
        )
        operations.return_for_edit(conn=conn, actor=company["finance"], task_id=int(finance_task))
    returned = visitor.get(path_of(finance_url), headers={"Accept-Language": "zh-CN"})
    assert returned.status_code == 409 and "已退回提交人修改" in returned.text
    # Resubmitted, then recalled before anyone acted: the new round's link dies with it.
    received.clear()
    with company.workspace.transaction() as conn:
        operations.resubmit(conn=conn, actor=company["sales"], approval_id=approval_id)
    run_jobs(engine, link_settings)
    legal_url = card_url("wecom", _cards(received)["wecom"])
    assert visitor.get(path_of(legal_url)).status_code == 200
    with company.workspace.transaction() as conn:
        operations.recall(conn=conn, actor=company["sales"], approval_id=approval_id)
    recalled = visitor.get(path_of(legal_url), headers={"Accept-Language": "zh-CN"})
    assert recalled.status_code == 409 and "提交人已撤回此审批" in recalled.text
    tasks, acts = _state(engine, approval_id)
    saved_form = links.form_token(path_of(legal_url).rsplit("/", 1)[1])  # a page kept open
    posted = visitor.post(path_of(legal_url), data={"act": "approve", "form_token": saved_form})
    assert posted.status_code == 409 and _state(engine, approval_id) == (tasks, acts)
    unknown = visitor.get("/approvals/links/not-a-real-token", headers={"Accept-Language": "en"})
    assert unknown.status_code == 404 and "not valid" in unknown.text


def test_guessing_links_is_slowed_like_logins(
    company: Company,
    engine: Engine,
    link_settings: Settings,
    robot: tuple[list[tuple[str, dict[str, Any]]], str],
    visitor: TestClient,
) -> None:
    received, robot_url = robot
    approval_id = _setup(company, robot_url, approver("legal", company, "legal"))[1]
    run_jobs(engine, link_settings)
    url = card_url("wecom", _cards(received)["wecom"])
    for guess in range(4):  # login_max_failures is 4 here
        assert visitor.get(f"/approvals/links/guess{guess}").status_code == 404
    slowed = visitor.get(path_of(url), headers={"Accept-Language": "en"})
    assert slowed.status_code == 429 and int(slowed.headers["Retry-After"]) >= 1
    assert "too many attempts" in slowed.text.lower()
    assert _state(engine, approval_id)[0] == [(str(company.id("legal")), "pending")]


def test_a_signed_in_browser_of_someone_else_still_acts_as_the_links_approver(
    company: Company,
    engine: Engine,
    link_settings: Settings,
    robot: tuple[list[tuple[str, dict[str, Any]]], str],
    visitor: TestClient,
) -> None:
    received, robot_url = robot
    approval_id = _setup(company, robot_url, approver("legal", company, "legal"))[1]
    run_jobs(engine, link_settings)
    url = card_url("wecom", _cards(received)["wecom"])
    logged = visitor.post(
        "/login",
        data={"email": "clerk@acme.test", "password": "correct horse"},
        follow_redirects=False,
    )
    assert logged.status_code == 303
    page = visitor.get(path_of(url), headers={"Accept-Language": "en"})
    assert "You decide as Legal." in page.text
    assert "signed in as Clerk" in page.text
    done = visitor.post(
        path_of(url),
        data={"act": "reject", "comment": "价格过低", "form_token": form_token(page.text)},
    )
    assert done.status_code == 200, done.text
    with engine.connect() as conn:
        decision = conn.execute(
            sa.select(approval_acts).where(
                approval_acts.c.approval_id == approval_id, approval_acts.c.action == "reject"
            )
        ).one()
    assert decision.actor_id == company.id("legal") and decision.detail["channel"] == "link"


def test_two_posts_of_one_link_at_the_same_instant_act_once(
    company: Company,
    engine: Engine,
    link_settings: Settings,
    robot: tuple[list[tuple[str, dict[str, Any]]], str],
) -> None:
    received, robot_url = robot
    approval_id = _setup(
        company, robot_url, approver("legal", company, "legal"), approver("vp", company, "vp")
    )[1]
    run_jobs(engine, link_settings)
    token = path_of(card_url("wecom", _cards(received)["wecom"])).rsplit("/", 1)[1]
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def post() -> None:
        start.wait()
        try:
            with company.workspace.transaction() as conn:
                link_acts.act_by_link(conn=conn, token=token, act="approve")
            outcomes.append("acted")
        except MeridianError as exc:
            outcomes.append(exc.code)
        except sa.exc.OperationalError:  # SQLite: the loser may find the database busy
            outcomes.append("busy")

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes)[0] == "acted" and outcomes.count("acted") == 1, outcomes
    tasks, _ = _state(engine, approval_id)
    assert tasks == [(str(company.id("legal")), "approved"), (str(company.id("vp")), "pending")]
    with engine.connect() as conn:
        approvals_made = conn.scalar(
            sa.select(sa.func.count())
            .select_from(approval_acts)
            .where(approval_acts.c.approval_id == approval_id, approval_acts.c.action == "approve")
        )
    assert approvals_made == 1
