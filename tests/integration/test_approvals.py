"""The approval engine: flows checked on save, every operation, branches, outcomes, events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from meridian.core.clock import utcnow
from meridian.db.tables import approval_tasks, jobs, outbox
from meridian.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from meridian.flows.approvals import inbox, operations
from meridian.flows.approvals.definitions import list_flows
from meridian.http.deps import Workspace
from meridian.records.reads import get_record
from meridian.rules import definitions as rules
from tests.approvals_support import CONTRACT, Company, approver, build_company, user
from tests.conftest import KeptDatabase, an_admin, kept_fixtures


def _build(workspace: Workspace) -> Company:
    return build_company(workspace, an_admin(workspace))


# The company is built once per dialect and test process and put back before each test
# (the tests save flows, submit, approve and reject).
kept, workspace = kept_fixtures(_build)


@pytest.fixture
def company(kept: KeptDatabase[Company], workspace: Workspace) -> Company:
    return kept.built


def _submit(company: Company, flow: str, record_id: int, who: str = "sales") -> dict[str, Any]:
    with company.workspace.transaction() as conn:
        return operations.submit(conn=conn, actor=company[who], flow_key=flow, record_id=record_id)


def _pending(approval: dict[str, Any], company: Company, name: str) -> int:
    [task] = [
        t["id"]
        for t in approval["tasks"]
        if t["assignee_id"] == company.id(name) and t["state"] == "pending"
    ]
    return int(task)


def _act(
    company: Company, name: str, operation: str, approval: dict[str, Any], **kw: Any
) -> dict[str, Any]:
    task_id = _pending(approval, company, name)
    with company.workspace.transaction() as conn:
        result: dict[str, Any] = getattr(operations, operation)(
            conn=conn, actor=company[name], task_id=task_id, **kw
        )
        return result


def _finished_events(company: Company, approval_id: int) -> list[dict[str, Any]]:
    with company.workspace.read() as conn:
        rows = conn.execute(
            sa.select(outbox.c.payload).where(outbox.c.event_type == "ApprovalFinished")
        ).scalars()
        return [p for p in rows if p["approval_id"] == approval_id]


# ---- definitions -----------------------------------------------------------------------------


def test_a_condition_without_a_default_branch_is_refused_as_a_dead_end(company: Company) -> None:
    nodes = [
        {
            "id": "by_amount",
            "type": "condition",
            "branches": [
                {"condition": "amount > 100000", "nodes": [approver("vp", company, "vp")]},
                {"condition": "amount <= 100000", "nodes": []},
            ],
        }
    ]
    with pytest.raises(ValidationFailed) as refused:
        company.flow("contract_approval", nodes)
    [error] = refused.value.errors
    assert (error.field, error.code) == ("definition.nodes.0.branches.1.condition", "dead_end")


def test_a_flow_names_every_problem_at_once(company: Company) -> None:
    nodes: list[dict[str, Any]] = [
        {"id": "a", "type": "approver", "mode": "most", "approvers": []},
        {"id": "a", "type": "cc", "approvers": [{"type": "role"}]},
        {"id": "c", "type": "condition", "branches": [{"condition": "amount >", "nodes": []}, {}]},
        {
            "id": "d",
            "type": "approver",
            "mode": "percentage",
            "percentage": 120,
            "approvers": [{"type": "field", "field": "name"}],
            "editable_fields": ["nope"],
        },
    ]
    with pytest.raises(ValidationFailed) as refused:
        company.flow("broken", nodes)
    found = {(e.field, e.code) for e in refused.value.errors}
    assert found == {
        ("definition.nodes.0.mode", "invalid_mode"),
        ("definition.nodes.0.approvers", "no_approvers"),
        ("definition.nodes.1.id", "duplicate_id"),
        ("definition.nodes.1.approvers.0.role", "invalid_role"),
        ("definition.nodes.2.branches.0.condition", "invalid_expression"),
        ("definition.nodes.3.percentage", "invalid_percentage"),
        ("definition.nodes.3.approvers.0.field", "invalid_field"),
        ("definition.nodes.3.editable_fields", "unknown_field"),
    }


def test_saving_again_adds_a_version_and_a_running_approval_keeps_its_own(company: Company) -> None:
    first = company.flow("contract_approval", [approver("legal", company, "legal")])
    record_id = company.contract()
    approval = _submit(company, "contract_approval", record_id)
    second = company.flow("contract_approval", [approver("finance", company, "finance")])
    assert (first["version"], second["version"]) == (1, 2)
    assert approval["flow_version"] == 1
    done = _act(company, "legal", "approve", approval)
    assert done["state"] == "approved"
    with company.workspace.read() as conn:
        listed = operations.describe(conn, approval["id"])

        [flow] = list_flows(conn)
    assert listed["flow_version"] == 1
    assert flow["versions"] == [1, 2]


# ---- modes -----------------------------------------------------------------------------------


def test_all_mode_needs_every_approver_and_announces_one_outcome(company: Company) -> None:
    company.flow("contract_approval", [approver("review", company, "legal", "finance", mode="all")])
    approval = _submit(company, "contract_approval", company.contract())
    after_legal = _act(company, "legal", "approve", approval)
    assert after_legal["state"] == "running"
    done = _act(company, "finance", "approve", after_legal, comment="付款条件可接受")
    assert done["state"] == "approved"
    [event] = _finished_events(company, approval["id"])
    assert event["outcome"] == "approved" and event["flow"] == "contract_approval"


def test_any_mode_passes_on_the_first_approval_and_cancels_the_rest(company: Company) -> None:
    company.flow("contract_approval", [approver("review", company, "legal", "finance", mode="any")])
    approval = _submit(company, "contract_approval", company.contract())
    done = _act(company, "finance", "approve", approval)
    assert done["state"] == "approved"
    states = {t["assignee_id"]: t["state"] for t in done["tasks"]}
    assert states == {company.id("finance"): "approved", company.id("legal"): "cancelled"}


def test_sequential_mode_asks_one_approver_after_the_other(company: Company) -> None:
    company.flow(
        "contract_approval",
        [approver("chain", company, "legal", "finance", "vp", mode="sequential")],
    )
    approval = _submit(company, "contract_approval", company.contract())
    assert [t["state"] for t in approval["tasks"]] == ["pending", "waiting", "waiting"]
    approval = _act(company, "legal", "approve", approval)
    approval = _act(company, "finance", "approve", approval)
    assert [t["state"] for t in approval["tasks"]] == ["approved", "approved", "pending"]
    assert _act(company, "vp", "approve", approval)["state"] == "approved"


def test_percentage_mode_passes_at_its_share_and_fails_once_out_of_reach(company: Company) -> None:
    vote = approver(
        "vote", company, "legal", "finance", "vp", "cfo", mode="percentage", percentage=50
    )
    company.flow("contract_approval", [vote])
    approval = _submit(company, "contract_approval", company.contract())
    approval = _act(company, "legal", "reject", approval)
    assert approval["state"] == "running"
    approval = _act(company, "finance", "approve", approval)
    assert approval["state"] == "running"
    assert _act(company, "vp", "approve", approval)["state"] == "approved"

    other = _submit(company, "contract_approval", company.contract())
    other = _act(company, "legal", "reject", other)
    other = _act(company, "finance", "reject", other)
    assert other["state"] == "running"
    assert _act(company, "vp", "reject", other)["state"] == "rejected"


# ---- approvers -------------------------------------------------------------------------------


def test_approvers_by_manager_chain_department_head_role_and_field(company: Company) -> None:
    nodes = [
        {"id": "manager", "type": "approver", "approvers": [{"type": "manager", "levels": 1}]},
        {
            "id": "director",
            "type": "approver",
            "approvers": [{"type": "department_head", "levels": 2}],
        },
        {"id": "owner_head", "type": "approver", "approvers": [{"type": "record_department_head"}]},
        {
            "id": "reviewer",
            "type": "approver",
            "approvers": [{"type": "field", "field": "reviewer"}],
        },
        {
            "id": "managers",
            "type": "approver",
            "mode": "any",
            "approvers": [{"type": "role", "role": "manager"}],
        },
    ]
    company.flow("contract_approval", nodes)
    approval = _submit(company, "contract_approval", company.contract(reviewer=company.id("cfo")))
    order = []
    for name in ("manager", "vp", "manager", "cfo", "vp"):
        order.append(name)
        approval = _act(company, name, "approve", approval)
    assert approval["state"] == "approved"
    assert [t["assignee_id"] for t in approval["tasks"]] == [company.id(n) for n in order]


# ---- branches --------------------------------------------------------------------------------


def _idc_flow(company: Company) -> None:
    company.flow(
        "contract_approval",
        [
            approver("manager", company, "manager"),
            {
                "id": "by_amount",
                "type": "condition",
                "branches": [
                    {"condition": "amount > 100000", "nodes": [approver("vp", company, "vp")]},
                    {"nodes": []},
                ],
            },
            {
                "id": "legal_and_finance",
                "type": "parallel",
                "branches": [
                    {"nodes": [approver("legal", company, "legal")]},
                    {
                        "nodes": [
                            approver("finance", company, "finance"),
                            {"id": "tell_cfo", "type": "cc", "approvers": [user(company, "cfo")]},
                        ]
                    },
                ],
            },
        ],
    )


def test_a_large_contract_goes_to_the_vp_then_legal_and_finance_in_parallel(
    company: Company,
) -> None:
    _idc_flow(company)
    approval = _submit(company, "contract_approval", company.contract("250000"))
    approval = _act(company, "manager", "approve", approval)
    approval = _act(company, "vp", "approve", approval)
    open_now = {t["node"] for t in approval["tasks"] if t["state"] == "pending"}
    assert open_now == {"legal", "finance"}
    approval = _act(company, "finance", "approve", approval)
    assert approval["state"] == "running"
    approval = _act(company, "legal", "approve", approval)
    assert approval["state"] == "approved"
    cc = [t for t in approval["tasks"] if t["kind"] == "cc"]
    assert [t["assignee_id"] for t in cc] == [company.id("cfo")]


def test_a_small_contract_skips_the_vp(company: Company) -> None:
    _idc_flow(company)
    approval = _submit(company, "contract_approval", company.contract("80000"))
    approval = _act(company, "manager", "approve", approval)
    assert {t["node"] for t in approval["tasks"] if t["state"] == "pending"} == {"legal", "finance"}


def test_a_rejection_in_one_parallel_branch_ends_the_other(company: Company) -> None:
    _idc_flow(company)
    approval = _submit(company, "contract_approval", company.contract("80000"))
    approval = _act(company, "manager", "approve", approval)
    approval = _act(company, "legal", "reject", approval, comment="违约条款不可接受")
    assert approval["state"] == "rejected"
    assert not [t for t in approval["tasks"] if t["state"] in ("pending", "waiting")]
    [event] = _finished_events(company, approval["id"])
    assert event["outcome"] == "rejected"


# ---- operations ------------------------------------------------------------------------------


def test_reject_to_previous_asks_the_node_before_again(company: Company) -> None:
    company.flow(
        "contract_approval",
        [
            approver("legal", company, "legal"),
            approver("finance", company, "finance", reject_to="previous"),
        ],
    )
    approval = _submit(company, "contract_approval", company.contract())
    approval = _act(company, "legal", "approve", approval)
    approval = _act(company, "finance", "reject", approval)
    assert approval["state"] == "running"
    assert [t["node"] for t in approval["tasks"] if t["state"] == "pending"] == ["legal"]


def test_return_for_edit_unlocks_and_resubmitting_starts_a_new_round(company: Company) -> None:
    company.flow("contract_approval", [approver("legal", company, "legal")])
    record_id = company.contract()
    approval = _submit(company, "contract_approval", record_id)
    approval = _act(company, "legal", "return_for_edit", approval, comment="请补充付款条款")
    assert approval["state"] == "returned"
    with company.workspace.read() as conn:
        assert operations.open_approval(conn, "contract", record_id) is None
    again = _submit(company, "contract_approval", record_id)
    assert (again["id"], again["state"], again["round"]) == (approval["id"], "running", 2)
    assert _act(company, "legal", "approve", again)["state"] == "approved"


def test_recall_works_only_while_nobody_has_acted(company: Company) -> None:
    company.flow("contract_approval", [approver("review", company, "legal", "finance", mode="all")])
    approval = _submit(company, "contract_approval", company.contract())
    with company.workspace.transaction() as conn, pytest.raises(PermissionDenied):
        operations.recall(conn=conn, actor=company["legal"], approval_id=approval["id"])
    recalled = None
    with company.workspace.transaction() as conn:
        recalled = operations.recall(conn=conn, actor=company["sales"], approval_id=approval["id"])
    assert recalled["state"] == "withdrawn"
    assert not [t for t in recalled["tasks"] if t["state"] in ("pending", "waiting")]

    second = _submit(company, "contract_approval", company.contract())
    _act(company, "legal", "approve", second)
    with company.workspace.transaction() as conn, pytest.raises(Conflict):
        operations.recall(conn=conn, actor=company["sales"], approval_id=second["id"])


def test_transfer_and_add_approver_before_and_after(company: Company) -> None:
    company.flow("contract_approval", [approver("legal", company, "legal")])
    approval = _submit(company, "contract_approval", company.contract())
    approval = _act(company, "legal", "transfer", approval, user_id=company.id("clerk"))
    approval = _act(
        company, "clerk", "add_approver", approval, user_id=company.id("cfo"), position="before"
    )
    assert {t["assignee_id"]: t["state"] for t in approval["tasks"]}[
        company.id("clerk")
    ] == "waiting"
    approval = _act(company, "cfo", "approve", approval)
    approval = _act(
        company, "clerk", "add_approver", approval, user_id=company.id("vp"), position="after"
    )
    approval = _act(company, "clerk", "approve", approval)
    assert approval["state"] == "running"
    approval = _act(company, "vp", "approve", approval)
    assert approval["state"] == "approved"
    actions = [a["action"] for a in approval["trail"]]
    assert actions == [
        "submit",
        "transfer",
        "add_approver",
        "approve",
        "add_approver",
        "approve",
        "approve",
        "finished",
    ]


def test_only_the_assignee_acts_and_never_twice(company: Company) -> None:
    company.flow(
        "contract_approval", [approver("legal", company, "legal"), approver("vp", company, "vp")]
    )
    approval = _submit(company, "contract_approval", company.contract())
    task_id = _pending(approval, company, "legal")
    with company.workspace.transaction() as conn, pytest.raises(PermissionDenied):
        operations.approve(conn=conn, actor=company["finance"], task_id=task_id)
    _act(company, "legal", "approve", approval)
    with company.workspace.transaction() as conn, pytest.raises(Conflict):
        operations.approve(conn=conn, actor=company["legal"], task_id=task_id)


def test_a_record_in_approval_cannot_be_submitted_twice(company: Company) -> None:
    company.flow("contract_approval", [approver("legal", company, "legal")])
    record_id = company.contract()
    _submit(company, "contract_approval", record_id)
    with pytest.raises(Conflict):
        _submit(company, "contract_approval", record_id)


def test_only_who_may_change_the_record_submits_it(company: Company) -> None:
    company.flow("contract_approval", [approver("legal", company, "legal")])
    record_id = company.contract()
    with pytest.raises(NotFound):  # legal cannot even read it
        _submit(company, "contract_approval", record_id, who="legal")
    with pytest.raises(PermissionDenied):  # the manager reads it, but only its owner edits it
        _submit(company, "contract_approval", record_id, who="manager")


def test_approver_editable_fields_are_written_with_the_approval(company: Company) -> None:
    company.flow(
        "contract_approval", [approver("legal", company, "legal", editable_fields=["note"])]
    )
    record_id = company.contract()
    approval = _submit(company, "contract_approval", record_id)
    with pytest.raises(ValidationFailed) as refused:
        _act(company, "legal", "approve", approval, values={"amount": "1"})
    assert refused.value.errors[0].code == "not_editable"
    _act(company, "legal", "approve", approval, values={"note": "同意，按标准条款"})
    with company.workspace.read() as conn:
        record = get_record(conn=conn, actor=company.admin, form=CONTRACT, record_id=record_id)
    assert record["note"] == "同意，按标准条款"


def test_a_delegate_gets_the_tasks_of_someone_away(company: Company, workspace: Workspace) -> None:

    company.flow("contract_approval", [approver("legal", company, "legal")])
    with workspace.transaction() as conn:
        operations.set_delegation(
            conn=conn,
            actor=company["legal"],
            delegate_id=company.id("clerk"),
            ends_at=utcnow(conn) + timedelta(days=3),
        )
    approval = _submit(company, "contract_approval", company.contract())
    [task] = approval["tasks"]
    assert (task["assignee_id"], task["delegated_from"]) == (
        company.id("clerk"),
        company.id("legal"),
    )


def test_action_nodes_update_the_record_call_a_webhook_and_notify(company: Company) -> None:
    company.flow(
        "contract_approval",
        [
            approver("legal", company, "legal"),
            {"id": "mark", "type": "action", "action": "update", "values": {"note": "已审批"}},
            {"id": "oa", "type": "action", "action": "webhook", "url": "http://127.0.0.1:9/oa"},
            {
                "id": "tell",
                "type": "action",
                "action": "notify",
                "approvers": [user(company, "cfo")],
                "message": "合同已审批",
            },
        ],
    )
    approval = _submit(company, "contract_approval", company.contract())
    assert _act(company, "legal", "approve", approval)["state"] == "approved"
    with company.workspace.read() as conn:
        calls = (
            conn.execute(sa.select(jobs.c.payload).where(jobs.c.kind == "rules.call"))
            .scalars()
            .all()
        )
    assert [c["body"]["node"] for c in calls] == ["oa"]


def test_the_inbox_counts_every_box(company: Company) -> None:
    company.flow(
        "contract_approval",
        [
            approver("legal", company, "legal"),
            {"id": "tell", "type": "cc", "approvers": [user(company, "legal")]},
        ],
    )
    first = _submit(company, "contract_approval", company.contract())
    _submit(company, "contract_approval", company.contract())
    _act(company, "legal", "approve", first)
    with company.workspace.read() as conn:
        legal = inbox.inbox(conn, company["legal"], box="pending")
        sales = inbox.inbox(conn, company["sales"], box="submitted")
    assert legal["counts"] == {"pending": 1, "done": 1, "submitted": 0, "cc": 1}
    assert [i["flow_label"] for i in legal["items"]] == ["合同审批"]
    assert sales["counts"]["submitted"] == 2 and len(sales["items"]) == 2


def test_an_approval_finished_rule_fires_on_the_outcome(
    company: Company, workspace: Workspace
) -> None:

    with workspace.transaction() as conn:
        rules.create_rule(
            conn,
            company.admin,
            {
                "form_key": "contract",
                "label": "审批通过后标记",
                "trigger": {"type": "approval_finished", "outcome": "approved"},
                "actions": [{"type": "update", "values": {"note": "可签约"}}],
            },
        )
    company.flow("contract_approval", [approver("legal", company, "legal")])
    approval = _submit(company, "contract_approval", company.contract())
    _act(company, "legal", "approve", approval)
    with workspace.read() as conn:
        queued = (
            conn.execute(sa.select(jobs.c.payload).where(jobs.c.kind == "rules.run"))
            .scalars()
            .all()
        )
    assert [(q["trigger"], q["record_id"]) for q in queued] == [
        ("approval_finished", approval["record_id"])
    ]


def test_a_flow_of_only_an_empty_approver_node_passes_and_logs_why(company: Company) -> None:
    company.flow(
        "contract_approval",
        [{"id": "nobody", "type": "approver", "approvers": [{"type": "role", "role": "auditor"}]}],
    )
    approval = _submit(company, "contract_approval", company.contract())
    assert approval["state"] == "approved"
    assert approval["trail"][1]["action"] == "auto_approved"
    with company.workspace.read() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(approval_tasks)) == 0
