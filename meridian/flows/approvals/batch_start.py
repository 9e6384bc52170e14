"""Starting one flow on many records at once, set-based: a bulk move into a stage that starts an
approval starts a thousand of them in a handful of statements, not a thousand walks.

What the walk (:mod:`.runtime`) does when an approval starts is done here for the whole batch:
the approvals, their ``submit`` acts, the condition branches each record takes (each branch's
condition judged once, in SQL, over the batch), the first approver node's rows and tasks, the
read shares, the approval links and one notification pass — each a multi-row INSERT (or one
SELECT). Only the common entry is taken this way: a flow that begins, after any conditions, with
an approver node that names somebody. A record whose entry is anything else (a CC, an action, a
parallel node, an approver node that finds nobody, the end of the flow) is started by the walk
itself, one at a time, so every flow behaves exactly as when started by hand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.db.sets import one_of
from meridian.db.tables import (
    approval_acts,
    approval_nodes,
    approval_tasks,
    approvals,
    record_shares,
    users,
)
from meridian.expr import compile_expression
from meridian.flows.approvals import assignees, links
from meridian.flows.approvals.definitions import FlowTree
from meridian.flows.approvals.runtime import ACTIVE, RUNNING, due_at
from meridian.notify.inbox import BotNotice, Notice, notify_bots, notify_each
from meridian.records.ownership import share_read_many
from meridian.schema.compile import compile_form
from meridian.schema.expressions import scope_for, sql_scope_for
from meridian.schema.model import Form


@dataclass
class _Entry:
    """Where one record's approval enters: its approver node, the branches taken to get there."""

    record_id: int
    submitter: Actor
    node: Mapping[str, Any] | None = None
    branches: list[tuple[str, int]] = field(default_factory=list)
    people: list[int] = field(default_factory=list)


def start_batch(
    conn: Connection,
    flow: Mapping[str, Any],
    form: Form,
    starts: Sequence[tuple[int, Actor]],
) -> list[tuple[int, Actor]]:
    """Start ``flow`` on each ``(record id, submitter)``; the records must exist and have no
    approval in progress (the caller checked, holding their locks). Returns the starts left to
    the walk (see the module's docstring)."""
    if not starts:
        return []
    tree = FlowTree(flow["definition"])
    now = utcnow(conn)
    entries = [_Entry(record_id, submitter) for record_id, submitter in starts]
    _plan(conn, form, tree, None, 0, entries, now)
    records = _records(conn, form, [e.record_id for e in entries if e.node is not None])
    known: dict[tuple[Any, ...], list[int]] = {}
    for entry in entries:
        if entry.node is None:
            continue
        record = records.get(entry.record_id) or {}
        # The node's approvers depend on the submitter and on no more of the record than its
        # owner and the user fields the node names: each combination is resolved once.
        key = (entry.node["id"], entry.submitter.user_id, *_inputs(entry.node, record))
        if key not in known:
            known[key] = _people(conn, entry, record)
        entry.people = known[key]
    ready = [e for e in entries if e.node is not None and e.people]
    rest = [(e.record_id, e.submitter) for e in entries if e.node is None or not e.people]
    if ready:
        _write(conn, flow, form, ready, records, now)
    return rest


def _plan(
    conn: Connection,
    form: Form,
    tree: FlowTree,
    container: str | None,
    branch: int,
    entries: list[_Entry],
    now: datetime,
    index: int = 0,
) -> None:
    """Find each entry's first approver node as the walk would reach it — through condition
    branches, judged set-based, and past the end of a branch to what follows its condition;
    an entry that meets anything else is left without a node, for the walk."""
    if not entries:
        return
    sequence = tree.sequence(container, branch)
    if index >= len(sequence):
        if container is None:
            return  # the flow ends before any approver: the walk approves it
        place = tree.places[container]
        _plan(conn, form, tree, place.container, place.branch, entries, now, place.index + 1)
        return
    node = sequence[index]
    if node["type"] == "approver":
        for entry in entries:
            entry.node = node
        return
    if node["type"] != "condition":
        return
    remaining = list(entries)
    branches = node["branches"]
    for number, choice in enumerate(branches[:-1]):
        hit = _meeting(conn, form, choice["condition"], [e.record_id for e in remaining], now)
        taken = [e for e in remaining if e.record_id in hit]
        remaining = [e for e in remaining if e.record_id not in hit]
        for entry in taken:
            entry.branches.append((node["id"], number))
        _plan(conn, form, tree, node["id"], number, taken, now)
    for entry in remaining:
        entry.branches.append((node["id"], len(branches) - 1))
    _plan(conn, form, tree, node["id"], len(branches) - 1, remaining, now)


