"""Stage SLAs: deadlines in business time over a public holiday and a 调休 Saturday, warning
and breach once per visit, also when no worker ran across the deadline — and when workers are
killed (SIGKILL) while they scan."""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from meridian.core.actor import Actor
from meridian.db.engine import read_transaction
from meridian.db.tables import jobs, outbox, stage_visits, tasks
from meridian.flows.stages.pipelines import save_pipeline
from meridian.flows.stages.plugin import run_sla_scan
from meridian.flows.stages.sla import SCAN, scan_slas
from meridian.http.deps import Workspace
from meridian.jobs import queue
from meridian.jobs.handlers import job_handlers
from meridian.jobs.queue import JobContext
from meridian.jobs.worker import Worker
from meridian.records import bulk, service
from meridian.rules.definitions import create_rule
from meridian.schema.catalog import get_form
from tests.conftest import FakeClock, workspace_on
from tests.forms import install_forms
from tests.integration.test_worker_kills import Fleet
from tests.stages_support import FORMS, STAGES

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _pipeline(business: bool, amount: int = 48, unit: str = "hours") -> dict[str, Any]:
    stages: list[dict[str, Any]] = [
        {"key": key, "label": label, "label_en": label_en, "category": "open"}
        for key, label, label_en in STAGES
    ]
    stages[4]["category"] = "won"
    stages[5]["category"] = "lost"
    stages[2]["sla"] = {"amount": amount, "unit": unit, "business": business, "warn_percent": 50}
    return {"key": "sales", "label": "销售", "stage_field": "stage", "stages": stages}


def _install(workspace: Workspace, document: dict[str, Any]) -> None:
    with workspace.transaction() as conn:
        install_forms(conn, FORMS[0])
        save_pipeline(conn, actor=Actor.system(), form=get_form(conn, "deal"), document=document)
        create_rule(
            conn,
            Actor.system(),
            {
                "form_key": "deal",
                "label": "方案报价超时提醒经理",
                "trigger": {"type": "stage_sla_breached", "stages": ["proposal"]},
                "actions": [
                    {"type": "create_task", "title": "方案报价超时：跟进", "assignee": "owner"}
                ],
            },
        )


def _scan(workspace: Workspace) -> tuple[int, int]:
    with workspace.transaction() as conn:
        return scan_slas(conn)


def test_business_time_skips_the_national_day_holiday_and_counts_the_make_up_saturday(
    workspace: Workspace, fake_clock: FakeClock
) -> None:
    moment = [datetime(2026, 9, 30, 17, 0, tzinfo=SHANGHAI)]
    fake_clock.follow(lambda: moment[0])
    _install(workspace, _pipeline(business=True))
    with workspace.transaction() as conn:
        [deal] = bulk.create_records(
            conn=conn,
            actor=Actor.system(),
            form=get_form(conn, "deal"),
            items=[{"name": "国庆前报价", "stage": "proposal"}],
        )
        visit = conn.execute(sa.select(stage_visits)).one()
    # 48 work hours of 7.5 a day from Wed 30 Sep 17:00: 1 h that day; 1–7 Oct off (国庆);
    # Thu 8, Fri 9, Sat 10 (调休, a work day), Mon 12, Tue 13, Wed 14 make 45 h; 2 h on Thu 15.
    assert visit.due_at == datetime(2026, 10, 15, 11, 0, tzinfo=SHANGHAI)
    # Half of it, 24 h: 1 + 3 × 7.5 by the end of Sat 10 Oct, then half an hour on Mon 12.
    assert visit.warn_at == datetime(2026, 10, 12, 9, 30, tzinfo=SHANGHAI)
    assert deal


def test_calendar_time_counts_every_hour(workspace: Workspace, fake_clock: FakeClock) -> None:
    moment = [datetime(2026, 9, 30, 17, 0, tzinfo=SHANGHAI)]
    fake_clock.follow(lambda: moment[0])
    _install(workspace, _pipeline(business=False, amount=10, unit="days"))
    with workspace.transaction() as conn:
        bulk.create_records(
            conn=conn,
            actor=Actor.system(),
            form=get_form(conn, "deal"),
            items=[{"name": "报价", "stage": "proposal"}],
        )
        visit = conn.execute(sa.select(stage_visits)).one()
    assert visit.due_at == datetime(2026, 10, 10, 17, 0, tzinfo=SHANGHAI)
    assert visit.warn_at == datetime(2026, 10, 5, 17, 0, tzinfo=SHANGHAI)


