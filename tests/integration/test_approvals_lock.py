"""A record in approval is read-only on every write path, except the fields its approver node
lets its approvers edit; it unlocks when the approval ends. A stage may require an approved
approval (the ``approval`` gate criterion)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from meridian.access.sessions import csrf_token_for
from meridian.access.tokens import create_token
from meridian.app import create_app
from meridian.core.actor import Actor
from meridian.errors import ValidationFailed
from meridian.flows.approvals import operations
from meridian.flows.stages.pipelines import save_pipeline
from meridian.http.deps import SESSION_COOKIE, Workspace
from meridian.records import bulk, service
from meridian.records.guards import WriteRefused
from meridian.records.ownership import share_record
from meridian.schema.compile import compile_form
from meridian.settings import Settings
from tests.approvals_support import CONTRACT, Company, approver, build_company


@pytest.fixture
def company(workspace: Workspace, admin: Actor) -> Company:
    company = build_company(workspace, admin)
    company.flow(
        "contract_approval",
        [
            approver("legal", company, "legal", editable_fields=["note"]),
            {"id": "mark", "type": "action", "action": "update", "values": {"note": "审批通过"}},
        ],
    )
    return company


@pytest.fixture
def api(
    company: Company, workspace: Workspace, settings: Settings
) -> Iterator[dict[str, TestClient]]:
    app = create_app(settings, workspace=workspace)
    with workspace.transaction() as conn:
        tokens = {
            n: create_token(conn=conn, user_id=company.id(n), name="t") for n in ("sales", "legal")
        }
    yield {n: TestClient(app, headers={"Authorization": f"Bearer {t}"}) for n, t in tokens.items()}


def _submit(company: Company, record_id: int) -> dict[str, Any]:
    with company.workspace.transaction() as conn:
        return operations.submit(
            conn=conn, actor=company["sales"], flow_key="contract_approval", record_id=record_id
        )


def test_a_record_in_approval_is_read_only_on_every_path(
    company: Company, api: dict[str, TestClient]
) -> None:
    record_id = company.contract()
    approval = _submit(company, record_id)
    patched = api["sales"].patch(
        f"/api/v1/forms/contract/records/{record_id}", json={"amount": "1"}
    )
    assert patched.status_code == 422
    problem = patched.json()
    assert problem["code"] == "in_approval"
    assert (
        problem["errors"][0]["field"] == "amount"
        and problem["errors"][0]["approval_id"] == approval["id"]
    )
    # The refusal is said in the language the request asks for (the rep chose none).
    for language, start in (("en", f"record {record_id} is in approval"), ("zh-CN", "记录")):
        said = api["sales"].patch(
            f"/api/v1/forms/contract/records/{record_id}",
            json={"amount": "1"},
            headers={"Accept-Language": language},
        )
        assert said.json()["errors"][0]["message"].startswith(start), said.text
    with company.workspace.transaction() as conn, pytest.raises(WriteRefused):
        bulk.update_records(
            conn=conn,
            actor=company.admin,
            form=CONTRACT,
            record_ids=[record_id],
            values={"name": "X"},
        )
    with company.workspace.transaction() as conn, pytest.raises(WriteRefused):
        service.update_record(
            conn=conn,
            actor=Actor.system(),
            form=CONTRACT,
            record_id=record_id,
            values={"amount": "2"},
        )
    # The approver (who may edit the record: it is shared with them for editing) changes the
    # field the node lets them edit, and nothing else.
    with company.workspace.transaction() as conn:
        share_record(
            conn=conn,
            actor=company.admin,
            form=CONTRACT,
            record_id=record_id,
            level="edit",
            user_id=company.id("legal"),
        )
    ok = api["legal"].patch(
        f"/api/v1/forms/contract/records/{record_id}", json={"note": "付款 30 天"}
    )
    assert ok.status_code == 200, ok.text
    refused = api["legal"].patch(
        f"/api/v1/forms/contract/records/{record_id}", json={"amount": "3"}
    )
    assert refused.status_code == 422
    # The approval ends (its action node writes through the lock); the record unlocks.
    task = next(t["id"] for t in approval["tasks"] if t["state"] == "pending")
    with company.workspace.transaction() as conn:
        done = operations.approve(conn=conn, actor=company["legal"], task_id=task)
    assert done["state"] == "approved"
    after = api["sales"].patch(f"/api/v1/forms/contract/records/{record_id}", json={"amount": "4"})
    assert after.status_code == 200, after.text
    assert after.json()["note"] == "审批通过"


def test_a_recalled_approval_unlocks_the_record(
    company: Company, api: dict[str, TestClient]
) -> None:
    record_id = company.contract()
    approval = _submit(company, record_id)
    with company.workspace.transaction() as conn:
        operations.recall(conn=conn, actor=company["sales"], approval_id=approval["id"])
    response = api["sales"].patch(
        f"/api/v1/forms/contract/records/{record_id}", json={"amount": "5"}
    )
    assert response.status_code == 200, response.text


def test_the_signed_stage_requires_an_approved_contract_approval(company: Company) -> None:
    with company.workspace.transaction() as conn:
        save_pipeline(
            conn,
            actor=Actor.system(),
            form=CONTRACT,
            document={
                "key": "contract_lifecycle",
                "label": "合同",
                "stage_field": "stage",
                "stages": [
                    {"key": "negotiation", "label": "谈判"},
                    {
                        "key": "signed",
                        "label": "签约",
                        "category": "won",
                        "entry": [{"kind": "approval", "config": {"flow": "contract_approval"}}],
                    },
                ],
            },
        )
    record_id = company.contract(stage="negotiation")
    with company.workspace.transaction() as conn, pytest.raises(WriteRefused) as refused:
        service.update_record(
            conn=conn,
            actor=company["sales"],
            form=CONTRACT,
            record_id=record_id,
            values={"stage": "signed"},
        )
    assert refused.value.errors[0].detail["message_zh"] == "须通过审批「合同审批」"
    approval = _submit(company, record_id)
    task = next(t["id"] for t in approval["tasks"] if t["state"] == "pending")
    with company.workspace.transaction() as conn:
        operations.approve(conn=conn, actor=company["legal"], task_id=task)
    with company.workspace.transaction() as conn:
        moved = service.update_record(
            conn=conn,
            actor=company["sales"],
            form=CONTRACT,
            record_id=record_id,
            values={"stage": "signed"},
        )
    assert moved["stage"] == "signed"


def test_a_gate_naming_an_unknown_flow_is_refused(company: Company) -> None:

    with company.workspace.transaction() as conn, pytest.raises(ValidationFailed) as refused:
        save_pipeline(
            conn,
            actor=Actor.system(),
            form=CONTRACT,
            document={
                "key": "p",
                "label": "合同",
                "stage_field": "stage",
                "stages": [
                    {
                        "key": "signed",
                        "label": "签约",
                        "entry": [{"kind": "approval", "config": {"flow": "nope"}}],
                    }
                ],
            },
        )
    assert any(e.code == "unknown_flow" for e in refused.value.errors)


def test_the_idc_solution_binds_the_contract_approval_to_the_signed_stage(
    workspace: Workspace, admin: Actor
) -> None:
    from meridian.records.reads import get_record
    from meridian.schema.catalog import get_form
    from meridian.solutions import idc_crm
    from meridian.solutions.loader import (
        install_approvals,
        install_pipelines,
        install_solution,
    )

    system = Actor.system()
    app, forms = idc_crm.load_package()
    install_solution(workspace.engine, system, app, forms)
    install_approvals(workspace.engine, system, idc_crm.load_approvals())
    install_pipelines(workspace.engine, system, idc_crm.load_pipelines())
    with workspace.transaction() as conn:
        opportunity_form, contract_form = get_form(conn, "opportunity"), get_form(conn, "contract")
        customer = service.create_record(
            conn=conn, actor=admin, form=get_form(conn, "customer"), values={"name": "华东数据"}
        )
        deal = service.create_record(
            conn=conn,
            actor=admin,
            form=opportunity_form,
            values={
                "name": "机柜 20 个",
                "customer": customer["id"],
                "stage": "negotiation",
                "expected_close_date": "2026-12-31",
            },
        )
        contract = service.create_record(
            conn=conn,
            actor=admin,
            form=contract_form,
            values={
                "customer": customer["id"],
                "opportunity": deal["id"],
                "amount": "250000",
                "start_date": "2027-01-01",
                "end_date": "2027-12-31",
            },
        )
    with workspace.transaction() as conn, pytest.raises(WriteRefused) as refused:
        service.update_record(
            conn=conn,
            actor=admin,
            form=opportunity_form,
            record_id=deal["id"],
            values={"stage": "won"},
        )
    assert "合同审批" in str(refused.value.errors[-1].detail.get("message_zh"))
    with workspace.transaction() as conn:
        approval = operations.submit(
            conn=conn, actor=admin, flow_key="contract_approval", record_id=contract["id"]
        )
    # Nobody holds the VP, legal or finance role yet and the admin has no manager: each node
    # passes with the reason on the trail, and the action node marks the contract signed.
    assert approval["state"] == "approved"
    assert [a["action"] for a in approval["trail"]].count("auto_approved") == 3
    with workspace.transaction() as conn:
        moved = service.update_record(
            conn=conn,
            actor=admin,
            form=opportunity_form,
            record_id=deal["id"],
            values={"stage": "won"},
        )
        signed = get_record(conn=conn, actor=admin, form=contract_form, record_id=contract["id"])
    assert moved["stage"] == "won" and signed["status"] == "signed"


@pytest.fixture
def pages(company: Company, workspace: Workspace, settings: Settings) -> Iterator[TestClient]:
    """The admin in the browser's place: a session and its CSRF token."""
    with TestClient(create_app(settings, workspace=workspace), follow_redirects=False) as client:
        response = client.post(
            "/login", data={"email": "admin@acme.test", "password": "correct horse", "next": "/"}
        )
        assert response.status_code == 303
        client.headers["X-CSRF-Token"] = csrf_token_for(client.cookies[SESSION_COOKIE])
        client.headers["Accept-Language"] = "en"
        yield client