def _meeting(
    conn: Connection, form: Form, condition: str, record_ids: list[int], now: datetime
) -> set[int]:
    """Which of ``record_ids`` meet ``condition``: one SELECT for the batch."""
    if not record_ids:
        return set()
    compiled_form = compile_form(form)
    table = compiled_form.main
    compiled = compile_expression(condition, scope_for(conn, form))
    where = compiled.to_sql(
        sql_scope_for(conn, form, compiled_form), dialect=conn.dialect, today=now.date(), now=now
    )
    return set(
        conn.scalars(sa.select(table.c.id).where(one_of(conn, table.c.id, record_ids), where))
    )


def _records(conn: Connection, form: Form, record_ids: list[int]) -> dict[int, dict[str, Any]]:
    if not record_ids:
        return {}
    table = compile_form(form).main
    rows = conn.execute(sa.select(table).where(one_of(conn, table.c.id, record_ids))).mappings()
    return {int(row["id"]): dict(row) for row in rows}


def _inputs(node: Mapping[str, Any], record: Mapping[str, Any]) -> tuple[Any, ...]:
    """What of the record the node's approver sources read (a user field, the owner)."""
    found: list[Any] = []
    for spec in node.get("approvers", ()):
        if spec.get("type") == "field":
            found.append(record.get(spec["field"]))
        elif spec.get("type") == "record_department_head":
            found.append(record.get("owner_id"))
    return tuple(found)


def _people(conn: Connection, entry: _Entry, record: Mapping[str, Any]) -> list[int]:
    """The node's approvers for this record, as the walk resolves them (the same function)."""
    assert entry.node is not None
    people = assignees.resolve(
        conn, entry.node["approvers"], submitter_id=entry.submitter.user_id, record=record
    )
    return people[:1] if entry.node.get("mode", "single") == "single" else people


def _write(
    conn: Connection,
    flow: Mapping[str, Any],
    form: Form,
    ready: list[_Entry],
    records: Mapping[int, Mapping[str, Any]],
    now: datetime,
) -> None:
    started = conn.execute(
        approvals.insert().returning(approvals.c.id, approvals.c.record_id),
        [
            {
                "flow_key": flow["key"],
                "flow_version": flow["version"],
                "form_key": form.key,
                "record_id": entry.record_id,
                "submitter_id": entry.submitter.user_id,
                "state": RUNNING,
                "round": 1,
                "created_at": now,
                "updated_at": now,
            }
            for entry in ready
        ],
    ).all()
    approval_of = {int(row.record_id): int(row.id) for row in started}
    acts: list[dict[str, Any]] = [
        _act(approval_of[e.record_id], "submit", now, e.submitter.user_id, version=flow["version"])
        for e in ready
    ]
    acts += [
        _act(approval_of[e.record_id], "branch", now, None, node_id=node_id, branch=index)
        for e in ready
        for node_id, index in e.branches
    ]
    conn.execute(approval_acts.insert(), acts)
    node_rows = conn.execute(
        approval_nodes.insert().returning(approval_nodes.c.id, approval_nodes.c.approval_id),
        [
            {
                "approval_id": approval_of[e.record_id],
                "round": 1,
                "node_id": e.node["id"],  # type: ignore[index]
                "mode": e.node.get("mode", "single"),  # type: ignore[union-attr]
                "state": ACTIVE,
                "created_at": now,
            }
            for e in ready
        ],
    ).all()
    node_of = {int(row.approval_id): int(row.id) for row in node_rows}
    away = assignees.delegates(conn, sorted({p for e in ready for p in e.people}), now)
    tasks: list[dict[str, Any]] = []
    sequential: list[int] = []
    dues: dict[str, datetime | None] = {}
    for entry in ready:
        assert entry.node is not None
        approval_id = approval_of[entry.record_id]
        if entry.node["id"] not in dues:
            dues[entry.node["id"]] = due_at(conn, now, entry.node.get("timeout"))
        due = dues[entry.node["id"]]
        chained = entry.node.get("mode", "single") == "sequential"
        if chained:
            sequential.append(node_of[approval_id])
        for position, person in enumerate(entry.people):
            assignee = away.get(person, person)
            tasks.append(
                {
                    "approval_id": approval_id,
                    "node_row_id": node_of[approval_id],
                    "kind": "approve",
                    "assignee_id": assignee,
                    "delegated_from": person if assignee != person else None,
                    "state": "waiting" if chained and position else "pending",
                    "waits_for": None,
                    "created_at": now,
                    "due_at": due,
                }
            )
    conn.execute(approval_tasks.insert(), tasks)
    if sequential:
        _chain(conn, sequential)
    _share(conn, form, ready, records, away)
    _tell(conn, flow, form, ready, records, approval_of, now)


