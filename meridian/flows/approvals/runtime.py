"""Walking an approval through its flow's tree: entering nodes, passing them, finishing.

Everything here runs inside one operation's transaction, after the operation locked the
approval's row (:func:`lock`): PostgreSQL serialises the operations of one approval on that
row lock, SQLite on its one write lock. So two 会签 approvers acting at the same instant are
counted one after the other and the second sees the first's vote, and of two 或签 approvers
exactly one passes the node; the loser's task was cancelled by the winner, so its conditional
update (``state = 'pending'``) finds nothing and it is told so.

State is relational: the approval (``sys_approval``), one row per node it entered
(``sys_approval_node``, and one per finished branch of a parallel node), one row per approver
(``sys_approval_task``) and the trail (``sys_approval_act``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import N_, Text
from meridian.db.tables import (
    approval_acts,
    approval_nodes,
    approval_tasks,
    approvals,
    record_shares,
    users,
)
from meridian.errors import Conflict, NotFound
from meridian.events.lifecycle import ApprovalFinished
from meridian.expr import compile_expression
from meridian.flows.approvals import assignees, links
from meridian.flows.approvals.definitions import FlowTree, get_flow
from meridian.flows.approvals.lock import engine_write
from meridian.flows.calendar.model import time_basis
from meridian.flows.calendar.store import load_calendar
from meridian.jobs.queue import enqueue
from meridian.notify.inbox import BotNotice, Notice, notify_bots, notify_each, notify_users
from meridian.records import service
from meridian.records.ownership import share_record
from meridian.records.subscribers import announce
from meridian.schema.catalog import get_form
from meridian.schema.compile import compile_form
from meridian.schema.expressions import scope_for, sql_scope_for
from meridian.schema.model import Form

RUNNING, RETURNED = "running", "returned"
APPROVED, REJECTED, WITHDRAWN = "approved", "rejected", "withdrawn"
FINISHED = (APPROVED, REJECTED, WITHDRAWN)
OPEN = ("pending", "waiting")
ACTIVE, DONE, CANCELLED = "active", "done", "cancelled"
WEBHOOK_JOB = "rules.call"
"""The job kind that POSTs a signed body to a URL (its handler is the integrations')."""


@dataclass
class Walk:
    """One operation on one locked approval."""

    conn: Connection
    approval: dict[str, Any]
    tree: FlowTree
    form: Form
    actor: Actor
    now: datetime
    record: dict[str, Any] = field(default_factory=dict)
    flow_label: str = ""

    @property
    def id(self) -> int:
        return int(self.approval["id"])

    @property
    def round(self) -> int:
        return int(self.approval["round"])

    @property
    def running(self) -> bool:
        return bool(self.approval["state"] == RUNNING)


def lock(conn: Connection, approval_id: int) -> dict[str, Any]:
    """The approval's row, locked until the transaction ends."""
    row = conn.execute(
        sa.select(approvals).where(approvals.c.id == approval_id).with_for_update()
    ).first()
    if row is None:
        raise NotFound(
            Text("approval {approval_id} does not exist", approval_id=approval_id), id=approval_id
        )
    return dict(row._mapping)


def open_walk(conn: Connection, approval: dict[str, Any], actor: Actor) -> Walk:
    flow = get_flow(conn, approval["flow_key"], approval["flow_version"])
    form = get_form(conn, approval["form_key"])
    walk = Walk(conn, approval, FlowTree(flow["definition"]), form, actor, utcnow(conn))
    walk.flow_label = str(flow.get("label") or "")
    walk.record = read_record(conn, form, approval["record_id"])
    return walk


def read_record(conn: Connection, form: Form, record_id: int) -> dict[str, Any]:
    table = compile_form(form).main
    row = conn.execute(
        sa.select(table).where(table.c.id == record_id, table.c.deleted_at.is_(None))
    ).first()
    if row is None:
        raise NotFound(
            Text(
                "record {record_id} of form {form_key!r} is not found",
                record_id=record_id,
                form_key=form.key,
            ),
            id=record_id,
        )
    return dict(row._mapping)


# ---- the trail -------------------------------------------------------------------------------


def log(
    walk: Walk,
    action: str,
    *,
    task_id: int | None = None,
    node_id: str | None = None,
    comment: str = "",
    actor_id: int | bool | None = True,
    **detail: Any,
) -> None:
    conn = walk.conn
    conn.execute(
        approval_acts.insert().values(
            approval_id=walk.id,
            task_id=task_id,
            node_id=node_id,
            actor_id=walk.actor.user_id if actor_id is True else actor_id,
            action=action,
            comment=comment,
            detail=detail,
            at=walk.now,
        )
    )


# ---- starting and walking --------------------------------------------------------------------


def start_round(walk: Walk) -> None:
    """Enter the flow's first node (or finish approved, for a flow that needs nobody)."""
    enter_sequence(walk, None, 0, 0)


def enter_sequence(walk: Walk, container: str | None, branch: int, index: int) -> None:
    sequence = walk.tree.sequence(container, branch)
    if index < len(sequence):
        enter(walk, sequence[index])
    else:
        sequence_ended(walk, container, branch)


def enter(walk: Walk, node: Mapping[str, Any]) -> None:
    if not walk.running:
        return
    kind = node["type"]
    if kind == "approver":
        _enter_approver(walk, node)
    elif kind == "cc":
        _enter_cc(walk, node)
        passed(walk, node["id"])
    elif kind == "action":
        _perform(walk, node)
        passed(walk, node["id"])
    elif kind == "condition":
        branch = _chosen_branch(walk, node)
        enter_sequence(walk, node["id"], branch, 0)
    else:
        for branch in range(len(node["branches"])):
            enter_sequence(walk, node["id"], branch, 0)


def passed(walk: Walk, node_id: str) -> None:
    """Go on after ``node_id``: its next sibling, or the end of its sequence."""
    if not walk.running:
        return
    following = walk.tree.following(node_id)
    if following is not None:
        enter(walk, following)
    else:
        place = walk.tree.places[node_id]
        sequence_ended(walk, place.container, place.branch)


def sequence_ended(walk: Walk, container: str | None, branch: int) -> None:
    if not walk.running:
        return
    if container is None:
        finish(walk, APPROVED)
        return
    node = walk.tree.nodes[container]
    if node["type"] == "condition":
        passed(walk, container)
        return
    walk.conn.execute(
        approval_nodes.insert().values(
            approval_id=walk.id,
            round=walk.round,
            node_id=f"{container}#{branch}",
            mode="branch",
            state=DONE,
            created_at=walk.now,
            finished_at=walk.now,
        )
    )
    ended = walk.conn.scalar(
        sa.select(sa.func.count())
        .select_from(approval_nodes)
        .where(
            approval_nodes.c.approval_id == walk.id,
            approval_nodes.c.round == walk.round,
            approval_nodes.c.node_id.like(f"{container}#%"),
            approval_nodes.c.state == DONE,
        )
    )
    if ended == len(node["branches"]):
        passed(walk, container)


def _enter_approver(walk: Walk, node: Mapping[str, Any]) -> None:
    people = assignees.resolve(
        walk.conn,
        node["approvers"],
        submitter_id=walk.approval["submitter_id"],
        record=walk.record,
    )
    mode = node.get("mode", "single")
    if mode == "single":
        people = people[:1]
    if not people:
        log(walk, "auto_approved", node_id=node["id"], actor_id=None, reason="no_approver")
        passed(walk, node["id"])
        return
    result = walk.conn.execute(
        approval_nodes.insert().values(
            approval_id=walk.id,
            round=walk.round,
            node_id=node["id"],
            mode=mode,
            state=ACTIVE,
            created_at=walk.now,
        )
    )
    assert result.inserted_primary_key is not None
    node_row = int(result.inserted_primary_key[0])
    add_tasks(walk, node, node_row, people, sequential=mode == "sequential")


def add_tasks(
    walk: Walk,
    node: Mapping[str, Any],
    node_row: int,
    people: Sequence[int],
    *,
    sequential: bool,
) -> None:
    """One task per person (their delegate's while they are away); in a sequence each waits
    for the one before it. The first to act are told."""
    away = assignees.delegates(walk.conn, people, walk.now)
    due = due_at(walk.conn, walk.now, node.get("timeout"))
    previous: int | None = None
    told: list[int] = []
    for person in people:
        assignee = away.get(person, person)
        values = {
            "approval_id": walk.id,
            "node_row_id": node_row,
            "kind": "approve",
            "assignee_id": assignee,
            "delegated_from": person if assignee != person else None,
            "state": "waiting" if previous is not None else "pending",
            "waits_for": previous,
            "created_at": walk.now,
            "due_at": due,
        }
        result = walk.conn.execute(approval_tasks.insert().values(values))
        assert result.inserted_primary_key is not None
        if values["state"] == "pending":
            told.append(assignee)
        if sequential:
            previous = int(result.inserted_primary_key[0])
    grant_read(walk, [away.get(p, p) for p in people])
    tell_approvers(walk, told)


def grant_read(walk: Walk, people: Sequence[int]) -> None:
    """Let approvers and CC'd users read the record: a read share (shown on the record's
    sharing panel, audited, revocable) for each who holds none yet — an approver outside the
    record's department must still see what they decide on."""
    record_id = int(walk.approval["record_id"])
    wanted = sorted(set(people))
    if not wanted:
        return
    held = set(
        walk.conn.scalars(
            sa.select(record_shares.c.user_id).where(
                record_shares.c.form_key == walk.form.key,
                record_shares.c.record_id == record_id,
                record_shares.c.user_id.in_(wanted),
            )
        )
    )
    # Administrators read every record already: no share for them.
    held |= set(
        walk.conn.scalars(sa.select(users.c.id).where(users.c.id.in_(wanted), users.c.is_admin))
    )
    for person in dict.fromkeys(people):
        if person not in held and person != walk.record.get("owner_id"):
            share_record(
                conn=walk.conn,
                actor=Actor.system(),
                form=walk.form,
                record_id=record_id,
                level="read",
                user_id=person,
            )


def tell_approvers(walk: Walk, people: Sequence[int]) -> None:
    """Tell ``people`` their task is open: an inbox entry and an e-mail each, and a card on
    each group robot the flow names (``bots``). Every open task gets its approval link
    (:mod:`.links`), which the e-mail and the card carry as the way to decide: one card per
    approver, naming them, since a link acts only as its own approver."""
    grant_read(walk, people)
    if not people:
        return
    record_id = walk.approval["record_id"]
    title = Text("To approve: {form} #{record_id}", form=walk.form.label, record_id=record_id)
    issued = links.issue(walk.conn, walk.id, people, walk.now)
    linked = {link.user_id for link in issued}
    notices = [
        Notice(
            link.user_id, title, form_key=walk.form.key, record_id=record_id, action_path=link.path
        )
        for link in issued
    ] + [
        Notice(person, title, form_key=walk.form.key, record_id=record_id)
        for person in dict.fromkeys(people)
        if person not in linked
    ]
    notify_each(walk.conn, notices)
    channels = [int(c) for c in walk.tree.definition.get("bots") or ()]
    if channels and issued:
        names = {
            row.id: row.name
            for row in walk.conn.execute(
                sa.select(users.c.id, users.c.name).where(users.c.id.in_(sorted(linked)))
            )
        }
        body = record_summary(walk)
        notify_bots(
            walk.conn,
            [
                BotNotice(
                    channel,
                    Text(
                        "{title} · Approver: {name}",
                        title=title,
                        name=names.get(link.user_id, link.user_id),
                    ),
                    body=body,
                    form_key=walk.form.key,
                    record_id=record_id,
                    style="card",
                    action_path=link.path,
                )
                for channel in channels
                for link in issued
            ],
        )


def record_summary(walk: Walk) -> str:
    """The record's title (its title field) and the flow's name, for a card's text."""
    title_field = walk.form.title_field
    title = walk.record.get(title_field) if title_field else None
    return " · ".join(str(part) for part in (walk.flow_label, title) if part)


def due_at(conn: Connection, now: datetime, timeout: Mapping[str, Any] | None) -> datetime | None:
    """When a task of a node with ``timeout`` falls due: ``hours`` of business time (the work
    calendar's working week, holidays and 调休 days) from ``now``, or of plain time when the
    node says ``"basis": "calendar"``."""
    if not timeout:
        return None
    clock = time_basis(load_calendar(conn), timeout.get("basis", "business"))
    return clock.add_hours(now, float(timeout["hours"]))


def _enter_cc(walk: Walk, node: Mapping[str, Any]) -> None:
    people = assignees.resolve(
        walk.conn, node["approvers"], submitter_id=walk.approval["submitter_id"], record=walk.record
    )
    if people:
        grant_read(walk, people)
        walk.conn.execute(
            approval_tasks.insert(),
            [
                {
                    "approval_id": walk.id,
                    "node_row_id": None,
                    "kind": "cc",
                    "assignee_id": person,
                    "state": "cc",
                    "created_at": walk.now,
                }
                for person in people
            ],
        )
        notify_users(
            walk.conn,
            people,
            title=Text(
                "For your information: {form} #{record_id}",
                form=walk.form.label,
                record_id=walk.approval["record_id"],
            ),
            form_key=walk.form.key,
            record_id=walk.approval["record_id"],
        )
    log(walk, "cc", node_id=node["id"], actor_id=None, users=people)


def _perform(walk: Walk, node: Mapping[str, Any]) -> None:
    action = node["action"]
    record_id = walk.approval["record_id"]
    if action == "update":
        with engine_write():
            service.update_record(
                conn=walk.conn,
                actor=Actor.system(),
                form=walk.form,
                record_id=record_id,
                values=dict(node["values"]),
            )
        walk.record = read_record(walk.conn, walk.form, record_id)
    elif action == "webhook":
        key = f"meridian-approval-{walk.id}-{walk.round}-{node['id']}"
        body = {
            "event": "ApprovalAction",
            "approval_id": walk.id,
            "flow": walk.approval["flow_key"],
            "form": walk.form.key,
            "record_id": record_id,
            "node": node["id"],
        }
        payload = {"url": node["url"], "secret": node.get("secret") or "", "body": body, "key": key}
        enqueue(walk.conn, WEBHOOK_JOB, payload, idempotency_key=key)
    else:
        people = assignees.resolve(
            walk.conn,
            node["approvers"],
            submitter_id=walk.approval["submitter_id"],
            record=walk.record,
        )
        notify_users(
            walk.conn, people, title=node["message"], form_key=walk.form.key, record_id=record_id
        )
    log(walk, "action", node_id=node["id"], actor_id=None, performed=action)


def _chosen_branch(walk: Walk, node: Mapping[str, Any]) -> int:
    """The first branch whose condition the record meets; the last is the default."""
    branches = node["branches"]
    table = compile_form(walk.form).main
    now = walk.now
    scope = scope_for(walk.conn, walk.form)
    sql_scope = sql_scope_for(walk.conn, walk.form, compile_form(walk.form))
    for index, branch in enumerate(branches[:-1]):
        compiled = compile_expression(branch["condition"], scope)
        condition = compiled.to_sql(sql_scope, dialect=walk.conn.dialect, today=now.date(), now=now)
        hit = walk.conn.execute(
            sa.select(table.c.id).where(table.c.id == walk.approval["record_id"], condition)
        ).first()
        if hit is not None:
            log(walk, "branch", node_id=node["id"], actor_id=None, branch=index)
            return index
    log(walk, "branch", node_id=node["id"], actor_id=None, branch=len(branches) - 1)
    return len(branches) - 1


# ---- deciding a node -------------------------------------------------------------------------


def open_tasks(walk: Walk, node_row: int) -> list[dict[str, Any]]:
    rows = walk.conn.execute(
        sa.select(approval_tasks).where(
            approval_tasks.c.node_row_id == node_row, approval_tasks.c.state.in_(OPEN)
        )
    )
    return [dict(r._mapping) for r in rows]


def node_votes(walk: Walk, node_row: int) -> dict[str, int]:
    rows = walk.conn.execute(
        sa.select(approval_tasks.c.state, sa.func.count())
        .where(approval_tasks.c.node_row_id == node_row)
        .group_by(approval_tasks.c.state)
    )
    return {state: int(count) for state, count in rows}


def percentage_needed(node: Mapping[str, Any], votes: Mapping[str, int]) -> int:
    counted = sum(votes.get(s, 0) for s in ("pending", "waiting", "approved", "rejected"))
    return max(1, math.ceil(counted * int(node["percentage"]) / 100))


def close_node(walk: Walk, node_row: int, state: str) -> None:
    """Finish the node row and cancel whatever of it is still open."""
    walk.conn.execute(
        approval_nodes.update()
        .where(approval_nodes.c.id == node_row, approval_nodes.c.state == ACTIVE)
        .values(state=state, finished_at=walk.now)
    )
    walk.conn.execute(
        approval_tasks.update()
        .where(approval_tasks.c.node_row_id == node_row, approval_tasks.c.state.in_(OPEN))
        .values(state="cancelled", acted_at=walk.now)
    )


def cancel_everything(walk: Walk) -> None:
    walk.conn.execute(
        approval_nodes.update()
        .where(approval_nodes.c.approval_id == walk.id, approval_nodes.c.state == ACTIVE)
        .values(state=CANCELLED, finished_at=walk.now)
    )
    walk.conn.execute(
        approval_tasks.update()
        .where(approval_tasks.c.approval_id == walk.id, approval_tasks.c.state.in_(OPEN))
        .values(state="cancelled", acted_at=walk.now)
    )


def set_state(walk: Walk, state: str, **values: Any) -> None:
    walk.conn.execute(
        approvals.update()
        .where(approvals.c.id == walk.id)
        .values(state=state, updated_at=walk.now, **values)
    )
    walk.approval.update(state=state, **values)


def finish(walk: Walk, outcome: str) -> None:
    """End the approval with ``outcome``: nothing stays open, the record unlocks, and
    :class:`ApprovalFinished` is announced (rules, stages' gates and webhooks act on it)."""
    if walk.approval["state"] in FINISHED:
        raise Conflict(
            Text("approval {approval_id} has already finished", approval_id=walk.id), id=walk.id
        )
    cancel_everything(walk)
    set_state(walk, outcome, finished_at=walk.now)
    log(walk, "finished", actor_id=None if outcome != WITHDRAWN else True, outcome=outcome)
    record_id = int(walk.approval["record_id"])
    version = int(read_record(walk.conn, walk.form, record_id)["_version"])
    event = ApprovalFinished(
        walk.form.key,
        record_id,
        walk.actor.user_id,
        version,
        approval_id=walk.id,
        flow=walk.approval["flow_key"],
        outcome=outcome,
    )
    announce(walk.conn, walk.form, [event])
    submitter = walk.approval["submitter_id"]
    if submitter is not None and outcome != WITHDRAWN:
        said = {
            "approved": N_("Approval approved: {form} #{record_id}"),
            "rejected": N_("Approval rejected: {form} #{record_id}"),
        }[outcome]
        notify_users(
            walk.conn,
            [submitter],
            title=Text(said, form=walk.form.label, record_id=record_id),
            form_key=walk.form.key,
            record_id=record_id,
        )


def return_to_submitter(walk: Walk) -> None:
    """Hand the record back to the submitter to edit: nothing stays open, the record unlocks,
    and the submitter resubmits (a new round) or withdraws."""
    cancel_everything(walk)
    set_state(walk, RETURNED)
    submitter = walk.approval["submitter_id"]
    if submitter is not None:
        notify_users(
            walk.conn,
            [submitter],
            title=Text(
                "Returned to you: {form} #{record_id}",
                form=walk.form.label,
                record_id=walk.approval["record_id"],
            ),
            form_key=walk.form.key,
            record_id=walk.approval["record_id"],
        )
