"""What people do with approvals: submit, approve, reject, return, recall, transfer, 加签,
comment, delegate. Each is one short transaction (the caller's) that locks the approval's row
first (see :mod:`.runtime`), so concurrent acts on one approval are applied one at a time and
none is lost or counted twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.core.timezones import DEFAULT_TIME_ZONE
from meridian.db.locks import serialize, serialize_all
from meridian.db.sets import one_of
from meridian.db.tables import (
    approval_acts,
    approval_delegations,
    approval_nodes,
    approval_tasks,
    approvals,
    users,
)
from meridian.errors import (
    Conflict,
    ErrorCollector,
    FieldError,
    MeridianError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from meridian.flows.approvals import batch_start, runtime
from meridian.flows.approvals.definitions import latest_flow
from meridian.flows.approvals.lock import engine_write
from meridian.flows.approvals.runtime import RETURNED, RUNNING, WITHDRAWN, Walk
from meridian.records import service
from meridian.records.files import usable_files
from meridian.records.writing import require_rows
from meridian.schema.catalog import get_form
from meridian.schema.compile import compile_form
from meridian.schema.values.filetypes import unknown_file

MAX_COMMENT = 4000
MAX_ATTACHMENTS = 20
REJECT_TO = ("end", "submitter", "previous")
HUMAN_ACTS = ("approve", "reject", "return", "transfer", "add_approver")
"""Acts after which the submitter may no longer recall the approval."""


def _comment(comment: Any, errors: ErrorCollector) -> str:
    if comment is None:
        return ""
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
        errors.add(
            "comment",
            "invalid_comment",
            Text("text of at most {limit} characters", limit=MAX_COMMENT),
            comment,
        )
        return ""
    return comment.strip()


def _attachments(
    conn: Connection, actor: Actor, attachments: Any, errors: ErrorCollector
) -> list[str]:
    """The file tokens an act carries, each one the actor may attach: a file they uploaded
    that no live record holds yet, or one held by a record they may read (the file store's
    own rule, :func:`records.files.usable_files`). Any other — unknown, someone else's, not
    readable — is refused naming it, in the words used for a file that does not exist."""
    if attachments is None:
        return []
    if (
        not isinstance(attachments, list)
        or len(attachments) > MAX_ATTACHMENTS
        or any(not isinstance(a, str) for a in attachments)
    ):
        message = Text("a list of up to {limit} file ids", limit=MAX_ATTACHMENTS)
        errors.add("attachments", "invalid_attachments", message, attachments)
        return []
    tokens = list(dict.fromkeys(attachments))
    usable = usable_files(conn=conn, actor=actor, tokens=tokens)
    for index, token in enumerate(attachments):
        if token not in usable:
            errors.add(f"attachments.{index}", "unknown_file", unknown_file(token), token)
    return tokens


# ---- submitting ------------------------------------------------------------------------------


def submit(
    *, conn: Connection, actor: Actor, flow_key: str, record_id: int, comment: str | None = None
) -> dict[str, Any]:
    """Start the newest version of ``flow_key`` on a record the actor may change; a record
    has at most one approval in progress. A record returned to its submitter is resubmitted."""
    flow = latest_flow(conn, flow_key)
    if flow is None:
        raise NotFound(Text("no approval flow {key!r}", key=flow_key), key=flow_key)
    form = get_form(conn, flow["form"])
    table = compile_form(form).main
    access = form_access(conn, actor, form)
    readable = access.rows(conn, table, "read", DEFAULT_TIME_ZONE)
    query = sa.select(table.c.id).where(table.c.id == record_id, table.c.deleted_at.is_(None))
    if readable is not None:
        query = query.where(readable)
    if conn.execute(query).first() is None:
        raise NotFound(
            Text(
                "record {record_id} of form {form_key!r} is not found",
                record_id=record_id,
                form_key=form.key,
            ),
            id=record_id,
        )
    require_rows(conn, access, table, record_id, "update", DEFAULT_TIME_ZONE)
    errors = ErrorCollector()
    text = _comment(comment, errors)
    errors.raise_if_any()
    serialize(conn, f"approval:{form.key}:{record_id}")
    current = conn.execute(
        sa.select(approvals.c.id, approvals.c.state).where(
            approvals.c.form_key == form.key,
            approvals.c.record_id == record_id,
            approvals.c.state.in_((RUNNING, RETURNED)),
        )
    ).first()
    if current is not None and current.state == RUNNING:
        raise Conflict(
            Text(
                "record {record_id} is already in approval {approval_id}",
                record_id=record_id,
                approval_id=current.id,
            ),
            approval_id=current.id,
        )
    if current is not None:
        return resubmit(conn=conn, actor=actor, approval_id=current.id, comment=text)
    return _start(conn, actor, flow, form.key, record_id, text)


def start_by_rule(
    *, conn: Connection, flow_key: str, form_key: str, record_id: int, submitter: Actor
) -> dict[str, Any]:
    """Start ``flow_key`` on a record because a rule said so, in ``submitter``'s name.

    The rule's author chose to start it (checked when the rule was saved), so the submitter's
    own right to change the record is not asked. Idempotent: when the record already has an
    approval of this flow in progress (running, or returned to its submitter) nothing happens
    (``started`` False) — a rule that fires again, or a retried run, starts it once. Another
    flow in progress on the record is reported (``other_flow``), not raised."""
    flow = latest_flow(conn, flow_key)
    if flow is None or flow["form"] != form_key:
        raise NotFound(
            Text("no approval flow {key!r} of form {form!r}", key=flow_key, form=form_key),
            key=flow_key,
        )
    serialize(conn, f"approval:{form_key}:{record_id}")
    current = conn.execute(
        sa.select(approvals.c.id, approvals.c.flow_key).where(
            approvals.c.form_key == form_key,
            approvals.c.record_id == record_id,
            approvals.c.state.in_((RUNNING, RETURNED)),
        )
    ).first()
    if current is not None:
        return {
            "started": False,
            "approval_id": current.id,
            "other_flow": current.flow_key if current.flow_key != flow_key else None,
        }
    runtime.read_record(conn, get_form(conn, form_key), record_id)  # 404 when it is gone
    started = _start(conn, submitter, flow, form_key, record_id, "")
    return {"started": True, "approval_id": started["id"], "other_flow": None}


def start_many(
    *, conn: Connection, flow_key: str, form_key: str, starts: Sequence[tuple[int, Actor]]
) -> list[int]:
    """:func:`start_by_rule` for many records at once (a bulk move into a stage that starts a
    flow): the records' locks taken in one statement, those already in an approval (or gone)
    left alone, the rest started set-based (:mod:`.batch_start`). Returns the records started."""
    flow = latest_flow(conn, flow_key)
    if flow is None or flow["form"] != form_key:
        raise NotFound(
            Text("no approval flow {key!r} of form {form!r}", key=flow_key, form=form_key),
            key=flow_key,
        )
    submitters = dict(reversed(starts))  # the first start named for a record wins
    wanted = list(dict.fromkeys(record_id for record_id, _ in starts))
    if not wanted:
        return []
    serialize_all(conn, [f"approval:{form_key}:{record_id}" for record_id in wanted])
    busy = set(
        conn.scalars(
            sa.select(approvals.c.record_id).where(
                approvals.c.form_key == form_key,
                one_of(conn, approvals.c.record_id, wanted),
                approvals.c.state.in_((RUNNING, RETURNED)),
            )
        )
    )
    form = get_form(conn, form_key)
    table = compile_form(form).main
    alive = set(
        conn.scalars(
            sa.select(table.c.id).where(
                one_of(conn, table.c.id, wanted), table.c.deleted_at.is_(None)
            )
        )
    )
    todo = [(r, submitters[r]) for r in wanted if r in alive and r not in busy]
    for record_id, submitter in batch_start.start_batch(conn, flow, form, todo):
        _start(conn, submitter, flow, form_key, record_id, "")
    return [record_id for record_id, _ in todo]


def _start(
    conn: Connection,
    actor: Actor,
    flow: Mapping[str, Any],
    form_key: str,
    record_id: int,
    text: str,
) -> dict[str, Any]:
    """Insert the approval of round 1 and enter the flow's first node."""
    now = utcnow(conn)
    result = conn.execute(
        approvals.insert().values(
            flow_key=flow["key"],
            flow_version=flow["version"],
            form_key=form_key,
            record_id=record_id,
            submitter_id=actor.user_id,
            state=RUNNING,
            round=1,
            created_at=now,
            updated_at=now,
        )
    )
    assert result.inserted_primary_key is not None
    approval_id = int(result.inserted_primary_key[0])
    walk = runtime.open_walk(conn, runtime.lock(conn, approval_id), actor)
    runtime.log(walk, "submit", comment=text, version=flow["version"])
    runtime.start_round(walk)
    return describe(conn, approval_id)


