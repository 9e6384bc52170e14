"""Workers killed again and again: every rule effect happens once, every webhook key arrives.

Real processes: ``meridian worker`` runs in a process of its own on the test's database (forked
from a warm fork server, ``tests/worker_processes.py``) and is killed with SIGKILL every 0.1–0.6 s
of work, then started again, while 200 updates trigger a rule that creates a follow-up task and
calls a webhook, and each new task is delivered to a webhook subscription. The receiver is a
real HTTP server on 127.0.0.1 that counts requests per ``X-Idempotency-Key``: a delivery
repeated after a kill must come with the key it had before, so the receiver can drop it.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from meridian.core.actor import Actor
from meridian.db.engine import read_transaction, transaction
from meridian.db.tables import jobs, outbox, rule_runs
from meridian.http.deps import Workspace
from meridian.jobs import queue
from meridian.jobs.handlers import job_handlers
from meridian.jobs.queue import JobContext
from meridian.jobs.worker import Worker
from meridian.records import bulk
from meridian.schema.catalog import get_form
from tests.conftest import FakeClock, workspace_on
from tests.worker_processes import start_meridian, warm_fork_server, worker_env

UPDATES = 200
LEASE_SECONDS = 2
ROUNDS = 8
WORKERS = 2
DEADLINE_SECONDS = 60
STARTUPS = 10
"""The bound in start-up times: the first, one per two kills, and as many again for the work."""
STALL_SECONDS = 150
"""After the last kill the jobs left must keep getting done: 150 s with none done is a hang. It
outlasts the 80 s backoff after a fourth attempt (kills use attempts up). A bound on the whole
would be a guess at the machine's speed, and start-ups no longer show it."""
WATCHED = ("rules.run", "rules.call", "webhook.deliver")
ANSWER_SECONDS = 0.04
"""How long the receiver takes to answer: with an instant answer an idle machine finished a
round's jobs before the kill (0.3 s or more later), and no kill caught a worker holding one."""


@dataclass
class KeyCounter:
    """Requests received, by path and idempotency key (a receiver dedups on the key)."""

    url: str = ""
    seen: Counter[tuple[str, str]] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def keys(self, path: str) -> set[str]:
        with self.lock:
            return {key for (p, key) in self.seen if p == path}

    def received(self, path: str) -> int:
        with self.lock:
            return sum(n for (p, _), n in self.seen.items() if p == path)


@pytest.fixture
def receiver() -> Iterator[KeyCounter]:
    state = KeyCounter()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            with state.lock:
                state.seen[self.path, self.headers["X-Idempotency-Key"]] += 1
            time.sleep(ANSWER_SECONDS)  # a remote system takes a moment to answer
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


class Fleet:
    """``meridian worker`` processes on the test's database, killed and started again."""

    def __init__(self, database_url: str, folder: Path, size: int) -> None:
        self.env = worker_env(database_url, folder / "data", LEASE_SECONDS)
        self.folder = folder
        self.started = 0
        self.kills = 0
        self.processes: list[tuple[BaseProcess, Path]] = []
        warm_fork_server()
        for _ in range(size):
            self.processes.append(self._start())

    def _start(self) -> tuple[BaseProcess, Path]:
        self.started += 1
        log = self.folder / f"worker-{self.started}.log"
        return start_meridian(["worker", "--concurrency", "2"], self.env, log), log

    def working(self) -> list[int]:
        """The processes past their start-up (opening the database), each still alive."""
        for process, log in self.processes:
            assert process.is_alive(), log.read_text()
        return [
            index
            for index, (_, log) in enumerate(self.processes)
            if b"worker running" in log.read_bytes()
        ]

    def kill_and_restart(self, index: int) -> None:
        process, _ = self.processes[index]
        process.kill()
        process.join()
        assert process.exitcode == -signal.SIGKILL, "the worker had died before its kill"
        self.kills += 1
        self.processes[index] = self._start()

    def kill_while_working(self, kills: int, chance: random.Random, started: float) -> float:
        """Wait for a worker to start, then SIGKILL a working one every 0.3–1 s, ``kills``
        times (each replaced at once). Returns the deadline for the rest of the test: 240 s
        from ``started``, or longer when start-up shows a loaded machine."""
        deadline = started + 240
        while not self.working():
            assert time.monotonic() < deadline, "no worker started"
            time.sleep(0.05)
        # On a loaded machine a start-up takes long: the bound grows with it.
        deadline = max(deadline, started + 12 * (time.monotonic() - started))
        for done in range(kills):
            while not (working := self.working()):
                assert time.monotonic() < deadline, f"no worker working after {done} kills"
                time.sleep(0.05)
            time.sleep(chance.uniform(0.1, 0.6))
            self.kill_and_restart(chance.choice(self.working() or working))
        return deadline

    def stop(self) -> None:
        for process, _ in self.processes:
            process.kill()
            process.join()


