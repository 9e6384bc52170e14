"""Approval timeouts: a scan every minute finds the tasks past their due time and applies
their node's ``timeout.action`` — remind, escalate (the task goes to ``escalate_to``),
approve or reject on the approver's behalf.

The due tasks are found by one indexed query (``ix_sys_approval_task_due``); reminders are
written set-based. Each task's timeout is marked handled (``timed_out_at``) in the same
transaction as its effect and the job's completion, so a worker killed half-way leaves either
all of it or none, and the next scan does what is left exactly once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.db.tables import approval_acts, approval_nodes, approval_tasks, approvals
from meridian.errors import MeridianError
from meridian.flows.approvals import assignees, operations
from meridian.flows.approvals.definitions import FlowTree, get_flow
from meridian.jobs.queue import JobContext
from meridian.notify.inbox import notify_users

SCAN = "approvals.timeouts"
BATCH = 500


def scan_timeouts(context: JobContext) -> None:
    """The ``approvals.timeouts`` job: handle the tasks past their due time, up to ``limit``
    (the payload's, :data:`BATCH` by default) in this job's one transaction."""
    limit = context.payload.get("limit", BATCH)
    valid = isinstance(limit, int) and not isinstance(limit, bool) and 0 < limit <= BATCH
    with context.transaction() as conn:
        handle_due_tasks(conn, limit if valid else BATCH)


def handle_due_tasks(conn: Connection, limit: int = BATCH) -> int:
    """Apply the timeout of up to ``limit`` due tasks; returns how many were handled."""
    now = utcnow(conn)
    due = conn.execute(
        sa.select(
            approval_tasks.c.id,
            approval_tasks.c.assignee_id,
            approval_tasks.c.approval_id,
            approvals.c.flow_key,
            approvals.c.flow_version,
            approvals.c.form_key,
            approvals.c.record_id,
            approvals.c.submitter_id,
            approval_nodes.c.node_id,
        )
        .select_from(
            approval_tasks.join(approvals, approvals.c.id == approval_tasks.c.approval_id).join(
                approval_nodes, approval_nodes.c.id == approval_tasks.c.node_row_id
            )
        )
        .where(
            approval_tasks.c.state == "pending",
            approval_tasks.c.due_at <= now,
            approval_tasks.c.timed_out_at.is_(None),
        )
        .order_by(approval_tasks.c.due_at, approval_tasks.c.id)
        .limit(limit)
    ).all()
    if not due:
        return 0
    trees: dict[tuple[str, int], FlowTree] = {}
    reminders: list[Any] = []
    for task in due:
        flow = (task.flow_key, task.flow_version)
        if flow not in trees:
            trees[flow] = FlowTree(get_flow(conn, *flow)["definition"])
        timeout: Mapping[str, Any] = trees[flow].nodes[task.node_id].get("timeout") or {}
        action = timeout.get("action", "remind")
        if action == "remind":
            reminders.append(task)
            continue
        with conn.begin_nested():
            _mark([task.id], conn, now)
        try:
            with conn.begin_nested():
                _decide(conn, task, action, timeout)
        except MeridianError:
            continue  # the task moved on meanwhile (decided, cancelled): nothing to time out
    if reminders:
        _mark([t.id for t in reminders], conn, now)
        conn.execute(
            approval_acts.insert(),
            [
                {
                    "approval_id": t.approval_id,
                    "task_id": t.id,
                    "node_id": t.node_id,
                    "actor_id": None,
                    "action": "remind",
                    "comment": "",
                    "detail": {"to": t.assignee_id},
                    "at": now,
                }
                for t in reminders
            ],
        )
        for t in reminders:
            notify_users(
                conn,
                [t.assignee_id],
                title=Text(
                    "Approval overdue: {form} #{record_id}", form=t.form_key, record_id=t.record_id
                ),
                form_key=t.form_key,
                record_id=t.record_id,
            )
    return len(due)


def _mark(ids: list[int], conn: Connection, now: Any) -> None:
    conn.execute(
        approval_tasks.update().where(approval_tasks.c.id.in_(ids)).values(timed_out_at=now)
    )


def _decide(conn: Connection, task: Any, action: str, timeout: Mapping[str, Any]) -> None:
    on_behalf = Actor(user_id=task.assignee_id, name="timeout")
    note = "超时自动处理 / decided on timeout"
    if action == "approve":
        operations.approve(conn=conn, actor=on_behalf, task_id=task.id, comment=note)
    elif action == "reject":
        operations.reject(conn=conn, actor=on_behalf, task_id=task.id, comment=note, to="end")
    else:
        targets = assignees.resolve(
            conn,
            timeout["escalate_to"],
            submitter_id=task.submitter_id,
            record={},
        )
        targets = [t for t in targets if t != task.assignee_id]
        if targets:
            operations.transfer(
                conn=conn, actor=on_behalf, task_id=task.id, user_id=targets[0], comment=note
            )