def resubmit(
    *, conn: Connection, actor: Actor, approval_id: int, comment: str | None = None
) -> dict[str, Any]:
    """Send a returned approval round again, from the flow's first node (same version)."""
    walk = runtime.open_walk(conn, runtime.lock(conn, approval_id), actor)
    _require_submitter(walk)
    if walk.approval["state"] != RETURNED:
        raise Conflict(
            Text(
                "approval {approval_id} is not returned to its submitter", approval_id=approval_id
            ),
            id=approval_id,
        )
    errors = ErrorCollector()
    text = _comment(comment, errors)
    errors.raise_if_any()
    runtime.set_state(walk, RUNNING, round=walk.round + 1)
    walk.record = runtime.read_record(conn, walk.form, walk.approval["record_id"])
    runtime.log(walk, "resubmit", comment=text)
    runtime.start_round(walk)
    return describe(conn, approval_id)


def recall(
    *, conn: Connection, actor: Actor, approval_id: int, comment: str | None = None
) -> dict[str, Any]:
    """The submitter withdraws: while nobody has acted in this round, or once returned."""
    walk = runtime.open_walk(conn, runtime.lock(conn, approval_id), actor)
    _require_submitter(walk)
    errors = ErrorCollector()
    text = _comment(comment, errors)
    errors.raise_if_any()
    state = walk.approval["state"]
    if state not in (RUNNING, RETURNED):
        raise Conflict(
            Text("approval {approval_id} has already finished", approval_id=approval_id),
            id=approval_id,
        )
    if state == RUNNING and _acted_this_round(walk):
        raise Conflict(
            Text("an approver has already acted; it can no longer be recalled"),
            id=approval_id,
        )
    runtime.log(walk, "recall", comment=text)
    runtime.finish(walk, WITHDRAWN)
    return describe(conn, approval_id)