def _act(
    approval_id: int, action: str, now: datetime, actor_id: int | None, **detail: Any
) -> dict[str, Any]:
    node_id = detail.pop("node_id", None)
    return {
        "approval_id": approval_id,
        "task_id": None,
        "node_id": node_id,
        "actor_id": actor_id,
        "action": action,
        "comment": "",
        "detail": detail,
        "at": now,
    }


def _chain(conn: Connection, node_rows: list[int]) -> None:
    """In a sequential node each waiting task waits for the one made just before it: one
    UPDATE for every such node of the batch."""
    earlier = approval_tasks.alias("earlier")
    previous = (
        sa.select(sa.func.max(earlier.c.id))
        .where(
            earlier.c.node_row_id == approval_tasks.c.node_row_id,
            earlier.c.id < approval_tasks.c.id,
        )
        .scalar_subquery()
    )
    conn.execute(
        approval_tasks.update()
        .where(
            one_of(conn, approval_tasks.c.node_row_id, node_rows),
            approval_tasks.c.state == "waiting",
        )
        .values(waits_for=previous)
    )


def _share(
    conn: Connection,
    form: Form,
    ready: list[_Entry],
    records: Mapping[int, Mapping[str, Any]],
    away: Mapping[int, int],
) -> None:
    """A read share for every approver who cannot read the record yet (as ``grant_read``)."""
    wanted = {
        (entry.record_id, away.get(person, person))
        for entry in ready
        for person in entry.people
        if away.get(person, person) != (records.get(entry.record_id) or {}).get("owner_id")
    }
    if not wanted:
        return
    people = sorted({person for _, person in wanted})
    admins = set(
        conn.scalars(sa.select(users.c.id).where(users.c.id.in_(people), users.c.is_admin))
    )
    held = {
        (int(row.record_id), int(row.user_id))
        for row in conn.execute(
            sa.select(record_shares.c.record_id, record_shares.c.user_id).where(
                record_shares.c.form_key == form.key,
                one_of(conn, record_shares.c.record_id, sorted({r for r, _ in wanted})),
                record_shares.c.user_id.in_(people),
            )
        )
    }
    share_read_many(
        conn=conn,
        actor=Actor.system(),
        form=form,
        pairs=sorted(pair for pair in wanted if pair not in held and pair[1] not in admins),
    )


def _tell(
    conn: Connection,
    flow: Mapping[str, Any],
    form: Form,
    ready: list[_Entry],
    records: Mapping[int, Mapping[str, Any]],
    approval_of: Mapping[int, int],
    now: datetime,
) -> None:
    """One notification pass for the batch: links, inbox entries and e-mails, robot cards."""
    record_of = {approval_id: record_id for record_id, approval_id in approval_of.items()}
    pending = conn.execute(
        sa.select(approval_tasks.c.id, approval_tasks.c.assignee_id, approval_tasks.c.approval_id)
        .where(
            one_of(conn, approval_tasks.c.approval_id, sorted(record_of)),
            approval_tasks.c.state == "pending",
        )
        .order_by(approval_tasks.c.id)
    ).all()
    issued = links.issue_for_tasks(conn, [(int(t.id), int(t.assignee_id)) for t in pending], now)
    record_by_task = {int(t.id): record_of[int(t.approval_id)] for t in pending}
    titles = {
        record_id: Text("To approve: {form} #{record_id}", form=form.label, record_id=record_id)
        for record_id in approval_of
    }
    notify_each(
        conn,
        [
            Notice(
                link.user_id,
                titles[record_by_task[link.task_id]],
                form_key=form.key,
                record_id=record_by_task[link.task_id],
                action_path=link.path,
            )
            for link in issued
        ],
    )
    channels = [int(c) for c in flow["definition"].get("bots") or ()]
    if not channels or not issued:
        return
    names = {
        row.id: row.name
        for row in conn.execute(
            sa.select(users.c.id, users.c.name).where(
                users.c.id.in_(sorted({link.user_id for link in issued}))
            )
        )
    }
    title_field = form.title_field
    notices = []
    for link in issued:
        record_id = record_by_task[link.task_id]
        record_title = (records.get(record_id) or {}).get(title_field) if title_field else None
        body = " · ".join(str(part) for part in (flow.get("label"), record_title) if part)
        notices += [
            BotNotice(
                channel,
                Text(
                    "{title} · Approver: {name}",
                    title=titles[record_id],
                    name=names.get(link.user_id, link.user_id),
                ),
                body=body,
                form_key=form.key,
                record_id=record_id,
                style="card",
                action_path=link.path,
            )
            for channel in channels
        ]
    notify_bots(conn, notices)
