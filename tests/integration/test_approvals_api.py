"""The approvals API: flows with versions, the inbox with counts, every act, in OpenAPI."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from meridian.access.tokens import create_token
from meridian.app import create_app
from meridian.core.actor import Actor
from meridian.http.deps import Workspace
from meridian.settings import Settings
from tests.approvals_support import Company, approver, build_company


@pytest.fixture
def company(workspace: Workspace, admin: Actor) -> Company:
    return build_company(workspace, admin)


@pytest.fixture
def as_user(
    company: Company, workspace: Workspace, settings: Settings
) -> Iterator[dict[str, TestClient]]:
    app = create_app(settings, workspace=workspace)
    clients: dict[str, TestClient] = {}
    with workspace.transaction() as conn:
        tokens = {
            name: create_token(conn=conn, user_id=company.id(name), name="tests")
            for name in ("sales", "legal", "finance", "vp")
        }
        tokens["admin"] = create_token(conn=conn, user_id=company.admin.user_id or 0, name="t")
    for name, token in tokens.items():
        clients[name] = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    yield clients


def _flow(company: Company) -> dict[str, Any]:
    return {
        "key": "contract_approval",
        "form": "contract",
        "label": "合同审批",
        "definition": {
            "nodes": [
                {
                    "id": "by_amount",
                    "type": "condition",
                    "branches": [
                        {"condition": "amount > 100000", "nodes": [approver("vp", company, "vp")]},
                        {"nodes": []},
                    ],
                },
                approver("review", company, "legal", "finance", mode="all"),
            ]
        },
    }


def test_a_contract_goes_through_the_api(company: Company, as_user: dict[str, TestClient]) -> None:
    admin, sales, legal, finance, vp = (
        as_user[n] for n in ("admin", "sales", "legal", "finance", "vp")
    )
    created = admin.post("/api/v1/approvals/flows", json=_flow(company))
    assert created.status_code == 201, created.text
    again = admin.post("/api/v1/approvals/flows", json=_flow(company))
    listed = sales.get("/api/v1/approvals/flows").json()["items"]
    assert [(f["key"], f["version"], f["versions"]) for f in listed] == [
        ("contract_approval", 2, [1, 2])
    ]
    assert again.json()["version"] == 2
    record_id = company.contract("150000")
    submitted = sales.post(
        "/api/v1/approvals", json={"flow": "contract_approval", "record_id": record_id}
    )
    assert submitted.status_code == 201, submitted.text
    box = vp.get("/api/v1/approvals/inbox").json()
    assert box["counts"]["pending"] == 1
    [item] = box["items"]
    approved = vp.post(
        f"/api/v1/approvals/tasks/{item['task_id']}/approve", json={"comment": "同意"}
    )
    assert approved.status_code == 200, approved.text
    legal_task = legal.get("/api/v1/approvals/inbox").json()["items"][0]["task_id"]
    finance_task = finance.get("/api/v1/approvals/inbox").json()["items"][0]["task_id"]
    refused = legal.post(f"/api/v1/approvals/tasks/{finance_task}/approve", json={})
    assert refused.status_code == 403
    bulk = legal.post("/api/v1/approvals/tasks/bulk-approve", json={"task_ids": [legal_task]})
    assert bulk.json() == {"approved": [legal_task], "refused": []}
    done = finance.post(f"/api/v1/approvals/tasks/{finance_task}/approve", json={})
    assert done.json()["state"] == "approved"
    timeline = sales.get(f"/api/v1/forms/contract/records/{record_id}/approvals").json()["items"]
    assert [a["action"] for a in timeline[0]["trail"]] == [
        "submit",
        "branch",
        "approve",
        "approve",
        "approve",
        "finished",
    ]
    assert legal.get("/api/v1/approvals/inbox?box=done").json()["counts"] == {
        "pending": 0,
        "done": 1,
        "submitted": 0,
        "cc": 0,
    }


def test_hostile_input_gets_a_clear_4xx(company: Company, as_user: dict[str, TestClient]) -> None:
    admin, sales = as_user["admin"], as_user["sales"]
    bad = admin.post("/api/v1/approvals/flows", json={"key": "X", "form": "nope", "label": ""})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"key", "form", "label"}
    assert sales.post("/api/v1/approvals/flows", json=_flow(company)).status_code == 403
    missing = sales.post("/api/v1/approvals", json={"flow": "nope", "record_id": 1})
    assert missing.status_code == 404
    assert sales.post("/api/v1/approvals/tasks/99/approve", json={"to": "x"}).status_code == 422
    assert sales.post("/api/v1/approvals/tasks/99/reject", json={"to": "moon"}).status_code == 422
    assert sales.get("/api/v1/approvals/inbox?box=mine").status_code == 422
    assert sales.get("/api/v1/approvals/123").status_code == 404


def test_the_operations_are_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    for path in (
        "/api/v1/approvals/flows",
        "/api/v1/approvals/inbox",
        "/api/v1/approvals",
        "/api/v1/approvals/{approval_id}/recall",
        "/api/v1/approvals/tasks/{task_id}/approve",
        "/api/v1/approvals/tasks/{task_id}/reject",
        "/api/v1/approvals/tasks/{task_id}/return",
        "/api/v1/approvals/tasks/{task_id}/transfer",
        "/api/v1/approvals/tasks/{task_id}/add-approver",
        "/api/v1/approvals/tasks/bulk-approve",
    ):
        assert path in paths


def test_each_act_keeps_its_own_body_in_the_openapi_document(client: TestClient) -> None:
    """The acts are registered from one table; each keeps its path and its own request body."""
    paths = client.get("/api/openapi.json").json()["paths"]
    bodies = {
        "/api/v1/approvals/{approval_id}/recall": "Note",
        "/api/v1/approvals/{approval_id}/resubmit": "Note",
        "/api/v1/approvals/tasks/{task_id}/approve": "Approval",
        "/api/v1/approvals/tasks/{task_id}/reject": "Rejection",
        "/api/v1/approvals/tasks/{task_id}/return": "Note",
        "/api/v1/approvals/tasks/{task_id}/transfer": "Transfer",
        "/api/v1/approvals/tasks/{task_id}/add-approver": "AddApprover",
    }
    for path, model in bodies.items():
        operation = paths[path]["post"]
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        assert schema["$ref"].endswith(f"/{model}"), path
        assert {p["name"] for p in operation["parameters"]} >= {path.split("{")[1].split("}")[0]}
        assert operation["summary"]
    ids = [op["operationId"] for item in paths.values() for op in item.values()]
    assert len(ids) == len(set(ids))


def test_an_act_not_in_the_table_is_not_a_route(as_user: dict[str, TestClient]) -> None:
    assert as_user["sales"].post("/api/v1/approvals/tasks/1/approve-all", json={}).status_code in (
        404,
        405,
    )


def _upload(client: TestClient, name: str) -> str:
    response = client.post(
        "/api/v1/files",
        files={"file": (name, "条款见附件 / terms attached".encode(), "text/plain")},
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["id"]
    return token


def test_comment_attachments_are_checked_against_the_file_store(
    company: Company, as_user: dict[str, TestClient]
) -> None:
    admin, sales, legal = as_user["admin"], as_user["sales"], as_user["legal"]
    assert admin.post("/api/v1/approvals/flows", json=_flow(company)).status_code == 201
    record_id = company.contract("50000")
    approval = sales.post(
        "/api/v1/approvals", json={"flow": "contract_approval", "record_id": record_id}
    )
    assert approval.status_code == 201, approval.text
    url = f"/api/v1/approvals/{approval.json()['id']}/comments"
    mine, theirs = _upload(sales, "报价说明.txt"), _upload(legal, "法务意见.txt")

    # Someone else's fresh upload, an unknown id and a malformed one: refused, each named.
    refused = sales.post(url, json={"comment": "见附件", "attachments": [mine, theirs, "f" * 32]})
    assert refused.status_code == 422, refused.text
    errors = {e["field"]: e["value"] for e in refused.json()["errors"]}
    assert errors == {"attachments.1": theirs, "attachments.2": "f" * 32}
    trail = sales.get(f"/api/v1/approvals/{approval.json()['id']}").json()["trail"]
    assert all(entry["action"] != "comment" for entry in trail)  # nothing was written
    assert sales.post(url, json={"comment": "x", "attachments": [1]}).status_code == 422

    # The commenter's own upload is taken, and recorded on the trail.
    taken = sales.post(url, json={"comment": "见附件", "attachments": [mine]})
    assert taken.status_code == 200, taken.text
    trail = sales.get(f"/api/v1/approvals/{approval.json()['id']}").json()["trail"]
    assert trail[-1]["action"] == "comment"
    assert trail[-1]["detail"]["attachments"] == [mine]

    # An approver attaches with a decision the same way: another's file is refused.
    (task,) = legal.get("/api/v1/approvals/inbox").json()["items"]
    bad = legal.post(
        f"/api/v1/approvals/tasks/{task['task_id']}/approve", json={"attachments": [mine]}
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "attachments.0"
    good = legal.post(
        f"/api/v1/approvals/tasks/{task['task_id']}/approve", json={"attachments": [theirs]}
    )
    assert good.status_code == 200, good.text