def _acted_this_round(walk: Walk) -> bool:
    started = walk.conn.scalar(
        sa.select(sa.func.max(approval_acts.c.id)).where(
            approval_acts.c.approval_id == walk.id,
            approval_acts.c.action.in_(("submit", "resubmit")),
        )
    )
    return (
        walk.conn.execute(
            sa.select(approval_acts.c.id)
            .where(
                approval_acts.c.approval_id == walk.id,
                approval_acts.c.id > (started or 0),
                approval_acts.c.action.in_(HUMAN_ACTS),
            )
            .limit(1)
        ).first()
        is not None
    )


def _require_submitter(walk: Walk) -> None:
    if walk.actor.user_id is None or walk.actor.user_id != walk.approval["submitter_id"]:
        raise PermissionDenied(Text("only the submitter may do this"), id=walk.id)


# ---- acting on a task ------------------------------------------------------------------------


def _task_walk(conn: Connection, actor: Actor, task_id: int) -> tuple[Walk, dict[str, Any]]:
    approval_id = conn.scalar(
        sa.select(approval_tasks.c.approval_id).where(approval_tasks.c.id == task_id)
    )
    if approval_id is None:
        raise NotFound(Text("task {task_id} does not exist", task_id=task_id), id=task_id)
    approval = runtime.lock(conn, approval_id)
    task = conn.execute(sa.select(approval_tasks).where(approval_tasks.c.id == task_id)).one()
    if actor.user_id is None or task.assignee_id != actor.user_id:
        raise PermissionDenied(Text("task {task_id} is not yours", task_id=task_id), id=task_id)
    if task.kind != "approve" or task.state != "pending" or approval["state"] != RUNNING:
        raise Conflict(
            Text("task {task_id} is {state}; nothing to do", task_id=task_id, state=task.state),
            id=task_id,
            state=task.state,
        )
    return runtime.open_walk(conn, approval, actor), dict(task._mapping)


def _channel(channel: str | None) -> dict[str, Any]:
    """The trail's note of where a decision came from, when not the inbox or the API."""
    return {"channel": channel} if channel else {}


