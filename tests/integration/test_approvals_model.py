"""Random sequences of submit / approve / reject / return / recall / resubmit / transfer /
加签 against the engine, with a model of which acts must be accepted and what state they
leave, and the issue's invariants checked after every step:

- exactly one active node per branch (sequence) of a running approval;
- no task is acted on twice;
- every finished approval has exactly one outcome (one ``ApprovalFinished`` in the outbox),
  and a running or returned one none;
- the record is locked exactly while its approval runs, and unlocks at the end;
- an approval that is not running (recalled, returned, finished) leaves no open task, and a
  running one always has one (nothing is stuck).
"""

from __future__ import annotations

import random
from collections import Counter

import pytest
import sqlalchemy as sa

from meridian.core.actor import Actor
from meridian.db.tables import approval_acts, approval_nodes, approval_tasks, approvals, outbox
from meridian.errors import MeridianError
from meridian.flows.approvals import operations
from meridian.flows.approvals.definitions import FlowTree, get_flow
from meridian.http.deps import Workspace
from tests.approvals_support import PEOPLE, Company, approver, build_company

STEPS = 150
DECISIONS = ("approve", "reject", "return", "transfer", "add_before", "add_after")
WEIGHTS = (12, 2, 1, 1, 1, 1)


@pytest.fixture
def company(workspace: Workspace, admin: Actor) -> Company:
    company = build_company(workspace, admin)
    company.flow(
        "chain",
        [
            approver("first", company, "legal", "finance", mode="any"),
            approver("second", company, "vp", "cfo", mode="all", reject_to="previous"),
            approver(
                "third", company, "clerk", "manager", mode="sequential", reject_to="submitter"
            ),
        ],
    )
    company.flow(
        "split",
        [
            {
                "id": "by_amount",
                "type": "condition",
                "branches": [
                    {"condition": "amount > 100000", "nodes": [approver("big", company, "vp")]},
                    {"nodes": []},
                ],
            },
            {
                "id": "both",
                "type": "parallel",
                "branches": [
                    {
                        "nodes": [
                            approver(
                                "legal", company, "legal", "clerk", mode="percentage", percentage=50
                            )
                        ]
                    },
                    {"nodes": [approver("finance", company, "finance", "cfo", mode="sequential")]},
                ],
            },
        ],
    )
    return company


class Model:
    """What must hold of each approval, kept beside the engine."""

    def __init__(self) -> None:
        self.state: dict[int, str] = {}
        self.acted_this_round: dict[int, bool] = {}


@pytest.mark.long
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_operation_sequences_keep_the_invariants(company: Company, seed: int) -> None:
    rng = random.Random(seed)
    model = Model()
    accepted = Counter[str]()
    for _ in range(STEPS):
        operation = _step(company, model, rng)
        accepted[operation] += 1
        _check_invariants(company, model)
    assert accepted["approve"] and accepted["submit"] and len(accepted) >= 6, accepted
    outcomes = set(model.state.values())
    assert "approved" in outcomes and outcomes & {"rejected", "withdrawn"}, outcomes


