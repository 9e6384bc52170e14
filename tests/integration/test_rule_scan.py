"""The minute scan of time rules reads without the write lock and writes in short
transactions: a writer never waits long behind it, and each record fires once per window.

The scan runs in a process of its own, as a worker's would: in a thread it would share the
interpreter lock with the writer, and the wait measured would be Python's, not the database's."""

from __future__ import annotations

import multiprocessing
import os
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from meridian.core.actor import Actor
from meridian.db.engine import read_transaction
from meridian.db.tables import jobs, rules
from meridian.http.deps import Workspace
from meridian.rules.definitions import create_rule
from meridian.rules.engine import RUN
from meridian.rules.scanning import due_records, fire_due, scan_time_rule
from meridian.schema.catalog import get_form
from meridian.schema.compile import compile_form
from tests.conftest import FakeClock
from tests.forms import install_forms, lead_form

SYSTEM = Actor.system()
TZ = UTC
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def _quiet_leads(workspace: Workspace, clock: FakeClock, count: int) -> int:
    """``count`` leads last updated at T0 and an inactivity rule (one day) made an hour later;
    the clock is then a day and two hours on, so every lead fell due in the rule's window."""
    now = [T0]
    clock.follow(lambda: now[0])
    with workspace.transaction() as conn:
        install_forms(
            conn,
            lead_form({"key": "name", "label": "客户名称", "type": "text"}),
            {
                "key": "note",
                "label": "跟进",
                "fields": [{"key": "title", "label": "标题", "type": "text"}],
            },
        )
        table = compile_form(get_form(conn, "lead")).main
        stamps = {"created_at": T0, "updated_at": T0}
        conn.execute(table.insert(), [{"name": f"ACME-{i}", **stamps} for i in range(count)])
    now[0] = T0 + timedelta(hours=1)
    with workspace.transaction() as conn:
        rule = create_rule(
            conn,
            SYSTEM,
            {
                "form_key": "lead",
                "label": "一天无跟进",
                "trigger": {"type": "no_activity", "days": 1},
                "actions": [{"type": "update", "values": {"name": "quiet"}}],
            },
        )
    now[0] = T0 + timedelta(days=1, hours=2)
    return int(rule["id"])


def _runs(workspace: Workspace) -> list[int]:
    with read_transaction(workspace.engine) as conn:
        payloads = conn.scalars(sa.select(jobs.c.payload).where(jobs.c.kind == RUN))
        return sorted(int(p["record_id"]) for p in payloads)


def test_a_write_waits_under_100_ms_while_the_inactivity_scan_runs(
    workspace: Workspace, fake_clock: FakeClock
) -> None:
    count = 10_000
    rule_id = _quiet_leads(workspace, fake_clock, count)

    def scan_in_its_own_process() -> None:
        workspace.engine.dispose(close=False)  # the parent's pooled connections stay its own
        fired = scan_time_rule(workspace.engine, rule_id, TZ)
        os._exit(0 if fired == count else 3)

    scan = multiprocessing.get_context("fork").Process(target=scan_in_its_own_process)
    with read_transaction(workspace.engine) as conn:
        note = compile_form(get_form(conn, "note")).main

    def write() -> float:
        began = time.perf_counter()
        with workspace.transaction() as conn:
            conn.execute(
                note.insert().values(title="回访", created_at=T0, updated_at=T0, _search="回访")
            )
        return time.perf_counter() - began

    alone = max(write() for _ in range(10))  # what a write costs here with no scan running
    waits: list[float] = []
    started = time.perf_counter()
    scan.start()
    while scan.is_alive():
        waits.append(write())
        time.sleep(0.005)
    scan.join()
    took = time.perf_counter() - started
    assert scan.exitcode == 0
    assert len(_runs(workspace)) == count
    # The scan lasted long enough for a writer to have waited behind it, and none waited
    # 100 ms longer than a write takes without it.
    assert took > 0.3 and len(waits) >= 5, (took, len(waits))
    assert max(waits) < alone + 0.1, (alone, sorted(waits)[-5:])
    with read_transaction(workspace.engine) as conn:
        rule = conn.execute(sa.select(rules).where(rules.c.id == rule_id)).one()
    assert rule.scanned_until == T0 + timedelta(days=1, hours=2)


def test_a_scan_that_died_halfway_fires_the_rest_once(
    workspace: Workspace, fake_clock: FakeClock
) -> None:
    rule_id = _quiet_leads(workspace, fake_clock, 1_200)
    dead_at = T0 + timedelta(days=1, hours=1, minutes=59)  # a minute before the next scan
    with workspace.transaction() as conn:
        rule = conn.execute(sa.select(rules).where(rules.c.id == rule_id)).one()
        due = due_records(conn, rule, dead_at, TZ)
        # The first chunk committed, then the worker died: the watermark did not move.
        assert fire_due(conn, rule, due[:500], dead_at) == 500
    assert scan_time_rule(workspace.engine, rule_id, TZ) == 700
    assert scan_time_rule(workspace.engine, rule_id, TZ) == 0
    runs = _runs(workspace)
    assert len(runs) == len(set(runs)) == 1_200
