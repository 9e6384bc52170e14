"""The approval inbox: 待我审批 / 我已审批 / 我发起的 / 抄送我的, as plain indexed SQL over
the task rows (``ix_sys_approval_task_inbox``: assignee, state, id)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.actor import Actor
from meridian.db.tables import approval_flows, approval_tasks, approvals, users

BOXES = ("pending", "done", "submitted", "cc")
DONE_STATES = ("approved", "rejected", "returned", "transferred")
PAGE = 50


def _box_condition(actor: Actor, box: str) -> Any:
    if box == "submitted":
        return approvals.c.submitter_id == actor.user_id
    mine = approval_tasks.c.assignee_id == actor.user_id
    if box == "pending":
        return sa.and_(mine, approval_tasks.c.state == "pending")
    if box == "done":
        return sa.and_(mine, approval_tasks.c.state.in_(DONE_STATES))
    return sa.and_(mine, approval_tasks.c.state == "cc")


def pending_count(conn: Connection, actor: Actor) -> int:
    """How many tasks wait for ``actor`` (the menu's badge): one indexed count."""
    if actor.user_id is None:
        return 0
    return int(conn.scalar(pending_counted(actor)) or 0)


def pending_counted(actor: Actor) -> sa.Select[int]:
    """The statement :func:`pending_count` runs (none for an actor who is no user), for a
    caller counting more in one statement."""
    statement = sa.select(sa.func.count()).select_from(approval_tasks)
    if actor.user_id is None:
        return statement.where(sa.false())
    return statement.where(_box_condition(actor, "pending"))


def counts(conn: Connection, actor: Actor) -> dict[str, int]:
    """How many items each box holds, in one statement of four indexed counts."""

    def tasks(box: str) -> Any:
        return (
            sa.select(sa.func.count())
            .select_from(approval_tasks)
            .where(_box_condition(actor, box))
            .scalar_subquery()
        )

    submitted = (
        sa.select(sa.func.count())
        .select_from(approvals)
        .where(approvals.c.submitter_id == actor.user_id)
        .scalar_subquery()
    )
    row = conn.execute(sa.select(tasks("pending"), tasks("done"), submitted, tasks("cc"))).one()
    return dict(zip(BOXES, (int(n) for n in row), strict=True))


def inbox(
    conn: Connection, actor: Actor, *, box: str = "pending", before: int | None = None
) -> dict[str, Any]:
    """One page of ``box`` (newest first; ``before`` an id to page on) and every box's count."""
    flow_label = (
        sa.select(approval_flows.c.label)
        .where(
            approval_flows.c.key == approvals.c.flow_key,
            approval_flows.c.version == approvals.c.flow_version,
        )
        .scalar_subquery()
    )
    submitter = (
        sa.select(users.c.name).where(users.c.id == approvals.c.submitter_id).scalar_subquery()
    )
    if box == "submitted":
        query = sa.select(
            approvals.c.id.label("item_id"),
            sa.null().label("task_id"),
            sa.null().label("task_state"),
            approvals.c.id.label("approval_id"),
        ).where(_box_condition(actor, box))
        key = approvals.c.id
    else:
        query = (
            sa.select(
                approval_tasks.c.id.label("item_id"),
                approval_tasks.c.id.label("task_id"),
                approval_tasks.c.state.label("task_state"),
                approvals.c.id.label("approval_id"),
            )
            .select_from(
                approval_tasks.join(approvals, approvals.c.id == approval_tasks.c.approval_id)
            )
            .where(_box_condition(actor, box))
        )
        key = approval_tasks.c.id
    if before is not None:
        query = query.where(key < before)
    query = (
        query.add_columns(
            approvals.c.flow_key,
            flow_label.label("flow_label"),
            approvals.c.form_key,
            approvals.c.record_id,
            approvals.c.state,
            approvals.c.submitter_id,
            submitter.label("submitter"),
            approvals.c.created_at,
        )
        .order_by(key.desc())
        .limit(PAGE)
    )
    items = [
        {
            "task_id": row.task_id,
            "task_state": row.task_state,
            "approval_id": row.approval_id,
            "flow": row.flow_key,
            "flow_label": row.flow_label,
            "form": row.form_key,
            "record_id": row.record_id,
            "state": row.state,
            "submitter_id": row.submitter_id,
            "submitter": row.submitter,
            "submitted_at": row.created_at.isoformat(),
            "_key": row.item_id,
        }
        for row in conn.execute(query)
    ]
    after = items[-1]["_key"] if len(items) == PAGE else None
    for item in items:
        del item["_key"]
    return {"box": box, "counts": counts(conn, actor), "items": items, "next_before": after}