def _step(company: Company, model: Model, rng: random.Random) -> str:
    workspace = company.workspace
    roll = rng.random()
    running = [a for a, s in model.state.items() if s == "running"]
    returned = [a for a, s in model.state.items() if s == "returned"]
    if roll < 0.15 or not (running or returned):
        amount = rng.choice(["50000", "150000"])
        record_id = company.contract(amount)
        flow = rng.choice(["chain", "split"])
        with workspace.transaction() as conn:
            found = operations.submit(
                conn=conn, actor=company["sales"], flow_key=flow, record_id=record_id
            )
        model.state[found["id"]] = found["state"]
        model.acted_this_round[found["id"]] = False
        return "submit"
    if roll < 0.22 and (running or returned):
        approval_id = rng.choice(running + returned)
        must_pass = (
            model.state[approval_id] == "returned" or not model.acted_this_round[approval_id]
        )
        who = "sales" if rng.random() < 0.9 else "legal"
        try:
            with workspace.transaction() as conn:
                found = operations.recall(conn=conn, actor=company[who], approval_id=approval_id)
        except MeridianError:
            assert not (must_pass and who == "sales"), "a recall that should pass was refused"
            return "recall_refused"
        assert must_pass and who == "sales", "a recall that should be refused passed"
        assert found["state"] == "withdrawn"
        model.state[approval_id] = "withdrawn"
        return "recall"
    if roll < 0.28 and returned:
        approval_id = rng.choice(returned)
        with workspace.transaction() as conn:
            found = operations.resubmit(conn=conn, actor=company["sales"], approval_id=approval_id)
        model.state[approval_id] = found["state"]
        model.acted_this_round[approval_id] = False
        return "resubmit"
    if not running:
        return "nothing"
    approval_id = rng.choice(running)
    with workspace.read() as conn:
        pending = conn.execute(
            sa.select(approval_tasks.c.id, approval_tasks.c.assignee_id).where(
                approval_tasks.c.approval_id == approval_id, approval_tasks.c.state == "pending"
            )
        ).all()
    task_id, assignee = rng.choice(pending)
    name = next(n for n in PEOPLE if company.id(n) == assignee)
    if rng.random() < 0.08:
        stranger = next(n for n in PEOPLE if company.id(n) != assignee)
        with workspace.transaction() as conn, pytest.raises(MeridianError):
            operations.approve(conn=conn, actor=company[stranger], task_id=task_id)
        return "stranger_refused"
    [decision] = rng.choices(DECISIONS, weights=WEIGHTS)
    others = [n for n in PEOPLE if n != name and n != "sales"]
    with workspace.transaction() as conn:
        actor = company[name]
        if decision == "approve":
            found = operations.approve(conn=conn, actor=actor, task_id=task_id)
        elif decision == "reject":
            to = rng.choice([None, "end", "submitter", "previous"])
            found = operations.reject(conn=conn, actor=actor, task_id=task_id, to=to)
        elif decision == "return":
            found = operations.return_for_edit(conn=conn, actor=actor, task_id=task_id)
        elif decision == "transfer":
            found = operations.transfer(
                conn=conn, actor=actor, task_id=task_id, user_id=company.id(rng.choice(others))
            )
        else:
            found = operations.add_approver(
                conn=conn,
                actor=actor,
                task_id=task_id,
                user_id=company.id(rng.choice(others)),
                position=decision.removeprefix("add_"),
            )
    model.acted_this_round[approval_id] = True
    if decision == "return":
        assert found["state"] == "returned"
    if decision in ("transfer", "add_before", "add_after"):
        assert found["state"] == "running"
    model.state[approval_id] = found["state"]
    return decision


def _check_invariants(company: Company, model: Model) -> None:
    with company.workspace.read() as conn:
        rows = conn.execute(sa.select(approvals)).all()
        assert {r.id: r.state for r in rows} == model.state
        open_tasks = Counter(
            conn.execute(
                sa.select(approval_tasks.c.approval_id).where(
                    approval_tasks.c.state.in_(("pending", "waiting"))
                )
            ).scalars()
        )
        finished = Counter(
            payload["approval_id"]
            for payload in conn.execute(
                sa.select(outbox.c.payload).where(outbox.c.event_type == "ApprovalFinished")
            ).scalars()
        )
        decided = Counter(
            conn.execute(
                sa.select(approval_acts.c.task_id).where(
                    approval_acts.c.action.in_(("approve", "reject", "return", "transfer"))
                )
            ).scalars()
        )
        assert not [task for task, n in decided.items() if n > 1], "a task was acted on twice"
        trees: dict[tuple[str, int], FlowTree] = {}
        for row in rows:
            if row.state == "running":
                assert open_tasks[row.id] > 0, f"approval {row.id} is running with nothing open"
            else:
                assert open_tasks[row.id] == 0, f"approval {row.id} ({row.state}) left open tasks"
            expected = 1 if row.state in ("approved", "rejected", "withdrawn") else 0
            assert finished[row.id] == expected, f"approval {row.id}: {finished[row.id]} outcomes"
            locked = operations.open_approval(conn, "contract", row.record_id)
            assert (locked is not None) == (row.state == "running")
            key = (row.flow_key, row.flow_version)
            trees.setdefault(key, FlowTree(get_flow(conn, *key)["definition"]))
            active = (
                conn.execute(
                    sa.select(approval_nodes.c.node_id).where(
                        approval_nodes.c.approval_id == row.id, approval_nodes.c.state == "active"
                    )
                )
                .scalars()
                .all()
            )
            if row.state != "running":
                assert not active
            places = [(trees[key].places[n].container, trees[key].places[n].branch) for n in active]
            assert len(places) == len(set(places)), f"two active nodes in one branch: {active}"
