"""While a record is in approval it is locked: a write guard (``records.guards``) refuses every
change to it — from the record page, the grid, the API, bulk edit, rule actions, imports —
except the fields the active approver node lets its approvers edit, changed by one of those
approvers, and the engine's own writes (an action node's update). Moving it to the trash
(one record or a bulk selection, page or API) is refused by anyone: an approval never loses
its record under way.

The guard judges a whole batch with two queries: the batch's records that have a running
approval, and the pending tasks of the actor on them with their nodes. The first rides in the
statement that reads the record's row when the writer reads one (an update or a trash of one
record: the row fact :data:`RUNNING_APPROVAL`), so a record not in approval costs no query.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.db.sets import one_of
from meridian.db.tables import approval_nodes, approval_tasks, approvals
from meridian.flows.approvals.definitions import FlowTree, get_flow
from meridian.flows.stages.texts import N_, in_both, said
from meridian.records.guards import Refusal, RowFact, WriteBatch
from meridian.schema.model import Form

CODE = "in_approval"
_engine_writing: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "approval_engine_writing", default=False
)


@contextmanager
def engine_write() -> Iterator[None]:
    """The approval engine itself writes the record (an action node, an approver's editable
    fields it has checked): the lock lets it through."""
    token = _engine_writing.set(True)
    try:
        yield
    finally:
        _engine_writing.reset(token)


def _running_approval(form: Form, table: sa.Table) -> sa.ScalarSelect[int]:
    """The id of the record's running approval (None: not in approval), for its row's read."""
    return _running_approval_of(form.key, table)


@functools.lru_cache(maxsize=256)
def _running_approval_of(form_key: str, table: sa.Table) -> sa.ScalarSelect[int]:
    """Made once per form and table: the same object in every read keeps SQLAlchemy's cache
    key of it, so the row's read is keyed without walking the subquery again."""
    return (
        sa.select(approvals.c.id)
        .where(
            approvals.c.form_key == form_key,
            approvals.c.record_id == table.c.id,
            approvals.c.state == "running",
        )
        .limit(1)
        .scalar_subquery()
    )


RUNNING_APPROVAL = RowFact("approval.running", _running_approval)
"""The row fact the lock reads with a record's row (``register_row_facts``)."""


def approval_lock(conn: Connection, batch: WriteBatch) -> Sequence[Refusal]:
    """Refusals for the batch's records that are in approval."""
    if batch.operation == "create" or _engine_writing.get():
        return []
    running = _running(conn, batch)
    if not running:
        return []
    deleting = batch.operation == "delete"
    editable = {} if deleting else _editable_by_actor(conn, batch, list(running.values()))
    refusals = []
    for write in batch.writes:
        approval_id = running.get(write.record_id)
        if approval_id is None:
            continue
        blocked = [""] if deleting else sorted(write.changed - editable.get(approval_id, set()))
        if not blocked:
            continue
        sentence = (
            N_("record {id} is in approval (#{approval}): it cannot be deleted until it ends")
            if deleting
            else N_("record {id} is in approval (#{approval}): it is read-only until it ends")
        )
        texts = in_both(sentence, id=write.record_id, approval=approval_id)
        refusals.append(
            Refusal(
                code=CODE,
                record_id=write.record_id,
                prefix=write.prefix,
                field=blocked[0],
                criterion="locked",
                message=said(texts),
                detail={**texts, "approval_id": approval_id, "fields": blocked},
            )
        )
    return refusals


def _running(conn: Connection, batch: WriteBatch) -> dict[int, int]:
    """The batch's records in approval → their running approval's id: from the row facts
    when the writer read them with the rows, else in one query."""
    name = RUNNING_APPROVAL.name
    if all(name in write.facts for write in batch.writes):
        return {
            write.record_id: write.facts[name]
            for write in batch.writes
            if write.facts[name] is not None
        }
    ids = [w.record_id for w in batch.writes]
    return dict(
        conn.execute(
            sa.select(approvals.c.record_id, approvals.c.id).where(
                approvals.c.form_key == batch.form.key,
                approvals.c.state == "running",
                one_of(conn, approvals.c.record_id, ids),
            )
        ).all()
    )


def _editable_by_actor(
    conn: Connection, batch: WriteBatch, approval_ids: list[int]
) -> dict[int, frozenset[str]]:
    """Per approval, the fields the actor may change: those of the nodes where a task of
    theirs is pending."""
    if batch.actor.user_id is None:
        return {}
    rows = conn.execute(
        sa.select(
            approvals.c.id,
            approvals.c.flow_key,
            approvals.c.flow_version,
            approval_nodes.c.node_id,
        )
        .select_from(
            approval_tasks.join(approvals, approvals.c.id == approval_tasks.c.approval_id).join(
                approval_nodes, approval_nodes.c.id == approval_tasks.c.node_row_id
            )
        )
        .where(
            one_of(conn, approval_tasks.c.approval_id, approval_ids),
            approval_tasks.c.assignee_id == batch.actor.user_id,
            approval_tasks.c.state == "pending",
        )
    ).all()
    trees: dict[tuple[str, int], FlowTree] = {}
    editable: dict[int, set[str]] = {}
    for row in rows:
        key = (row.flow_key, row.flow_version)
        if key not in trees:
            trees[key] = FlowTree(get_flow(conn, *key)["definition"])
        fields = trees[key].nodes[row.node_id].get("editable_fields", ())
        editable.setdefault(row.id, set()).update(fields)
    return {approval: frozenset(fields) for approval, fields in editable.items()}
