"""Approvers acting at the same instant, on real threads: a 会签 node counts every vote and
finishes once; of 或签 approvers exactly one wins. On SQLite (one writer at a time) and on
PostgreSQL (row locks on the approval)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa

from meridian.core.actor import Actor
from meridian.db.tables import approval_nodes, approval_tasks, outbox
from meridian.errors import Conflict
from meridian.flows.approvals import operations
from meridian.http.deps import Workspace
from tests.approvals_support import Company, approver, build_company

APPROVERS = ("legal", "finance", "vp", "cfo")


@pytest.fixture
def company(workspace: Workspace, admin: Actor) -> Company:
    return build_company(workspace, admin)


def _all_at_once(company: Company, approval: dict[str, Any]) -> dict[str, str]:
    """Every approver of ``approval`` approves at the same instant; what each one got."""
    tasks = {
        name: next(t["id"] for t in approval["tasks"] if t["assignee_id"] == company.id(name))
        for name in APPROVERS
    }
    barrier = threading.Barrier(len(tasks))
    outcome: dict[str, str] = {}

    def act(name: str) -> None:
        barrier.wait()
        try:
            with company.workspace.transaction() as conn:
                operations.approve(conn=conn, actor=company[name], task_id=tasks[name])
            outcome[name] = "approved"
        except Conflict:
            outcome[name] = "conflict"

    threads = [threading.Thread(target=act, args=(name,)) for name in tasks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcome


def _counts(company: Company, approval_id: int) -> tuple[dict[str, int], int, int]:
    with company.workspace.read() as conn:
        states = dict(
            conn.execute(
                sa.select(approval_tasks.c.state, sa.func.count())
                .where(approval_tasks.c.approval_id == approval_id)
                .group_by(approval_tasks.c.state)
            ).all()
        )
        passed_nodes = conn.scalar(
            sa.select(sa.func.count())
            .select_from(approval_nodes)
            .where(
                approval_nodes.c.approval_id == approval_id, approval_nodes.c.state == "approved"
            )
        )
        finished = [
            p
            for p in conn.execute(
                sa.select(outbox.c.payload).where(outbox.c.event_type == "ApprovalFinished")
            ).scalars()
            if p["approval_id"] == approval_id
        ]
    return states, int(passed_nodes or 0), len(finished)


@pytest.mark.parametrize("attempt", range(3))
def test_simultaneous_countersign_votes_are_all_counted_once(
    company: Company, attempt: int
) -> None:
    company.flow("contract_approval", [approver("review", company, *APPROVERS, mode="all")])
    record_id = company.contract()
    with company.workspace.transaction() as conn:
        approval = operations.submit(
            conn=conn, actor=company["sales"], flow_key="contract_approval", record_id=record_id
        )
    outcome = _all_at_once(company, approval)
    assert set(outcome.values()) == {"approved"}
    states, passed_nodes, finished = _counts(company, approval["id"])
    assert states == {"approved": 4}
    assert (passed_nodes, finished) == (1, 1)


@pytest.mark.parametrize("attempt", range(3))
def test_simultaneous_or_sign_approvers_produce_exactly_one_winner(
    company: Company, attempt: int
) -> None:
    company.flow("contract_approval", [approver("review", company, *APPROVERS, mode="any")])
    record_id = company.contract()
    with company.workspace.transaction() as conn:
        approval = operations.submit(
            conn=conn, actor=company["sales"], flow_key="contract_approval", record_id=record_id
        )
    outcome = _all_at_once(company, approval)
    assert sorted(outcome.values()) == ["approved", "conflict", "conflict", "conflict"]
    states, passed_nodes, finished = _counts(company, approval["id"])
    assert states == {"approved": 1, "cancelled": 3}
    assert (passed_nodes, finished) == (1, 1)
