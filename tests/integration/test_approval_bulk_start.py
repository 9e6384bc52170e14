"""A bulk move into a stage that starts an approval starts every record's approval set-based:
the same approvals, nodes, tasks, trail, shares, links and notifications as one start at a
time, in one INSERT per table for 1,000 records. SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from meridian.core.actor import Actor
from meridian.db.tables import (
    approval_acts,
    approval_links,
    approval_nodes,
    approval_tasks,
    approvals,
    jobs,
    notifications,
    record_shares,
)
from meridian.events.audit import verify_chain
from meridian.flows.approvals import operations
from meridian.flows.stages.pipelines import save_pipeline
from meridian.http.deps import Workspace
from meridian.records import bulk
from meridian.schema.catalog import get_form
from tests.approvals_support import CONTRACT, Company, approver, build_company

TABLES = (
    "sys_approval",
    "sys_approval_act",
    "sys_approval_node",
    "sys_approval_task",
    "sys_approval_link",
    "sys_notification",
    "sys_record_share",
    "sys_audit",
)


def _nodes(company: Company) -> list[dict[str, Any]]:
    return [
        {
            "id": "by_amount",
            "type": "condition",
            "branches": [
                {"condition": "amount > 100000", "nodes": [approver("vp", company, "vp")]},
                {"nodes": []},
            ],
        },
        approver("review", company, "legal", "finance", mode="all"),
        approver("sign", company, "cfo", "clerk", mode="sequential"),
    ]


def _pipeline() -> dict[str, Any]:
    return {
        "key": "contracting",
        "label": "签约流程",
        "stage_field": "stage",
        "stages": [
            {
                "key": "negotiation",
                "label": "谈判",
                "category": "open",
                "entry": [{"kind": "start_approval", "config": {"flow": "contract_approval"}}],
            },
            {"key": "signed", "label": "签约", "category": "won"},
        ],
    }


@pytest.fixture
def company(workspace: Workspace, admin: Actor) -> Company:
    company = build_company(workspace, admin)
    company.flow("contract_approval", _nodes(company))
    with workspace.transaction() as conn:
        save_pipeline(conn, actor=admin, form=get_form(conn, "contract"), document=_pipeline())
    return company


def _contracts(company: Company, amounts: list[str]) -> list[int]:
    with company.workspace.transaction() as conn:
        made = bulk.create_records(
            conn=conn,
            actor=company["sales"],
            form=CONTRACT,
            items=[{"name": f"C-{i}", "amount": amount} for i, amount in enumerate(amounts)],
        )
    return [int(r) for r in made]


def _move(company: Company, record_ids: list[int]) -> None:
    with company.workspace.transaction() as conn:
        bulk.update_records(
            conn=conn,
            actor=company["sales"],
            form=get_form(conn, "contract"),
            record_ids=record_ids,
            values={"stage": "negotiation"},
        )


def _shape(engine: Engine, record_id: int) -> dict[str, Any]:
    """What an approval is, without its ids and times."""
    with engine.connect() as conn:
        approval = conn.execute(
            sa.select(approvals).where(approvals.c.record_id == record_id)
        ).one()
        nodes = {
            row.id: row.node_id
            for row in conn.execute(
                sa.select(approval_nodes).where(approval_nodes.c.approval_id == approval.id)
            )
        }
        tasks = conn.execute(
            sa.select(approval_tasks)
            .where(approval_tasks.c.approval_id == approval.id)
            .order_by(approval_tasks.c.id)
        ).all()
        order = {task.id: index for index, task in enumerate(tasks)}
        acts = conn.execute(
            sa.select(approval_acts)
            .where(approval_acts.c.approval_id == approval.id)
            .order_by(approval_acts.c.id)
        ).all()
        links = conn.scalar(
            sa.select(sa.func.count())
            .select_from(approval_links)
            .where(approval_links.c.task_id.in_([t.id for t in tasks]))
        )
        shares = sorted(
            conn.scalars(
                sa.select(record_shares.c.user_id).where(record_shares.c.record_id == record_id)
            )
        )
        told = sorted(
            conn.scalars(
                sa.select(notifications.c.user_id).where(notifications.c.record_id == record_id)
            )
        )
    return {
        "approval": (
            approval.flow_key,
            approval.flow_version,
            approval.state,
            approval.round,
            approval.submitter_id,
        ),
        "nodes": sorted(nodes.values()),
        "tasks": [
            (
                nodes.get(t.node_row_id),
                t.kind,
                t.assignee_id,
                t.state,
                order.get(t.waits_for) if t.waits_for else None,
                t.due_at is not None,
            )
            for t in tasks
        ],
        "acts": [(a.action, a.node_id, a.actor_id, a.comment, a.detail) for a in acts],
        "links": links,
        "shares": shares,
        "told": told,
    }


def test_a_bulk_move_starts_each_approval_as_a_single_move_would(
    company: Company, engine: Engine
) -> None:
    amounts = ["150000", "50000", "250000", "80000"]
    one_by_one = _contracts(company, amounts)
    for record_id in one_by_one:
        _move(company, [record_id])
    together = _contracts(company, amounts)
    _move(company, together)
    for single, batched in zip(one_by_one, together, strict=True):
        assert _shape(engine, batched) == _shape(engine, single)
    big = _shape(engine, together[0])
    assert [t[0] for t in big["tasks"]] == ["vp"]
    small = _shape(engine, together[1])
    assert [(t[0], t[2]) for t in small["tasks"]] == [
        ("review", company.id("legal")),
        ("review", company.id("finance")),
    ]
    with engine.connect() as conn:
        assert verify_chain(conn).intact
    # Moving them again starts nothing more.
    _move(company, together)
    with engine.connect() as conn:
        count = conn.scalar(
            sa.select(sa.func.count())
            .select_from(approvals)
            .where(approvals.c.record_id.in_(together))
        )
    assert count == len(together)


def test_the_batch_walks_on_with_the_flow_after_each_approval(company: Company) -> None:
    (record_id,) = _contracts(company, ["50000"])
    _move(company, [record_id])
    with company.workspace.transaction() as conn:
        (approval,) = operations.record_approvals(conn, company.admin, "contract", record_id)
    for name in ("legal", "finance", "cfo", "clerk"):
        with company.workspace.transaction() as conn:
            task = next(
                t
                for t in operations.describe(conn, approval["id"])["tasks"]
                if t["assignee_id"] == company.id(name) and t["state"] == "pending"
            )
            operations.approve(conn=conn, actor=company[name], task_id=task["id"])
    with company.workspace.read() as conn:
        assert operations.describe(conn, approval["id"])["state"] == "approved"


@pytest.fixture
def inserts(engine: Engine) -> Iterator[Counter[str]]:
    """INSERT statements per table: one per execution, however many rows it carries and
    however the driver pages them (every page of an executemany shares its context)."""
    counted: Counter[str] = Counter()
    seen: list[Any] = []

    def count(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        words = statement.split()
        if len(words) < 3 or words[0].upper() != "INSERT" or any(c is context for c in seen):
            return
        seen.append(context)
        counted[words[2].strip('"')] += 1

    sa.event.listen(engine, "before_cursor_execute", count)
    yield counted
    sa.event.remove(engine, "before_cursor_execute", count)


def test_a_thousand_records_take_one_insert_per_table(
    company: Company, engine: Engine, inserts: Counter[str]
) -> None:
    record_ids = _contracts(company, [str(50000 + 10 * i) for i in range(1000)])
    inserts.clear()
    _move(company, record_ids)
    assert {table: inserts[table] for table in TABLES} == dict.fromkeys(TABLES, 1), inserts
    assert inserts["sys_job"] == 1  # the e-mails (robot cards are a second, when named)
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(approvals)) == 1000
        assert (
            conn.scalar(
                sa.select(sa.func.count())
                .select_from(approval_tasks)
                .where(approval_tasks.c.state == "pending")
            )
            == 2000
        )
        assert conn.scalar(sa.select(sa.func.count()).select_from(approval_links)) == 2000
        assert (
            conn.scalar(
                sa.select(sa.func.count()).select_from(jobs).where(jobs.c.kind == "notify.email")
            )
            == 2000
        )
        assert verify_chain(conn).intact