def _node_of(walk: Walk, task: Mapping[str, Any]) -> tuple[int, Mapping[str, Any]]:
    node_id = walk.conn.scalar(
        sa.select(approval_nodes.c.node_id).where(approval_nodes.c.id == task["node_row_id"])
    )
    return int(task["node_row_id"]), walk.tree.nodes[str(node_id)]


def _settle(walk: Walk, task: Mapping[str, Any], state: str, comment: str) -> None:
    """The task's decision, only if it is still pending (a conditional update)."""
    done = walk.conn.execute(
        approval_tasks.update()
        .where(approval_tasks.c.id == task["id"], approval_tasks.c.state == "pending")
        .values(state=state, acted_at=walk.now, comment=comment)
    )
    if done.rowcount != 1:
        raise Conflict(
            Text("task {task_id} was already acted on", task_id=task["id"]), id=task["id"]
        )


def approve(
    *,
    conn: Connection,
    actor: Actor,
    task_id: int,
    comment: str | None = None,
    values: Mapping[str, Any] | None = None,
    attachments: Sequence[str] | None = None,
    channel: str | None = None,
) -> dict[str, Any]:
    """Approve; ``values`` change the fields the node lets its approvers edit. ``channel``
    names in the trail where the decision came from when it is not the inbox or the API
    (``link``: an approval link from a card or an e-mail)."""
    walk, task = _task_walk(conn, actor, task_id)
    node_row, node = _node_of(walk, task)
    errors = ErrorCollector()
    text = _comment(comment, errors)
    files = _attachments(conn, actor, attachments, errors)
    if values is not None and not isinstance(values, Mapping):
        errors.add("values", "invalid_values", Text("field values to change"), values)
    editable = set(node.get("editable_fields", ()))
    for key in values or {}:
        if key not in editable:
            errors.add(
                f"values.{key}",
                "not_editable",
                Text("this approver may not change this field"),
                key,
            )
    errors.raise_if_any()
    if values:
        with engine_write():  # the fields the node lets its approvers edit, checked above
            service.update_record(
                conn=conn,
                actor=dataclasses.replace(actor, is_admin=True, token=None),
                form=walk.form,
                record_id=walk.approval["record_id"],
                values=dict(values),
            )
        walk.record = runtime.read_record(conn, walk.form, walk.approval["record_id"])
    _settle(walk, task, "approved", text)
    runtime.log(
        walk,
        "approve",
        task_id=task_id,
        node_id=node["id"],
        comment=text,
        attachments=files,
        values=dict(values or {}),
        **_channel(channel),
    )
    woken = (
        conn.execute(
            approval_tasks.update()
            .where(approval_tasks.c.waits_for == task_id, approval_tasks.c.state == "waiting")
            .values(state="pending")
            .returning(approval_tasks.c.assignee_id)
        )
        .scalars()
        .all()
    )
    if woken:
        runtime.tell_approvers(walk, woken)
        if node.get("mode", "single") != "percentage":
            return describe(conn, walk.id)
    mode = node.get("mode", "single")
    if mode == "any":
        complete = True
    elif mode == "percentage":
        votes = runtime.node_votes(walk, node_row)
        complete = votes.get("approved", 0) >= runtime.percentage_needed(node, votes)
    else:
        complete = not runtime.open_tasks(walk, node_row)
    if complete:
        runtime.close_node(walk, node_row, "approved")
        runtime.passed(walk, node["id"])
    return describe(conn, walk.id)


def reject(
    *,
    conn: Connection,
    actor: Actor,
    task_id: int,
    comment: str | None = None,
    to: str | None = None,
    attachments: Sequence[str] | None = None,
    channel: str | None = None,
) -> dict[str, Any]:
    """Reject: ``to`` end (the approval is rejected), submitter (returned to edit) or
    previous (the approver node before this one decides again); the node's ``reject_to``
    when None. In a 票签 node a rejection is a vote, deciding once the share is out of reach."""
    walk, task = _task_walk(conn, actor, task_id)
    node_row, node = _node_of(walk, task)
    errors = ErrorCollector()
    text = _comment(comment, errors)
    files = _attachments(conn, actor, attachments, errors)
    if to is not None and to not in REJECT_TO:
        errors.add(
            "to", "invalid_reject_to", Text("one of {choices}", choices=", ".join(REJECT_TO)), to
        )
    errors.raise_if_any()
    _settle(walk, task, "rejected", text)
    runtime.log(
        walk,
        "reject",
        task_id=task_id,
        node_id=node["id"],
        comment=text,
        attachments=files,
        to=to,
        **_channel(channel),
    )
    if node.get("mode", "single") == "percentage":
        votes = runtime.node_votes(walk, node_row)
        reachable = votes.get("approved", 0) + votes.get("pending", 0) + votes.get("waiting", 0)
        if reachable >= runtime.percentage_needed(node, votes):
            return describe(conn, walk.id)
    runtime.close_node(walk, node_row, "rejected")
    _route_rejection(walk, node, to or node.get("reject_to", "end"))
    return describe(conn, walk.id)