def _live(company: Company, *record_ids: int) -> set[int]:
    with company.workspace.read() as conn:
        table = compile_form(CONTRACT).main
        return set(
            conn.scalars(
                sa.select(table.c.id).where(
                    table.c.id.in_(record_ids), table.c.deleted_at.is_(None)
                )
            )
        )


def test_a_record_in_approval_cannot_be_deleted_on_any_path(
    company: Company, api: dict[str, TestClient], pages: TestClient
) -> None:
    locked, free = company.contract(), company.contract()
    approval = _submit(company, locked)
    sales = api["sales"]

    # The API: one record, and a bulk selection refused whole (the free one stays too).
    one = sales.delete(f"/api/v1/forms/contract/records/{locked}")
    assert one.status_code == 422, one.text
    assert one.json()["code"] == "in_approval"
    (error,) = one.json()["errors"]
    assert error["approval_id"] == approval["id"] and error["record_id"] == locked
    assert "cannot be deleted" in error["message_en"] and "不能删除" in error["message_zh"]
    many = sales.post("/api/v1/forms/contract/records/delete", json={"ids": [free, locked]})
    assert many.status_code == 422, many.text
    assert [e["record_id"] for e in many.json()["errors"]] == [locked]
    assert _live(company, locked, free) == {locked, free}

    # The service, for anyone: an administrator, a rule's system actor.
    for actor in (company.admin, Actor.system()):
        with company.workspace.transaction() as conn, pytest.raises(WriteRefused):
            service.delete_record(conn=conn, actor=actor, form=CONTRACT, record_id=locked)
        with company.workspace.transaction() as conn, pytest.raises(WriteRefused):
            bulk.delete_records(conn=conn, actor=actor, form=CONTRACT, record_ids=[locked])

    # The pages: the record's delete button and the grid's bulk delete.
    page = pages.post(f"/forms/contract/records/{locked}/delete")
    assert page.status_code == 422
    assert "cannot be deleted until it ends" in page.text  # in the page's language
    chinese = pages.post(
        f"/forms/contract/records/{locked}/delete", headers={"Accept-Language": "zh-CN"}
    )
    assert chinese.status_code == 422 and "不能删除" in chinese.text
    grid = pages.post("/forms/contract/bulk", data={"action": "delete", "ids": [str(locked)]})
    assert grid.status_code == 422
    assert _live(company, locked, free) == {locked, free}

    # Once the approval ends the record can go, and the free one always could.
    assert sales.delete(f"/api/v1/forms/contract/records/{free}").status_code == 204
    with company.workspace.transaction() as conn:
        operations.recall(conn=conn, actor=company["sales"], approval_id=approval["id"])
    bulk_delete = sales.post("/api/v1/forms/contract/records/delete", json={"ids": [locked]})
    assert bulk_delete.status_code == 200, bulk_delete.text
    assert _live(company, locked, free) == set()