def test_warning_and_breach_fire_once_per_visit_even_after_downtime(
    workspace: Workspace, fake_clock: FakeClock
) -> None:
    moment = [datetime(2026, 9, 30, 17, 0, tzinfo=SHANGHAI)]
    fake_clock.follow(lambda: moment[0])
    _install(workspace, _pipeline(business=True))
    system = Actor.system()
    with workspace.transaction() as conn:
        form = get_form(conn, "deal")
        first, second = bulk.create_records(
            conn=conn,
            actor=system,
            form=form,
            items=[{"name": "A", "stage": "proposal"}, {"name": "B", "stage": "negotiation"}],
        )
    moment[0] = datetime(2026, 10, 12, 9, 29, tzinfo=SHANGHAI)
    assert _scan(workspace) == (0, 0)
    moment[0] = datetime(2026, 10, 12, 9, 30, tzinfo=SHANGHAI)
    assert _scan(workspace) == (1, 0)
    assert _scan(workspace) == (0, 0)
    # No worker ran from the 13th to the 20th: the breach of the 15th fires on the next scan.
    moment[0] = datetime(2026, 10, 20, 8, 0, tzinfo=SHANGHAI)
    worker = Worker(workspace.engine, job_handlers(workspace_on(workspace.engine)), SHANGHAI)
    with workspace.transaction() as conn:
        queue.enqueue(conn, SCAN, {})
    while worker.run_once():
        pass
    assert _scan(workspace) == (0, 0)
    with workspace.read() as conn:
        breaches = (
            conn.execute(
                sa.select(outbox.c.payload).where(outbox.c.event_type == "StageSlaBreached")
            )
            .scalars()
            .all()
        )
        made = conn.execute(sa.select(tasks.c.record_id, tasks.c.title)).all()
    assert [b["record_id"] for b in breaches] == [first]
    assert made == [(first, "方案报价超时：跟进")]
    # A new visit to the stage has its own deadline: back to 谈判 and forward again.
    moment[0] = datetime(2026, 10, 20, 10, 0, tzinfo=SHANGHAI)
    with workspace.transaction() as conn:
        form = get_form(conn, "deal")
        service.update_record(
            conn=conn, actor=system, form=form, record_id=second, values={"stage": "won"}
        )
    assert _scan(workspace) == (0, 0)


def _unfinished(engine: Engine) -> int:
    """Scans and rule runs still to do, and visits not yet breached."""
    with read_transaction(engine) as conn:
        pending = conn.scalar(
            sa.select(sa.func.count())
            .select_from(jobs)
            .where(jobs.c.kind.in_((SCAN, "rules.run")), jobs.c.state != "done")
        )
        open_visits = conn.scalar(
            sa.select(sa.func.count()).where(stage_visits.c.breached_at.is_(None))
        )
    return int(pending or 0) + int(open_visits or 0)


VISITS = 300
KILLS = 4


@pytest.mark.long
def test_killed_workers_fire_each_breach_once(
    workspace: Workspace,
    fake_clock: FakeClock,
    engine: Engine,
    database_url: str,
    tmp_path: Path,
) -> None:
    """Workers (real processes) scan in batches of 10 and are killed with SIGKILL every
    0.3–1 s, four times; each of 300 overdue visits is breached once, its rule runs once and
    makes one task."""
    past = datetime.now(UTC) - timedelta(days=5)
    fake_clock.follow(lambda: past)
    _install(workspace, _pipeline(business=False, amount=1, unit="hours"))
    with workspace.transaction() as conn:
        ids = bulk.create_records(
            conn=conn,
            actor=Actor.system(),
            form=get_form(conn, "deal"),
            items=[{"name": f"IDC-{n:03}", "stage": "proposal"} for n in range(VISITS)],
        )
        for _ in range(6):
            queue.enqueue(conn, SCAN, {"limit": 10})
    fake_clock.follow(lambda: datetime.now(UTC))
    chance = random.Random(16)
    fleet = Fleet(database_url, tmp_path, 2)
    started = time.monotonic()
    try:
        deadline = fleet.kill_while_working(KILLS, chance, started)
        with workspace.transaction() as conn:
            queue.enqueue(conn, SCAN, {"limit": 10})
        while _unfinished(engine) and time.monotonic() < deadline:
            fleet.working()
            time.sleep(0.2)
    finally:
        fleet.stop()
    with workspace.read() as conn:
        breaches = Counter(
            p["record_id"]
            for p in conn.execute(
                sa.select(outbox.c.payload).where(outbox.c.event_type == "StageSlaBreached")
            ).scalars()
        )
        made = Counter(conn.execute(sa.select(tasks.c.record_id)).scalars())
        states = conn.execute(
            sa.select(
                jobs.c.kind, jobs.c.state, sa.func.count(), sa.func.max(jobs.c.attempts)
            ).group_by(jobs.c.kind, jobs.c.state)
        ).all()
    print(
        f"\n[{engine.dialect.name}] {fleet.kills} kills"
        f" in {time.monotonic() - started:.1f}s; {states}"
    )
    assert fleet.kills == KILLS
    assert breaches == Counter(ids), "each visit breached exactly once"
    assert made == Counter(ids), "each breach's rule made exactly one task"


def test_the_scan_job_handler_runs_in_process(workspace: Workspace) -> None:
    """The handler is the one the worker runs (and the schedule names)."""
    assert job_handlers(workspace)[SCAN] is run_sla_scan
    context = JobContext(workspace.engine, 0, {"limit": 3}, 1)
    run_sla_scan(context)