def _route_rejection(walk: Walk, node: Mapping[str, Any], to: str) -> None:
    if to == "previous":
        previous = walk.tree.previous_approver(node["id"])
        if previous is not None:
            runtime.enter(walk, previous)
            return
        to = "submitter"
    if to == "submitter":
        runtime.return_to_submitter(walk)
    else:
        runtime.finish(walk, runtime.REJECTED)


def return_for_edit(
    *, conn: Connection, actor: Actor, task_id: int, comment: str | None = None
) -> dict[str, Any]:
    """Send the record back to its submitter to change; they resubmit it."""
    walk, task = _task_walk(conn, actor, task_id)
    node_row, node = _node_of(walk, task)
    errors = ErrorCollector()
    text = _comment(comment, errors)
    errors.raise_if_any()
    _settle(walk, task, "returned", text)
    runtime.log(walk, "return", task_id=task_id, node_id=node["id"], comment=text)
    runtime.close_node(walk, node_row, "returned")
    runtime.return_to_submitter(walk)
    return describe(conn, walk.id)


def _require_user(conn: Connection, user_id: Any, errors: ErrorCollector, field: str) -> None:
    if (
        isinstance(user_id, bool)
        or not isinstance(user_id, int)
        or conn.execute(
            sa.select(users.c.id).where(users.c.id == user_id, users.c.is_active)
        ).first()
        is None
    ):
        errors.add(field, "unknown_user", Text("an active user's id"), user_id)


def transfer(
    *, conn: Connection, actor: Actor, task_id: int, user_id: int, comment: str | None = None
) -> dict[str, Any]:
    """转交: the task goes to ``user_id``, who decides in the actor's place."""
    walk, task = _task_walk(conn, actor, task_id)
    _, node = _node_of(walk, task)
    errors = ErrorCollector()
    text = _comment(comment, errors)
    _require_user(conn, user_id, errors, "user_id")
    if user_id == actor.user_id:
        errors.add("user_id", "same_user", Text("transfer to someone else"), user_id)
    errors.raise_if_any()
    _settle(walk, task, "transferred", text)
    new_id = _insert_task(walk, task, user_id, state="pending", waits_for=None)
    conn.execute(
        approval_tasks.update()
        .where(approval_tasks.c.waits_for == task_id, approval_tasks.c.state == "waiting")
        .values(waits_for=new_id)
    )
    runtime.log(walk, "transfer", task_id=task_id, node_id=node["id"], comment=text, to=user_id)
    runtime.tell_approvers(walk, [user_id])
    return describe(conn, walk.id)


def add_approver(
    *,
    conn: Connection,
    actor: Actor,
    task_id: int,
    user_id: int,
    position: str,
    comment: str | None = None,
) -> dict[str, Any]:
    """加签: ``before`` — ``user_id`` decides first, then the task comes back to the actor;
    ``after`` — once the actor approves, ``user_id`` must approve too."""
    walk, task = _task_walk(conn, actor, task_id)
    _, node = _node_of(walk, task)
    errors = ErrorCollector()
    text = _comment(comment, errors)
    _require_user(conn, user_id, errors, "user_id")
    if position not in ("before", "after"):
        errors.add("position", "invalid_position", Text("before or after"), position)
    if user_id == actor.user_id:
        errors.add("user_id", "same_user", Text("add someone else"), user_id)
    errors.raise_if_any()
    if position == "before":
        added = _insert_task(walk, task, user_id, state="pending", waits_for=None)
        conn.execute(
            approval_tasks.update()
            .where(approval_tasks.c.id == task_id, approval_tasks.c.state == "pending")
            .values(state="waiting", waits_for=added)
        )
        runtime.tell_approvers(walk, [user_id])
    else:
        added = _insert_task(walk, task, user_id, state="waiting", waits_for=task_id)
        conn.execute(
            approval_tasks.update()
            .where(
                approval_tasks.c.waits_for == task_id,
                approval_tasks.c.state == "waiting",
                approval_tasks.c.id != added,
            )
            .values(waits_for=added)
        )
    runtime.log(
        walk,
        "add_approver",
        task_id=task_id,
        node_id=node["id"],
        comment=text,
        to=user_id,
        position=position,
    )
    return describe(conn, walk.id)


