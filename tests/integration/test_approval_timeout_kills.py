"""The approval timeout scan under SIGKILL: real ``meridian worker`` processes scan in small
batches and are killed while they work; each overdue task's timeout acts exactly once (one
automatic approval, one finished approval, one ``ApprovalFinished``). SQLite and PostgreSQL,
the pattern of tests/integration/test_stage_sla.py."""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from meridian.core.actor import Actor
from meridian.db.engine import read_transaction
from meridian.db.tables import approval_acts, approval_tasks, approvals, jobs, outbox
from meridian.flows.approvals import operations
from meridian.flows.approvals.timeouts import SCAN
from meridian.http.deps import Workspace
from meridian.jobs import queue
from tests.approvals_support import approver, build_company
from tests.conftest import FakeClock
from tests.integration.test_worker_kills import Fleet

APPROVALS = 200
KILLS = 4


def _unfinished(engine: Engine) -> int:
    """Scans still to do, and overdue tasks not yet handled."""
    with read_transaction(engine) as conn:
        pending = conn.scalar(
            sa.select(sa.func.count())
            .select_from(jobs)
            .where(jobs.c.kind == SCAN, jobs.c.state != "done")
        )
        open_tasks = conn.scalar(
            sa.select(sa.func.count()).where(
                approval_tasks.c.state == "pending", approval_tasks.c.timed_out_at.is_(None)
            )
        )
    return int(pending or 0) + int(open_tasks or 0)


@pytest.mark.long
def test_killed_workers_time_each_task_out_once(
    workspace: Workspace,
    admin: Actor,
    fake_clock: FakeClock,
    engine: Engine,
    database_url: str,
    tmp_path: Path,
) -> None:
    """200 approvals whose approver let a calendar hour pass (auto-approve); workers scan 10
    at a time and are killed every 0.3–1 s, four times."""
    past = datetime.now(UTC) - timedelta(days=5)
    fake_clock.follow(lambda: past)
    company = build_company(workspace, admin)
    timeout = {"hours": 1, "basis": "calendar", "action": "approve"}
    company.flow("contract_approval", [approver("legal", company, "legal", timeout=timeout)])
    records = [company.contract(str(10_000 + n)) for n in range(APPROVALS)]
    with workspace.transaction() as conn:
        started_ids = [
            operations.submit(
                conn=conn, actor=company["sales"], flow_key="contract_approval", record_id=r
            )["id"]
            for r in records
        ]
        for _ in range(6):
            queue.enqueue(conn, SCAN, {"limit": 10})
    fake_clock.follow(lambda: datetime.now(UTC))
    chance = random.Random(17)
    fleet = Fleet(database_url, tmp_path, 2)
    started = time.monotonic()
    try:
        deadline = fleet.kill_while_working(KILLS, chance, started)
        with workspace.transaction() as conn:
            for _ in range(3):
                queue.enqueue(conn, SCAN, {"limit": 100})
        while _unfinished(engine) and time.monotonic() < deadline:
            fleet.working()
            time.sleep(0.2)
    finally:
        fleet.stop()
    with workspace.read() as conn:
        decided = Counter(
            conn.execute(
                sa.select(approval_acts.c.approval_id).where(approval_acts.c.action == "approve")
            ).scalars()
        )
        finished = Counter(
            p["approval_id"]
            for p in conn.execute(
                sa.select(outbox.c.payload).where(outbox.c.event_type == "ApprovalFinished")
            ).scalars()
        )
        states = Counter(conn.execute(sa.select(approvals.c.state)).scalars())
        marked = conn.scalar(
            sa.select(sa.func.count()).where(approval_tasks.c.timed_out_at.is_not(None))
        )
    print(f"\n[{engine.dialect.name}] {fleet.kills} kills in {time.monotonic() - started:.1f}s")
    assert fleet.kills == KILLS
    assert decided == Counter(started_ids), "each task approved on timeout exactly once"
    assert finished == Counter(started_ids), "each approval finished exactly once"
    assert states == Counter({"approved": APPROVALS})
    assert marked == APPROVALS
