"""The approval flow designer over HTTP: every step is a form post the server answers with the
redrawn tree; a save checks the draft whole, shows each problem at its node and makes a new
version. The pure tree edits are in tests/unit/test_approval_drafts.py."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from meridian.access.sessions import csrf_token_for
from meridian.app import create_app
from meridian.core.actor import Actor
from meridian.flows.approvals import definitions
from meridian.http.deps import SESSION_COOKIE, Workspace
from meridian.settings import Settings
from tests.approvals_support import Company, build_company


@pytest.fixture
def company(workspace: Workspace, admin: Actor) -> Company:
    return build_company(workspace, admin)


@pytest.fixture
def web(company: Company, settings: Settings, workspace: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(settings, workspace=workspace), follow_redirects=False) as client:
        response = client.post(
            "/login", data={"email": "admin@acme.test", "password": "correct horse", "next": "/"}
        )
        assert response.status_code == 303
        client.headers["X-CSRF-Token"] = csrf_token_for(client.cookies[SESSION_COOKIE])
        client.headers["Accept-Language"] = "en"
        yield client


class Designer:
    """The page's form as the browser would post it: the flow's fields, the draft, the panel."""

    def __init__(self, web: TestClient, key: str = "contract_approval") -> None:
        self.web = web
        self.flow = {"key": key, "label": "合同审批", "form": "contract", "version": "0"}
        self.draft: dict[str, Any] = {"nodes": []}
        self.selected = ""
        self.html = ""

    def step(self, op: str = "", **panel: Any) -> str:
        data: dict[str, Any] = {
            **self.flow,
            "draft": json.dumps(self.draft),
            "selected": self.selected,
            "op": op,
            **panel,
        }
        if panel:
            data["panel"] = self.selected
        response = self.web.post("/admin/approvals/draft", data=data)
        assert response.status_code == 200, response.text
        self.html = response.text
        found = re.search(r'name="draft" value="([^"]*)"', self.html)
        assert found
        self.draft = json.loads(html.unescape(found.group(1)))
        chosen = re.search(r'name="selected" value="([^"]*)"', self.html)
        self.selected = chosen.group(1) if chosen else ""
        return self.html

    def save(self, **panel: Any) -> Any:
        data = {**self.flow, "draft": json.dumps(self.draft), "selected": self.selected, **panel}
        if panel:
            data["panel"] = self.selected
        return self.web.post("/admin/approvals", data=data)


def test_a_flow_with_a_branch_and_a_countersign_is_built_through_the_forms(
    web: TestClient, company: Company, workspace: Workspace
) -> None:
    designer = Designer(web)
    designer.step("add:top:condition")
    assert designer.selected == "condition_1"
    assert 'data-testid="branch-0-condition"' in designer.html
    # The filter row writes the comparison into the branch's condition.
    designer.step(
        "",
        **{
            "filter.0.field": "amount",
            "filter.0.op": ">",
            "filter.0.value": "100000",
            "filter.0.add": "1",
        },
    )
    assert designer.draft["nodes"][0]["branches"][0]["condition"] == "amount > 100000"
    designer.step("add:condition_1.0:approver")
    assert designer.selected == "approver_1"
    designer.step(
        "add:condition_1:approver",
        **{"node.label": "副总裁", "node.mode": "single", "src.users": [str(company.id("vp"))]},
    )
    assert designer.selected == "approver_2"
    designer.step(
        "close",
        **{
            "node.label": "法务与财务会签",
            "node.mode": "all",
            "src.users": [str(company.id("legal")), str(company.id("finance"))],
            "src.manager": "1",
            "src.manager_levels": "2",
            "node.editable_fields": ["note"],
            "node.reject_to": "submitter",
            "timeout.hours": "8",
            "timeout.action": "escalate",
            "escalate.users": [str(company.id("cfo"))],
        },
    )
    branch, countersign = designer.draft["nodes"][0], designer.draft["nodes"][1]
    assert branch["branches"][0]["nodes"][0]["approvers"] == [
        {"type": "user", "ids": [company.id("vp")]}
    ]
    assert countersign == {
        "id": "approver_2",
        "type": "approver",
        "label": "法务与财务会签",
        "mode": "all",
        "approvers": [
            {"type": "user", "ids": [company.id("legal"), company.id("finance")]},
            {"type": "manager", "levels": 2},
        ],
        "editable_fields": ["note"],
        "reject_to": "submitter",
        "timeout": {
            "hours": 8,
            "action": "escalate",
            "basis": "business",
            "escalate_to": [{"type": "user", "ids": [company.id("cfo")]}],
        },
    }
    assert designer.selected == ""
    response = designer.save()
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/approvals/contract_approval?saved=1"
    with workspace.read() as conn:
        stored = definitions.get_flow(conn, "contract_approval")
    assert stored["version"] == 1
    assert stored["definition"] == designer.draft
    # Saving again is a new version; the designer opens the newest.
    designer.flow["version"] = "1"
    assert designer.save().status_code == 303
    page = web.get("/admin/approvals/contract_approval?saved=1").text
    assert "v2" in page and 'data-testid="flow-saved"' in page


def test_a_refused_save_shows_each_problem_at_its_node_and_stores_nothing(
    web: TestClient, workspace: Workspace
) -> None:
    designer = Designer(web)
    designer.step("add:top:approver")
    designer.step("add:approver_1:condition")
    designer.step("add:condition_1:action", **{"branch.0.condition": "amount >"})
    designer.step("", **{"node.action": "webhook", "node.url": "ftp://oa"})
    response = designer.save(**{"node.action": "webhook", "node.url": "ftp://oa"})
    assert response.status_code == 422
    text = response.text
    for node_id in ("approver_1", "condition_1", "action_1"):
        assert f'data-testid="node-problem-{node_id}"' in text, node_id
    assert "name at least one approver" in text
    assert "expected an http(s) URL" in text
    with workspace.read() as conn:
        assert definitions.list_flows(conn) == []


def test_the_designer_speaks_chinese(web: TestClient, company: Company) -> None:
    web.headers["Accept-Language"] = "zh-CN"
    designer = Designer(web)
    designer.step("add:top:approver")
    response = designer.save()
    assert response.status_code == 422
    assert "审批人" in response.text
    assert "name at least one approver" not in response.text


def test_remove_and_branches(web: TestClient) -> None:
    designer = Designer(web)
    designer.step("add:top:parallel")
    designer.step("branch_add:parallel_1")
    assert len(designer.draft["nodes"][0]["branches"]) == 3
    designer.step("branch_remove:parallel_1.0")
    assert len(designer.draft["nodes"][0]["branches"]) == 2
    designer.step("add:parallel_1.1:cc")
    designer.step("remove:parallel_1")
    assert designer.draft == {"nodes": []}
    assert designer.selected == ""
    # A stale page naming a node that is gone is told so, and keeps its draft.
    assert 'data-testid="flow-problems"' in designer.step("remove:nope")


def test_only_builders_design(company: Company, settings: Settings, workspace: Workspace) -> None:
    with TestClient(create_app(settings, workspace=workspace), follow_redirects=False) as client:
        client.post(
            "/login", data={"email": "sales@acme.test", "password": "correct horse", "next": "/"}
        )
        client.headers["X-CSRF-Token"] = csrf_token_for(client.cookies[SESSION_COOKIE])
        assert client.post("/admin/approvals/draft", data={"op": "add:top:cc"}).status_code == 403