def _insert_task(
    walk: Walk, task: Mapping[str, Any], user_id: int, *, state: str, waits_for: int | None
) -> int:
    result = walk.conn.execute(
        approval_tasks.insert().values(
            approval_id=walk.id,
            node_row_id=task["node_row_id"],
            kind="approve",
            assignee_id=user_id,
            state=state,
            waits_for=waits_for,
            added_by=walk.actor.user_id,
            created_at=walk.now,
            due_at=task["due_at"],
        )
    )
    assert result.inserted_primary_key is not None
    runtime.grant_read(walk, [user_id])
    return int(result.inserted_primary_key[0])


def comment_on(
    *,
    conn: Connection,
    actor: Actor,
    approval_id: int,
    comment: str,
    attachments: Sequence[str] | None = None,
) -> dict[str, Any]:
    """A comment (with attachments) on the trail, by anyone who may see the approval."""
    approval = runtime.lock(conn, approval_id)
    walk = runtime.open_walk(conn, approval, actor)
    require_visible(conn, actor, approval)
    errors = ErrorCollector()
    text = _comment(comment, errors)
    files = _attachments(conn, actor, attachments, errors)
    if not text and not errors.errors:
        errors.add("comment", "required", Text("write a comment"), comment)
    errors.raise_if_any()
    runtime.log(walk, "comment", comment=text, attachments=files)
    return describe(conn, approval_id)


def set_delegation(
    *,
    conn: Connection,
    actor: Actor,
    delegate_id: int | None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
) -> dict[str, Any]:
    """While away (``starts_at`` … ``ends_at``), new tasks of the actor go to ``delegate_id``;
    None clears it."""
    if actor.user_id is None:
        raise PermissionDenied(Text("a user delegates their own tasks"))
    conn.execute(
        approval_delegations.delete().where(approval_delegations.c.user_id == actor.user_id)
    )
    if delegate_id is None:
        return {"delegate_id": None}
    errors = ErrorCollector()
    _require_user(conn, delegate_id, errors, "delegate_id")
    if delegate_id == actor.user_id:
        errors.add("delegate_id", "same_user", Text("delegate to someone else"), delegate_id)
    start = starts_at or utcnow(conn)
    if ends_at is None or ends_at.tzinfo is None or ends_at <= start:
        errors.add(
            "ends_at",
            "invalid_period",
            Text("an end after the start, with a time zone"),
            str(ends_at),
        )
    errors.raise_if_any()
    assert ends_at is not None
    conn.execute(
        approval_delegations.insert().values(
            user_id=actor.user_id, delegate_id=delegate_id, starts_at=start, ends_at=ends_at
        )
    )
    return {
        "delegate_id": delegate_id,
        "starts_at": start.isoformat(),
        "ends_at": ends_at.isoformat(),
    }


# ---- reading ---------------------------------------------------------------------------------


def require_visible(conn: Connection, actor: Actor, approval: Mapping[str, Any]) -> None:
    """A participant, or anyone who may read the record, sees the approval."""
    if actor.is_admin or actor.user_id == approval["submitter_id"]:
        return
    involved = conn.execute(
        sa.select(approval_tasks.c.id)
        .where(
            approval_tasks.c.approval_id == approval["id"],
            approval_tasks.c.assignee_id == actor.user_id,
        )
        .limit(1)
    ).first()
    if involved is not None:
        return
    form = get_form(conn, approval["form_key"])
    table = compile_form(form).main
    readable = form_access(conn, actor, form).rows(conn, table, "read", DEFAULT_TIME_ZONE)
    query = sa.select(table.c.id).where(table.c.id == approval["record_id"])
    if readable is not None:
        query = query.where(readable)
    if conn.execute(query).first() is None:
        raise NotFound(
            Text("approval {approval_id} does not exist", approval_id=approval["id"]),
            id=approval["id"],
        )


