"""Approvals benchmark: one approval step against a plain update, and a big inbox.

    python bench/approvals_bench.py
    python bench/approvals_bench.py --postgres postgresql+psycopg://postgres@127.0.0.1/test

1. A contract flow of two 会签 nodes (two approvers each). For each of ``--steps`` contracts the
   second approver of the first node approves: the node passes, the next node becomes active,
   its two tasks are created and the approvers' notifications (inbox rows and email jobs) are
   queued — one approval step, in its own transaction through ``operations.approve``. Turn
   about with it, a plain single-field update of another contract through
   ``records.service.update_record``. Medians are printed, and their ratio.
2. One user with ``--open`` open tasks (written set-based): the first page of their inbox with
   the counts of all four boxes, through ``inbox.inbox``; median of ``--runs``.
3. ``--bulk`` records moved in one bulk update into a stage that starts a flow (a condition,
   then a 会签 of two non-admin approvers: approvals, nodes, tasks, trail, read shares, links,
   inbox rows and e-mail jobs), against the same bulk move into a stage that starts nothing,
   and against raw SQL inserting the approvals, nodes and tasks alone (three INSERT … SELECT).
   Wall and CPU time (this process) of each, median of ``--bulk-runs``. ``--only-bulk`` skips
   1 and 2.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from scratch import database_url

from meridian.access.users import create_user
from meridian.app import create_workspace
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.db.bulk import insert_many
from meridian.db.tables import approval_nodes, approval_tasks, approvals
from meridian.flows.approvals import definitions, inbox, operations
from meridian.flows.stages.pipelines import save_pipeline
from meridian.http.deps import Workspace
from meridian.records import bulk, service
from meridian.schema.changes import create_app, create_form
from meridian.schema.model import App, Field, Form, SelectOption
from meridian.settings import Settings

CONTRACT = Form(
    key="contract",
    app_key="crm",
    label="合同",
    fields=(
        Field(key="name", label="名称", type="text"),
        Field(key="amount", label="金额", type="money"),
    ),
)


def _setup(workspace: Workspace) -> dict[str, Actor]:
    system = Actor.system()
    with workspace.transaction() as conn:
        create_app(conn=conn, actor=system, app=App(key="crm", label="CRM"))
        create_form(conn=conn, actor=system, form=CONTRACT)
        ids = {
            name: create_user(
                conn=conn,
                email=f"{name}@bench.test",
                name=name,
                password=None,
                passwords=workspace.passwords,
                is_admin=True,
            )
            for name in ("sales", "legal", "finance", "vp", "cfo")
        }

        def node(node_id: str, *names: str) -> dict[str, object]:
            users = [ids[n] for n in names]
            approvers = [{"type": "user", "ids": users}]
            return {"id": node_id, "type": "approver", "mode": "all", "approvers": approvers}

        flow = {
            "key": "contract_approval",
            "form": "contract",
            "label": "合同审批",
            "definition": {
                "nodes": [node("first", "legal", "finance"), node("second", "vp", "cfo")]
            },
        }
        definitions.save_flow(conn, system, flow)
    return {name: Actor(user_id=i, is_admin=True, name=name) for name, i in ids.items()}


def steps(workspace: Workspace, people: dict[str, Actor], count: int) -> None:
    records = []
    with workspace.transaction() as conn:
        for n in range(count * 2):
            made = service.create_record(
                conn=conn,
                actor=people["sales"],
                form=CONTRACT,
                values={"name": f"C{n}", "amount": "1"},
            )
            records.append(made["id"])
    to_step = []
    for record_id in records[:count]:
        with workspace.transaction() as conn:
            found = operations.submit(
                conn=conn, actor=people["sales"], flow_key="contract_approval", record_id=record_id
            )
            legal = next(
                t["id"] for t in found["tasks"] if t["assignee_id"] == people["legal"].user_id
            )
            operations.approve(conn=conn, actor=people["legal"], task_id=legal)
            finance = next(
                t["id"] for t in found["tasks"] if t["assignee_id"] == people["finance"].user_id
            )
        to_step.append(finance)
    step_times, update_times = [], []
    for finance_task, plain in zip(to_step, records[count:], strict=True):
        started = time.perf_counter()
        with workspace.transaction() as conn:
            operations.approve(conn=conn, actor=people["finance"], task_id=finance_task)
        step_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        with workspace.transaction() as conn:
            service.update_record(
                conn=conn,
                actor=people["sales"],
                form=CONTRACT,
                record_id=plain,
                values={"amount": "2"},
            )
        update_times.append(time.perf_counter() - started)
    step, update = statistics.median(step_times), statistics.median(update_times)
    print(f"approval step (node passes, next node's 2 tasks, notifications): {step * 1000:.2f} ms")
    print(f"plain single-field update:                                      {update * 1000:.2f} ms")
    print(f"ratio: {step / update:.2f}× (bar: at most 3×)")


def big_inbox(workspace: Workspace, people: dict[str, Actor], count: int, runs: int) -> None:
    user = people["cfo"].user_id
    with workspace.transaction() as conn:
        now = utcnow(conn)
        insert_many(
            conn,
            approvals,
            [
                {
                    "flow_key": "contract_approval",
                    "flow_version": 1,
                    "form_key": "contract",
                    "record_id": n + 1,
                    "submitter_id": people["sales"].user_id,
                    "state": "running",
                    "round": 1,
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(count)
            ],
        )
        approval_ids = [
            row.id
            for row in conn.execute(
                approvals.select()
                .with_only_columns(approvals.c.id)
                .order_by(approvals.c.id.desc())
                .limit(count)
            )
        ]
        insert_many(
            conn,
            approval_nodes,
            [
                {
                    "approval_id": a,
                    "round": 1,
                    "node_id": "second",
                    "mode": "all",
                    "state": "active",
                    "created_at": now,
                }
                for a in approval_ids
            ],
        )
        insert_many(
            conn,
            approval_tasks,
            [
                {
                    "approval_id": a,
                    "kind": "approve",
                    "assignee_id": user,
                    "state": "pending",
                    "created_at": now,
                }
                for a in approval_ids
            ],
        )
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        with workspace.read() as conn:
            page = inbox.inbox(conn, people["cfo"], box="pending")
        times.append(time.perf_counter() - started)
    assert page["counts"]["pending"] >= count, page["counts"]
    print(
        f"inbox of a user with {page['counts']['pending']:,} open tasks (first page + 4 counts):"
        f" {statistics.median(times) * 1000:.2f} ms (bar: under 20 ms on SQLite)"
    )


DEAL = Form(
    key="deal",
    app_key="crm",
    label="商机",
    title_field="name",
    fields=(
        Field(key="name", label="名称", type="text"),
        Field(key="amount", label="金额", type="money"),
        Field(
            key="stage",
            label="阶段",
            type="select",
            options=(
                SelectOption(value="lead", label="线索"),
                SelectOption(value="review", label="评审"),
                SelectOption(value="plain", label="跟进"),
            ),
        ),
    ),
)


def _bulk_setup(workspace: Workspace, people: dict[str, Actor]) -> list[int]:
    system = Actor.system()
    with workspace.transaction() as conn:
        create_form(conn=conn, actor=system, form=DEAL)
        reviewers = [
            create_user(
                conn=conn,
                email=f"reviewer{n}@bench.test",
                name=f"reviewer{n}",
                password=None,
                passwords=workspace.passwords,
            )
            for n in (1, 2)
        ]
        vp = people["vp"].user_id
        definitions.save_flow(
            conn,
            system,
            {
                "key": "deal_approval",
                "form": "deal",
                "label": "商机评审",
                "definition": {
                    "nodes": [
                        {
                            "id": "big",
                            "type": "condition",
                            "branches": [
                                {
                                    "condition": "amount > 100000",
                                    "nodes": [
                                        {
                                            "id": "vp",
                                            "type": "approver",
                                            "approvers": [{"type": "user", "ids": [vp]}],
                                        }
                                    ],
                                },
                                {"nodes": []},
                            ],
                        },
                        {
                            "id": "review",
                            "type": "approver",
                            "mode": "all",
                            "approvers": [{"type": "user", "ids": reviewers}],
                        },
                    ]
                },
            },
        )
        save_pipeline(
            conn,
            actor=system,
            form=DEAL,
            document={
                "key": "deals",
                "label": "商机",
                "stage_field": "stage",
                "stages": [
                    {
                        "key": "lead",
                        "label": "线索",
                        "category": "open",
                        "forward_to": ["review", "plain"],
                    },
                    {
                        "key": "review",
                        "label": "评审",
                        "category": "open",
                        "entry": [{"kind": "start_approval", "config": {"flow": "deal_approval"}}],
                    },
                    {"key": "plain", "label": "跟进", "category": "open"},
                ],
            },
        )
    return reviewers


def _deals(workspace: Workspace, actor: Actor, count: int) -> list[int]:
    with workspace.transaction() as conn:
        return bulk.create_records(
            conn=conn,
            actor=actor,
            form=DEAL,
            items=[{"name": f"D{i}", "amount": "50000.00", "stage": "lead"} for i in range(count)],
        )


def _timed(work) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


RAW_START = (
    "INSERT INTO sys_approval (flow_key, flow_version, form_key, record_id, submitter_id,"
    " state, round, created_at, updated_at)"
    " SELECT 'deal_approval', 1, 'deal', id, :who, 'running', 1, :now, :now"
    " FROM data_deal WHERE id >= :low AND id <= :high",
    "INSERT INTO sys_approval_node (approval_id, round, node_id, mode, state, created_at)"
    " SELECT id, 1, 'review', 'all', 'active', :now FROM sys_approval"
    " WHERE form_key = 'deal' AND record_id >= :low AND record_id <= :high",
    "INSERT INTO sys_approval_task (approval_id, node_row_id, kind, assignee_id, state,"
    " created_at) SELECT n.approval_id, n.id, 'approve', u.id, 'pending', :now"
    " FROM sys_approval_node n JOIN sys_approval a ON a.id = n.approval_id"
    " CROSS JOIN sys_user u WHERE a.form_key = 'deal' AND a.record_id >= :low"
    " AND a.record_id <= :high AND u.id IN (:r1, :r2)",
)


def bulk_start(workspace: Workspace, people: dict[str, Actor], count: int, runs: int) -> None:
    reviewers = _bulk_setup(workspace, people)
    mover = people["sales"]
    figures: dict[str, list[tuple[float, float]]] = {"start": [], "plain": [], "raw": []}
    form = DEAL
    for _ in range(runs):
        for kind in ("start", "plain", "raw"):
            ids = _deals(workspace, mover, count)

            def work(kind: str = kind, ids: list[int] = ids) -> None:
                with workspace.transaction() as conn:
                    if kind == "raw":
                        params = {
                            "who": mover.user_id,
                            "now": utcnow(conn),
                            "low": min(ids),
                            "high": max(ids),
                            "r1": reviewers[0],
                            "r2": reviewers[1],
                        }
                        for statement in RAW_START:
                            conn.execute(sa.text(statement), params)
                        return
                    bulk.update_records(
                        conn=conn,
                        actor=mover,
                        form=form,
                        record_ids=ids,
                        values={"stage": "review" if kind == "start" else "plain"},
                    )

            figures[kind].append(_timed(work))
    with workspace.engine.connect() as conn:
        tasks = conn.scalar(sa.text("SELECT count(*) FROM sys_approval_task"))
    for kind, label in (
        ("start", f"bulk move of {count:,} into a stage starting a flow"),
        ("plain", f"bulk move of {count:,} into a stage starting nothing"),
        ("raw", f"raw SQL: {count:,} approvals + nodes + 2 tasks each"),
    ):
        wall = statistics.median(w for w, _ in figures[kind])
        cpu = statistics.median(c for _, c in figures[kind])
        print(f"{label}: {wall * 1000:.0f} ms wall, {cpu * 1000:.0f} ms CPU (this process)")
    print(f"  ({tasks:,} approval tasks in the database after {runs} runs of each)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--open", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--postgres", default="")
    parser.add_argument("--bulk", type=int, default=1000)
    parser.add_argument("--bulk-runs", type=int, default=3)
    parser.add_argument("--only-bulk", action="store_true")
    args = parser.parse_args()
    with database_url(args.postgres) as url:
        settings = Settings(
            data_dir=Path(tempfile.mkdtemp(prefix="meridian-bench-")), database_url=url
        )
        workspace = create_workspace(settings)
        print(f"[{workspace.engine.dialect.name}]")
        people = _setup(workspace)
        if not args.only_bulk:
            steps(workspace, people, args.steps)
            big_inbox(workspace, people, args.open, args.runs)
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        bulk_start(workspace, people, args.bulk, args.bulk_runs)
        workspace.engine.dispose()


if __name__ == "__main__":
    main()
