"""Lifecycle stages: gates on every write path, overrides, stage history."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from meridian.access import manage, organisation
from meridian.access.tokens import create_token
from meridian.access.users import set_locale
from meridian.core.actor import Actor
from meridian.db.tables import audit_log, stage_visits
from meridian.http.deps import Workspace
from meridian.records import bulk
from meridian.records.guards import WriteRefused
from meridian.schema.catalog import get_form
from tests.conftest import FakeClock
from tests.stages_support import install_sales


@pytest.fixture
def sales(client: TestClient) -> TestClient:
    install_sales(client)
    return client


def _deal(client: TestClient, **values: Any) -> dict[str, Any]:
    response = client.post("/api/v1/forms/deal/records", json={"name": "机柜 20 个", **values})
    assert response.status_code == 201, response.text
    return response.json()


def _visits(workspace: Workspace, record_id: int) -> list[Any]:
    with workspace.read() as conn:
        return list(
            conn.execute(
                sa.select(stage_visits)
                .where(stage_visits.c.record_id == record_id)
                .order_by(stage_visits.c.id)
            )
        )


def test_pipelines_are_described_with_their_criteria_in_both_languages(sales: TestClient) -> None:
    items = sales.get("/api/v1/forms/deal/pipelines").json()["items"]
    assert [p["key"] for p in items] == ["sales"]
    stages = items[0]["stages"]
    assert [s["key"] for s in stages] == [
        "lead",
        "interest",
        "proposal",
        "negotiation",
        "won",
        "lost",
    ]
    assert [s["category"] for s in stages][-2:] == ["won", "lost"]
    survey, amount = stages[1]["exit"]
    assert survey["message_zh"] == "需勾选清单项「需求调研表已确认」"
    assert survey["message_en"] == "checklist item “survey confirmed” must be ticked"
    assert amount["message_zh"] == "需填写「金额」"
    assert stages[2]["sla"] == {
        "amount": 48,
        "unit": "hours",
        "business": False,
        "warn_percent": 50,
    }


def test_a_refused_move_over_the_api_names_every_unmet_criterion(
    sales: TestClient, workspace: Workspace, admin: Actor
) -> None:
    deal = _deal(sales, stage="interest")
    record = f"/api/v1/forms/deal/records/{deal['id']}"
    chinese = {"Accept-Language": "zh-CN"}
    response = sales.patch(record, json={"stage": "proposal"}, headers=chinese)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "stage_gate"
    assert [(e["code"], e["field"]) for e in problem["errors"]] == [
        ("checklist", "stage"),
        ("required_field", "amount"),
        ("related_record", "stage"),
    ]
    assert problem["errors"][0]["message"] == "需勾选清单项「需求调研表已确认」"
    assert problem["errors"][2]["message_en"] == "a related 报价单 must exist"
    assert sales.get(record).json()["stage"] == "interest"
    # A caller who chose no language reads the refusal in the one their request asks for.
    english = sales.patch(record, json={"stage": "proposal"}, headers={"Accept-Language": "en"})
    said = [e["message"] for e in english.json()["errors"]]
    assert said[0] == "checklist item “survey confirmed” must be ticked"
    assert english.headers["content-language"] == "en"
    # The language the actor chose comes first.
    with workspace.transaction() as conn:
        set_locale(conn=conn, user_id=admin.user_id, locale="en")
    response = sales.patch(record, json={"stage": "proposal"}, headers=chinese)
    assert response.json()["errors"][1]["message"] == "金额 must be filled in"


def test_a_move_passes_once_its_criteria_hold(sales: TestClient, workspace: Workspace) -> None:
    deal = _deal(sales, stage="interest", amount="1000.00")
    record = f"/api/v1/forms/deal/records/{deal['id']}"
    assert sales.put(f"{record}/checklist/survey").status_code == 204
    quote = {"title": "报价 v1", "deal": deal["id"]}
    assert sales.post("/api/v1/forms/quote/records", json=quote).status_code == 201
    response = sales.patch(record, json={"stage": "proposal"})
    assert response.status_code == 200, response.text
    visits = _visits(workspace, deal["id"])
    assert [(v.stage_key, v.move) for v in visits] == [
        ("interest", "start"),
        ("proposal", "forward"),
    ]
    assert visits[0].left_at == visits[1].entered_at
    assert visits[1].due_at is not None


def test_skipping_a_stage_and_moving_back_without_a_reason_are_refused(
    sales: TestClient, workspace: Workspace
) -> None:
    deal = _deal(sales, stage="negotiation", amount="10.00")
    record = f"/api/v1/forms/deal/records/{deal['id']}"
    skipped = sales.patch(record, json={"stage": "lead"})
    assert skipped.status_code == 422
    assert [e["code"] for e in skipped.json()["errors"]] == ["reason"]
    back = sales.patch(record, params={"reason": "客户预算冻结"}, json={"stage": "interest"})
    assert back.status_code == 200, back.text
    jumped = sales.patch(record, json={"stage": "won"})
    assert jumped.status_code == 422
    assert jumped.json()["errors"][0]["code"] == "transition"
    visits = _visits(workspace, deal["id"])
    assert [(v.stage_key, v.move, v.reason) for v in visits] == [
        ("negotiation", "start", None),
        ("interest", "back", "客户预算冻结"),
    ]


def test_losing_needs_a_loss_reason_and_reopening_a_reason(
    sales: TestClient, workspace: Workspace
) -> None:
    deal = _deal(sales, stage="lead")
    record = f"/api/v1/forms/deal/records/{deal['id']}"
    refused = sales.patch(record, json={"stage": "lost"})
    assert [e["field"] for e in refused.json()["errors"]] == ["loss_reason"]
    assert sales.patch(record, json={"stage": "lost", "loss_reason": "价格"}).status_code == 200
    assert sales.patch(record, json={"stage": "lead"}).json()["errors"][0]["code"] == "reason"
    reopened = sales.patch(record, params={"reason": "客户回来了"}, json={"stage": "lead"})
    assert reopened.status_code == 200
    moves = [(v.stage_key, v.move, v.category) for v in _visits(workspace, deal["id"])]
    assert moves == [
        ("lead", "start", "open"),
        ("lost", "lose", "lost"),
        ("lead", "reopen", "open"),
    ]


def test_bulk_edit_is_refused_whole_naming_each_record(
    sales: TestClient, workspace: Workspace
) -> None:
    ready = _deal(sales, stage="lead")
    other = _deal(sales, stage="lead")
    response = sales.post(
        "/api/v1/forms/deal/records/update",
        json={"ids": [ready["id"], other["id"]], "values": {"stage": "lost"}},
    )
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert response.json()["code"] == "stage_gate"
    assert sorted(e["record_id"] for e in errors) == sorted([ready["id"], other["id"]])
    assert {e["field"] for e in errors} == {
        f"{ready['id']}.loss_reason",
        f"{other['id']}.loss_reason",
    }
    assert len(_visits(workspace, ready["id"])) == 1
    ok = sales.post(
        "/api/v1/forms/deal/records/update",
        json={
            "ids": [ready["id"], other["id"]],
            "values": {"stage": "lost", "loss_reason": "预算"},
        },
    )
    assert ok.json() == {"updated": 2}
    assert [v.stage_key for v in _visits(workspace, other["id"])] == ["lead", "lost"]


def test_bulk_create_into_a_gated_stage_is_refused(sales: TestClient) -> None:
    response = sales.post(
        "/api/v1/forms/deal/records/bulk",
        json={"items": [{"name": "a", "stage": "lead"}, {"name": "b", "stage": "lost"}]},
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["items.1.loss_reason"]


def test_an_override_by_a_permitted_role_passes_and_is_audited(
    sales: TestClient, workspace: Workspace, admin: Actor
) -> None:
    deal = _deal(sales, stage="interest")
    record = f"/api/v1/forms/deal/records/{deal['id']}"
    response = sales.patch(
        record, params={"override": "客户口头确认，调研表后补"}, json={"stage": "proposal"}
    )
    assert response.status_code == 200, response.text
    last = _visits(workspace, deal["id"])[-1]
    assert last.override_by == admin.user_id
    assert last.override_reason == "客户口头确认，调研表后补"
    assert [o["criterion"] for o in last.overridden] == [
        "checklist",
        "required_field",
        "related_record",
    ]
    with workspace.read() as conn:
        entry = conn.execute(
            sa.select(audit_log).where(audit_log.c.action == "stage.override")
        ).one()
    assert entry.object_id == str(deal["id"])
    assert entry.detail["to"] == "proposal"
    assert entry.detail["reason"] == "客户口头确认，调研表后补"
    status = sales.get(f"{record}/stage").json()
    assert status["visits"][-1]["override_reason"] == "客户口头确认，调研表后补"


def test_an_override_by_anyone_else_is_refused(sales: TestClient, workspace: Workspace) -> None:
    with workspace.transaction() as conn:
        team = organisation.create_department(conn=conn, name="华东销售")
        user = manage.add_user(
            conn,
            Actor.system(),
            email="rep@acme.test",
            name="销售代表",
            password="Passw0rd-long",
            passwords=workspace.passwords,
            roles=["member"],
            department=team,
            must_change_password=False,
        )
        token = create_token(conn=conn, user_id=user["id"], name="rep")
    deal = _deal(sales, stage="interest", owner_id=user["id"])
    record = f"/api/v1/forms/deal/records/{deal['id']}"
    response = sales.patch(
        record,
        params={"override": "我说可以"},
        json={"stage": "proposal"},
        headers={"Authorization": f"Bearer {token}", "Accept-Language": "zh-CN"},
    )
    assert response.status_code == 422, response.text
    codes = [e["code"] for e in response.json()["errors"]]
    assert codes == ["checklist", "required_field", "related_record", "override_not_permitted"]
    assert response.json()["errors"][-1]["message"] == "你无权越过此阶段关卡"
    assert _visits(workspace, deal["id"])[-1].stage_key == "interest"


def test_the_gate_holds_for_service_calls_and_bulk_creation(
    sales: TestClient, workspace: Workspace
) -> None:
    with workspace.transaction() as conn:
        form = get_form(conn, "deal")
        with pytest.raises(WriteRefused) as refused:
            bulk.create_records(
                conn=conn, actor=Actor.system(), form=form, items=[{"name": "x", "stage": "won"}]
            )
    assert refused.value.code == "stage_gate"
    assert refused.value.errors[0].code == "condition"


def test_a_rule_action_cannot_pass_a_gate(
    sales: TestClient, workspace: Workspace, fake_clock: FakeClock
) -> None:
    from tests.integration.test_rules import drain

    rule = {
        "form_key": "deal",
        "label": "备注写好就进入方案报价",
        "trigger": {"type": "field_changed", "field": "note"},
        "actions": [{"type": "update", "values": {"stage": "proposal"}}],
    }
    response = sales.post("/api/v1/rules", json=rule)
    assert response.status_code == 201, response.text
    deal = _deal(sales, stage="interest")
    sales.patch(f"/api/v1/forms/deal/records/{deal['id']}", json={"note": "go"})
    drain(workspace.engine)
    assert sales.get(f"/api/v1/forms/deal/records/{deal['id']}").json()["stage"] == "interest"
    log = f"/api/v1/rules/{response.json()['id']}/runs"
    runs = sales.get(log, headers={"Accept-Language": "zh-CN"}).json()["items"]
    assert runs[0]["outcome"] == "failed"
    assert "需勾选清单项" in runs[0]["error"]
    # The failed run's error was kept to be said again in each reader's language.
    runs = sales.get(log, headers={"Accept-Language": "en"}).json()["items"]
    assert runs[0]["error"].startswith("checklist item “survey confirmed” must be ticked; ")