def _pending(engine: Engine) -> int:
    with read_transaction(engine) as conn:
        return int(
            conn.scalar(
                sa.select(sa.func.count())
                .select_from(jobs)
                .where(jobs.c.kind.in_(WATCHED), jobs.c.state != "done")
            )
            or 0
        )


def _win(workspace: Workspace, actor: Actor, ids: list[int]) -> None:
    """Rule-triggering updates: the deals are won."""
    with workspace.transaction() as conn:
        bulk.update_records(
            conn=conn,
            actor=actor,
            form=get_form(conn, "deal"),
            record_ids=ids,
            values={"stage": "won"},
        )


@dataclass(frozen=True)
class Automation:
    rule_id: int
    webhook_id: int


def _automate(client: TestClient, receiver: KeyCounter) -> Automation:
    """Deals and their tasks; a won deal gets a delivery task and the ERP is called; every new
    task is delivered to a webhook subscription."""
    client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"})
    for form in (
        {
            "key": "deal",
            "label": "商机",
            "fields": [
                {"key": "name", "label": "名称", "type": "text"},
                {"key": "stage", "label": "阶段", "type": "text"},
            ],
        },
        {
            "key": "task",
            "label": "任务",
            "fields": [
                {"key": "title", "label": "标题", "type": "text"},
                {"key": "deal", "label": "商机", "type": "link", "target": "deal"},
            ],
        },
    ):
        assert client.post("/api/v1/apps/crm/forms", json=form).status_code == 201
    rule = client.post(
        "/api/v1/rules",
        json={
            "form_key": "deal",
            "label": "赢单后安排交付并通知 ERP",
            "trigger": {"type": "field_changed", "field": "stage", "to": ["won"]},
            "actions": [
                {
                    "type": "create",
                    "form": "task",
                    "link_field": "deal",
                    "values": {"title": {"expr": 'CONCAT(name, " 交付")'}},
                },
                {"type": "webhook", "url": f"{receiver.url}/erp"},
            ],
        },
    )
    assert rule.status_code == 201, rule.text
    hook = client.post(
        "/api/v1/webhooks",
        json={"form_key": "task", "events": ["RecordCreated"], "url": f"{receiver.url}/tasks"},
    )
    assert hook.status_code == 201, hook.text
    return Automation(rule.json()["id"], hook.json()["id"])


def _worker(engine: Engine, **options: Any) -> Worker:
    return Worker(engine, job_handlers(workspace_on(engine)), ZoneInfo("Asia/Shanghai"), **options)


def test_a_worker_dying_after_a_rule_run_committed_does_not_run_it_again(
    client: TestClient,
    engine: Engine,
    receiver: KeyCounter,
    fake_clock: FakeClock,
) -> None:
    current = [fake_clock.now()]
    fake_clock.follow(lambda: current[0])
    automation = _automate(client, receiver)
    deal = client.post("/api/v1/forms/deal/records", json={"name": "IDC-7", "stage": "lead"})
    client.patch(f"/api/v1/forms/deal/records/{deal.json()['id']}", json={"stage": "won"})
    with transaction(engine) as conn:
        [run] = queue.claim(conn, "doomed", limit=1, lease=timedelta(seconds=30))
    # The doomed worker runs the rule as any worker would, then dies before doing anything else.
    handlers = job_handlers(workspace_on(engine))
    handlers[run.kind](JobContext(engine, run.id, run.payload, run.attempts, "doomed"))
    current[0] += timedelta(seconds=31)
    survivor = _worker(engine)
    while survivor.run_once():
        pass
    tasks = client.get("/api/v1/forms/task/records").json()["items"]
    assert [task["deal"] for task in tasks] == [deal.json()["id"]]
    [logged] = client.get(f"/api/v1/rules/{automation.rule_id}/runs").json()["items"]
    key = f"meridian-rule-run-{run.id}-call-1"
    assert logged["actions"][1]["key"] == key
    assert receiver.keys("/erp") == {key}
    with engine.connect() as conn:
        [event_id] = conn.scalars(
            sa.select(outbox.c.id).where(
                outbox.c.event_type == "RecordCreated",
                outbox.c.payload["form"].as_string() == "task",
            )
        )
    assert receiver.keys("/tasks") == {f"meridian-event-{event_id}-webhook-{automation.webhook_id}"}


