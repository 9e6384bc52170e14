"""Approval timeouts in business time: due times skip nights, weekends and holidays; the
minute scan reminds, escalates, approves or rejects each overdue task exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from meridian.core.actor import Actor
from meridian.core.i18n import localized
from meridian.db.tables import approval_acts, notifications
from meridian.flows.approvals import operations, timeouts
from meridian.http.deps import Workspace
from tests.approvals_support import Company, approver, build_company, user
from tests.conftest import FakeClock

# Friday 2026-12-04 17:00 in Shanghai (09:00 UTC): one business hour is left that day.
FRIDAY_5PM = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock(fake_clock: FakeClock) -> list[datetime]:
    current = [FRIDAY_5PM]
    fake_clock.follow(lambda: current[0])
    return current


@pytest.fixture
def company(workspace: Workspace, admin: Actor, clock: list[datetime]) -> Company:
    return build_company(workspace, admin)


def _submit(company: Company, timeout: dict[str, Any]) -> dict[str, Any]:
    company.flow("contract_approval", [approver("legal", company, "legal", timeout=timeout)])
    record_id = company.contract()
    with company.workspace.transaction() as conn:
        return operations.submit(
            conn=conn, actor=company["sales"], flow_key="contract_approval", record_id=record_id
        )


def _scan(company: Company) -> int:
    with company.workspace.transaction() as conn:
        return timeouts.handle_due_tasks(conn)


def test_due_time_counts_business_hours_over_the_weekend(company: Company) -> None:
    approval = _submit(company, {"hours": 4, "action": "remind"})
    # 1 hour on Friday (17:00–18:00), then Monday 09:00–12:00: due Monday 12:00 Shanghai.
    assert approval["tasks"][0]["due_at"] == "2026-12-07T04:00:00+00:00"


def test_a_reminder_is_sent_once_when_the_task_falls_due(
    company: Company, clock: list[datetime]
) -> None:
    _submit(company, {"hours": 2, "action": "remind"})
    clock[0] = datetime(2026, 12, 7, 1, 59, tzinfo=UTC)  # Monday 09:59 Shanghai: not yet
    assert _scan(company) == 0
    clock[0] = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
    assert _scan(company) == 1
    assert _scan(company) == 0
    with company.workspace.read() as conn:
        told = conn.scalars(
            sa.select(notifications.c.title).where(notifications.c.user_id == company.id("legal"))
        ).all()
    chinese = [localized(t, "zh-CN") for t in told]
    assert [t for t in chinese if "超时" in t] == [chinese[-1]]


@pytest.mark.parametrize(("action", "state"), [("approve", "approved"), ("reject", "rejected")])
def test_an_overdue_task_is_decided_on_its_approvers_behalf(
    company: Company, clock: list[datetime], action: str, state: str
) -> None:
    approval = _submit(company, {"hours": 1, "action": action})
    clock[0] += timedelta(days=7)
    assert _scan(company) == 1
    with company.workspace.read() as conn:
        found = operations.describe(conn, approval["id"])
    assert found["state"] == state
    assert _scan(company) == 0


def test_an_overdue_task_is_escalated(company: Company, clock: list[datetime]) -> None:
    approval = _submit(
        company, {"hours": 1, "action": "escalate", "escalate_to": [user(company, "vp")]}
    )
    clock[0] += timedelta(days=7)
    assert _scan(company) == 1
    with company.workspace.read() as conn:
        found = operations.describe(conn, approval["id"])
        acts = conn.scalars(sa.select(approval_acts.c.action)).all()
    assert [t["assignee_id"] for t in found["tasks"] if t["state"] == "pending"] == [
        company.id("vp")
    ]
    assert "transfer" in acts
