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
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from scratch import database_url

from meridian.access.users import create_user
from meridian.app import create_workspace
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.db.bulk import insert_many
from meridian.db.tables import approval_nodes, approval_tasks, approvals
from meridian.flows.approvals import definitions, inbox, operations
from meridian.http.deps import Workspace
from meridian.records import service
from meridian.schema.changes import create_app, create_form
from meridian.schema.model import App, Field, Form
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--open", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--postgres", default="")
    args = parser.parse_args()
    with database_url(args.postgres) as url:
        settings = Settings(
            data_dir=Path(tempfile.mkdtemp(prefix="meridian-bench-")), database_url=url
        )
        workspace = create_workspace(settings)
        print(f"[{workspace.engine.dialect.name}]")
        people = _setup(workspace)
        steps(workspace, people, args.steps)
        big_inbox(workspace, people, args.open, args.runs)
        workspace.engine.dispose()


if __name__ == "__main__":
    main()