@pytest.mark.long
def test_killed_workers_leave_each_rule_effect_once_and_every_webhook_key_delivered(
    client: TestClient,
    engine: Engine,
    workspace: Workspace,
    admin: Actor,
    database_url: str,
    receiver: KeyCounter,
    tmp_path: Path,
) -> None:
    automation = _automate(client, receiver)
    with workspace.transaction() as conn:
        deal_ids = bulk.create_records(
            conn=conn,
            actor=admin,
            form=get_form(conn, "deal"),
            items=[{"name": f"IDC-{n:03}", "stage": "lead"} for n in range(UPDATES)],
        )

    fleet = Fleet(database_url, tmp_path, WORKERS)
    started = time.monotonic()
    deadline = started + DEADLINE_SECONDS
    chance = random.Random(13)
    kills = 0
    timeline: list[str] = []
    try:
        # In each round some deals are won, and 0.1–0.6 s later one of the working processes
        # dies; it is started again at once, and the other works while it starts up.
        step = UPDATES // ROUNDS
        for start in range(0, UPDATES, step):
            _win(workspace, admin, deal_ids[start : start + step])
            while not (working := fleet.working()):
                assert time.monotonic() < deadline, f"no worker started: {timeline}"
                time.sleep(0.05)
            if not timeline:
                # Start-ups take most of the time: on a machine so busy that a worker needs
                # more than 6 s to start, the bound grows with them.
                startup = time.monotonic() - started
                deadline = max(deadline, started + STARTUPS * startup)
                timeline.append(f"working after {startup:.1f}s")
            time.sleep(chance.uniform(0.1, 0.6))
            fleet.kill_and_restart(chance.choice(fleet.working() or working))
            kills += 1
            timeline.append(f"kill {kills} at {time.monotonic() - started:.1f}s")
        left, moved = _pending(engine), time.monotonic()
        while left and time.monotonic() - moved < STALL_SECONDS:
            fleet.working()
            time.sleep(0.1)
            if (now := _pending(engine)) < left:
                left, moved = now, time.monotonic()
    finally:
        fleet.stop()
    took = time.monotonic() - started

    with engine.connect() as conn:
        states = dict(
            conn.execute(
                sa.select(jobs.c.state, sa.func.count())
                .where(jobs.c.kind.in_(WATCHED))
                .group_by(jobs.c.state)
            ).all()
        )
        tasks = conn.execute(sa.text("SELECT deal FROM data_task")).scalars().all()
        runs = Counter(
            conn.execute(
                sa.select(rule_runs.c.outcome).where(rule_runs.c.rule_id == automation.rule_id)
            ).scalars()
        )
        retaken = conn.scalar(
            sa.select(sa.func.count()).where(jobs.c.kind.in_(WATCHED), jobs.c.attempts > 1)
        )
        run_jobs = conn.execute(sa.select(jobs.c.id).where(jobs.c.kind == "rules.run")).scalars()
        created = conn.execute(
            sa.select(outbox.c.id, outbox.c.payload).where(outbox.c.event_type == "RecordCreated")
        ).all()
    calls = {f"meridian-rule-run-{job_id}-call-1" for job_id in run_jobs}
    deliveries = {
        f"meridian-event-{event_id}-webhook-{automation.webhook_id}"
        for event_id, payload in created
        if payload["form"] == "task"
    }
    print(
        f"\n[{engine.dialect.name}] {kills} kills in {took:.1f}s, {retaken} jobs taken over; "
        f"tasks {len(tasks)}; "
        f"rule calls: {len(receiver.keys('/erp'))} keys, {receiver.received('/erp')} requests; "
        f"task deliveries: {len(receiver.keys('/tasks'))} keys, "
        f"{receiver.received('/tasks')} requests; " + ", ".join(timeline)
    )
    assert retaken, "no kill caught a worker holding jobs"
    assert states == {"done": 3 * UPDATES}
    assert len(tasks) == UPDATES and sorted(tasks) == sorted(deal_ids)
    assert runs == {"succeeded": UPDATES}
    assert len(calls) == UPDATES and receiver.keys("/erp") == calls
    assert len(deliveries) == UPDATES and receiver.keys("/tasks") == deliveries
