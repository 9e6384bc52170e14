"""A stage that starts an approval on entry: moved over the API, the record is in approval in
the mover's (or the owner's) name, the lock holds it, and once approved the next stage's gate
requiring the approval lets it on. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from meridian.access.tokens import create_token
from meridian.app import create_app
from meridian.core.actor import Actor
from meridian.http.deps import Workspace
from meridian.records import bulk
from meridian.records.guards import WriteRefused
from meridian.schema.catalog import get_form
from meridian.settings import Settings
from tests.approvals_support import Company, approver, build_company


@pytest.fixture
def company(workspace: Workspace, admin: Actor) -> Company:
    company = build_company(workspace, admin)
    company.flow("contract_approval", [approver("finance", company, "finance")])
    return company


@pytest.fixture
def as_user(
    company: Company, workspace: Workspace, settings: Settings
) -> Iterator[dict[str, TestClient]]:
    app = create_app(settings, workspace=workspace)
    with workspace.transaction() as conn:
        tokens = {
            name: create_token(conn=conn, user_id=company.id(name), name="tests")
            for name in ("sales", "finance", "manager")
        }
        tokens["admin"] = create_token(conn=conn, user_id=company.admin.user_id or 0, name="t")
    yield {
        name: TestClient(app, headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"})
        for name, token in tokens.items()
    }


def _pipeline(submitter: str = "mover") -> dict[str, Any]:
    return {
        "key": "contracting",
        "label": "签约流程",
        "stage_field": "stage",
        "stages": [
            {
                "key": "negotiation",
                "label": "谈判",
                "category": "open",
                "entry": [
                    {
                        "kind": "start_approval",
                        "config": {"flow": "contract_approval", "submitter": submitter},
                    }
                ],
            },
            {
                "key": "signed",
                "label": "签约",
                "category": "won",
                "entry": [{"kind": "approval", "config": {"flow": "contract_approval"}}],
            },
        ],
    }


def _move(client: TestClient, record_id: int, stage: str) -> Any:
    return client.patch(f"/api/v1/forms/contract/records/{record_id}", json={"stage": stage})


def _approvals(client: TestClient, record_id: int) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/forms/contract/records/{record_id}/approvals")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_entering_the_stage_starts_the_flow_and_the_gate_waits_for_it(
    company: Company, as_user: dict[str, TestClient]
) -> None:
    admin, sales, finance = as_user["admin"], as_user["sales"], as_user["finance"]
    saved = admin.put("/api/v1/forms/contract/pipelines/contracting", json=_pipeline())
    assert saved.status_code == 200, saved.text
    record_id = company.contract("300000")
    assert _approvals(sales, record_id) == []

    assert _move(sales, record_id, "negotiation").status_code == 200
    (started,) = _approvals(sales, record_id)
    assert started["state"] == "running"
    assert started["flow"] == "contract_approval"
    assert started["submitter_id"] == company.id("sales")

    # In approval: the record is locked, so it cannot move on; the gate would refuse anyway.
    refused = _move(sales, record_id, "signed")
    assert refused.status_code == 422
    inbox = finance.get("/api/v1/approvals/inbox").json()
    (task,) = [t for t in inbox["items"] if t["record_id"] == record_id]
    approved = finance.post(f"/api/v1/approvals/tasks/{task['task_id']}/approve", json={})
    assert approved.status_code == 200, approved.text
    assert _approvals(sales, record_id)[0]["state"] == "approved"

    moved = _move(sales, record_id, "signed")
    assert moved.status_code == 200, moved.text
    assert moved.json()["stage"] == "signed"


def test_a_record_entering_without_the_approval_is_held_at_the_next_gate(
    company: Company, as_user: dict[str, TestClient]
) -> None:
    admin, sales = as_user["admin"], as_user["sales"]
    admin.put("/api/v1/forms/contract/pipelines/contracting", json=_pipeline())
    record_id = company.contract("300000")
    refused = _move(sales, record_id, "signed")
    assert refused.status_code == 422
    assert refused.json()["code"] == "stage_gate"
    assert "contract" in refused.text or "合同审批" in refused.text
    assert _approvals(sales, record_id) == []


def test_the_owner_submits_when_the_stage_says_so(
    company: Company, as_user: dict[str, TestClient]
) -> None:
    admin = as_user["admin"]
    admin.put("/api/v1/forms/contract/pipelines/contracting", json=_pipeline("owner"))
    record_id = company.contract("300000")
    assert _move(admin, record_id, "negotiation").status_code == 200
    (started,) = _approvals(admin, record_id)
    assert started["submitter_id"] == company.id("sales")


def test_entering_again_while_it_runs_starts_nothing_more(
    company: Company, as_user: dict[str, TestClient], workspace: Workspace
) -> None:
    admin = as_user["admin"]
    admin.put("/api/v1/forms/contract/pipelines/contracting", json=_pipeline())
    first = company.contract("300000", stage="negotiation")
    second = company.contract("300000")
    assert [a["state"] for a in _approvals(admin, first)] == ["running"]
    # A bulk move of two records, one already in approval: the lock refuses the whole batch,
    # so neither starts anything more.
    with pytest.raises(WriteRefused), workspace.transaction() as conn:
        bulk.update_records(
            conn=conn,
            actor=company.admin,
            form=get_form(conn, "contract"),
            record_ids=[first, second],
            values={"stage": "negotiation", "note": "x"},
        )
    assert _approvals(admin, second) == []
    assert len(_approvals(admin, first)) == 1
    # Alone, the second one moves and starts its own.
    assert _move(admin, second, "negotiation").status_code == 200
    assert [a["state"] for a in _approvals(admin, second)] == ["running"]


def test_a_stage_naming_an_unknown_flow_is_refused_naming_it(
    company: Company, as_user: dict[str, TestClient]
) -> None:
    document = _pipeline()
    document["stages"][0]["entry"][0]["config"] = {"flow": "nope", "submitter": "boss"}
    refused = as_user["admin"].put("/api/v1/forms/contract/pipelines/contracting", json=document)
    assert refused.status_code == 422
    fields = {e["field"]: e["value"] for e in refused.json()["errors"]}
    assert fields == {
        "stages.0.entry.0.config.flow": "nope",
        "stages.0.entry.0.config.submitter": "boss",
    }