def describe(conn: Connection, approval_id: int) -> dict[str, Any]:
    """The approval with its tasks and trail, as the API shows it."""
    row = conn.execute(sa.select(approvals).where(approvals.c.id == approval_id)).first()
    if row is None:
        raise NotFound(
            Text("approval {approval_id} does not exist", approval_id=approval_id), id=approval_id
        )
    tasks = conn.execute(
        sa.select(approval_tasks, approval_nodes.c.node_id)
        .outerjoin(approval_nodes, approval_nodes.c.id == approval_tasks.c.node_row_id)
        .where(approval_tasks.c.approval_id == approval_id)
        .order_by(approval_tasks.c.id)
    )
    acts = conn.execute(
        sa.select(approval_acts)
        .where(approval_acts.c.approval_id == approval_id)
        .order_by(approval_acts.c.id)
    )
    return {
        "id": row.id,
        "flow": row.flow_key,
        "flow_version": row.flow_version,
        "form": row.form_key,
        "record_id": row.record_id,
        "submitter_id": row.submitter_id,
        "state": row.state,
        "round": row.round,
        "created_at": row.created_at.isoformat(),
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
        "tasks": [
            {
                "id": t.id,
                "node": t.node_id,
                "kind": t.kind,
                "assignee_id": t.assignee_id,
                "delegated_from": t.delegated_from,
                "state": t.state,
                "comment": t.comment,
                "acted_at": t.acted_at.isoformat() if t.acted_at else None,
                "due_at": t.due_at.isoformat() if t.due_at else None,
            }
            for t in tasks
        ],
        "trail": [
            {
                "id": a.id,
                "action": a.action,
                "actor_id": a.actor_id,
                "node": a.node_id,
                "task_id": a.task_id,
                "comment": a.comment,
                "detail": a.detail,
                "at": a.at.isoformat(),
            }
            for a in acts
        ],
    }


def get_approval(conn: Connection, actor: Actor, approval_id: int) -> dict[str, Any]:
    row = conn.execute(sa.select(approvals).where(approvals.c.id == approval_id)).first()
    if row is None:
        raise NotFound(
            Text("approval {approval_id} does not exist", approval_id=approval_id), id=approval_id
        )
    require_visible(conn, actor, dict(row._mapping))
    return describe(conn, approval_id)


def record_approvals(
    conn: Connection, actor: Actor, form_key: str, record_id: int
) -> list[dict[str, Any]]:
    """A record's approvals, newest first, with their trails (the record's timeline)."""
    ids = conn.scalars(
        sa.select(approvals.c.id)
        .where(approvals.c.form_key == form_key, approvals.c.record_id == record_id)
        .order_by(approvals.c.id.desc())
    ).all()
    found = []
    for approval_id in ids:
        try:
            found.append(get_approval(conn, actor, approval_id))
        except NotFound:
            continue
    return found


def open_approval(conn: Connection, form_key: str, record_id: int) -> dict[str, Any] | None:
    """The record's approval in progress (it locks the record), or None."""
    row = conn.execute(
        sa.select(approvals.c.id, approvals.c.flow_key).where(
            approvals.c.form_key == form_key,
            approvals.c.record_id == record_id,
            approvals.c.state == RUNNING,
        )
    ).first()
    return {"id": row.id, "flow": row.flow_key} if row is not None else None


MAX_BULK = 100


def bulk_approve(
    *, conn: Connection, actor: Actor, task_ids: Sequence[int], comment: str | None = None
) -> dict[str, Any]:
    """Approve many tasks at once (the inbox's bulk approve): each in a savepoint of its own,
    so one that cannot be approved (acted on meanwhile, not the actor's) is reported and the
    others still pass."""
    if len(task_ids) > MAX_BULK:
        raise ValidationFailed(
            [
                FieldError(
                    "task_ids",
                    "too_many",
                    Text("at most {limit} tasks at once", limit=MAX_BULK),
                    len(task_ids),
                )
            ]
        )
    approved: list[int] = []
    refused: list[dict[str, Any]] = []
    for task_id in dict.fromkeys(task_ids):
        try:
            with conn.begin_nested():
                approve(conn=conn, actor=actor, task_id=task_id, comment=comment)
            approved.append(task_id)
        except MeridianError as exc:
            refused.append({"task_id": task_id, "code": exc.code, "message": exc.detail})
    return {"approved": approved, "refused": refused}
