"""The IDC solution's lifecycle: its pipeline, its SOP gates and its sample stage history."""

from __future__ import annotations

import itertools
from datetime import date

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from meridian.access import manage
from meridian.access.tokens import create_token
from meridian.core.actor import Actor
from meridian.db.tables import stage_visits, tasks
from meridian.http.deps import Workspace
from meridian.schema.catalog import get_form
from meridian.solutions import idc_crm
from meridian.solutions.idc_crm.stage_history import seed_stage_history
from meridian.solutions.loader import (
    install_approvals,
    install_pipelines,
    install_solution,
    load_sample_data,
)


def _install(engine: Engine, admin: Actor) -> None:
    app, forms = idc_crm.load_package()
    assert install_solution(engine, admin, app, forms)


def test_the_idc_pipeline_has_its_six_stages_and_loss(
    client: TestClient, engine: Engine, admin: Actor
) -> None:
    _install(engine, admin)
    install_approvals(engine, admin, idc_crm.load_approvals())
    install_pipelines(engine, admin, idc_crm.load_pipelines())
    [pipeline] = client.get("/api/v1/forms/opportunity/pipelines").json()["items"]
    stages = [(s["label"], s["category"]) for s in pipeline["stages"]]
    assert stages == [
        ("线索", "open"),
        ("意向", "open"),
        ("方案/报价", "open"),
        ("谈判", "open"),
        ("签约", "won"),
        ("交付", "won"),
        ("输单", "lost"),
    ]
    proposal = pipeline["stages"][2]
    assert proposal["sla"] == {"amount": 10, "unit": "days", "business": False, "warn_percent": 70}
    assert [c["kind"] for c in proposal["exit"]][:2] == ["sop_task", "related_record"]


def test_the_survey_is_confirmed_by_the_technical_team_before_leaving_interest(
    client: TestClient, engine: Engine, admin: Actor, workspace: Workspace
) -> None:
    _install(engine, admin)
    install_approvals(engine, admin, idc_crm.load_approvals())
    install_pipelines(engine, admin, idc_crm.load_pipelines())
    with workspace.transaction() as conn:
        manage.create_role(conn, Actor.system(), "tech", "技术团队")
        manage.create_role(conn, Actor.system(), "sales", "销售")
        people = {}
        for key, role in (("rep", "sales"), ("engineer", "tech")):
            user = manage.add_user(
                conn,
                Actor.system(),
                email=f"{key}@idc.test",
                name=key,
                password="Passw0rd-long",
                passwords=workspace.passwords,
                roles=[role],
                must_change_password=False,
            )
            manage.set_form_permissions(
                conn,
                Actor.system(),
                role,
                get_form(conn, "opportunity"),
                {"read": "all", "update": "all", "create": True},
            )
            people[key] = create_token(conn=conn, user_id=user["id"], name=key)
    customer = client.post("/api/v1/forms/customer/records", json={"name": "杭州云栖"}).json()
    deal = client.post(
        "/api/v1/forms/opportunity/records",
        json={"name": "机柜 20 个", "customer": customer["id"], "stage": "interest"},
    ).json()
    record = f"/api/v1/forms/opportunity/records/{deal['id']}"
    refused = client.patch(record, json={"stage": "proposal"})
    assert [e["code"] for e in refused.json()["errors"]] == [
        "checklist",
        "checklist",
        "required_field",
        "required_field",
    ]
    as_rep = {"Authorization": f"Bearer {people['rep']}"}
    as_engineer = {"Authorization": f"Bearer {people['engineer']}"}
    assert client.put(f"{record}/checklist/survey_done", headers=as_rep).status_code == 204
    assert client.put(f"{record}/checklist/survey_confirmed", headers=as_rep).status_code == 403
    assert (
        client.put(f"{record}/checklist/survey_confirmed", headers=as_engineer).status_code == 204
    )
    client.patch(record, json={"cabinets": 20, "power_density_kw": "8.0"})
    moved = client.patch(record, json={"stage": "proposal"})
    assert moved.status_code == 200, moved.text
    # Entering 方案/报价 gives the owner the SOP task: a formal quote within 48 work hours.
    with workspace.read() as conn:
        [task] = conn.execute(sa.select(tasks).where(tasks.c.record_id == deal["id"])).all()
    assert task.title == "48 小时内发出正式报价（附标准服务协议）"
    assert task.source == "stage" and task.due_at is not None
    status = client.get(f"{record}/stage").json()
    assert status["stage"] == "proposal"
    negotiation = next(m for m in status["moves"] if m["stage"] == "negotiation")
    assert [m["criterion"] for m in negotiation["missing"]] == [
        "sop_task",
        "related_record",
        "checklist",
        "required_field",
    ]
    # What is missing is said in the caller's language, and in both beside it.
    for language in ("en", "zh-CN"):
        said = client.get(f"{record}/stage", headers={"Accept-Language": language}).json()
        missing = next(m for m in said["moves"] if m["stage"] == "negotiation")["missing"]
        key = "message_en" if language == "en" else "message_zh"
        assert [m["message"] for m in missing] == [m[key] for m in missing]
        assert missing[0]["message_en"] != missing[0]["message_zh"]


def test_the_sample_stage_history_holds_back_moves_and_never_overlaps(
    engine: Engine, admin: Actor, workspace: Workspace
) -> None:
    _install(engine, admin)
    load_sample_data(
        engine,
        admin,
        idc_crm.generate(seed=7, scale=200, anchor=date(2026, 12, 6)),
        owners=[admin.user_id or 0],
    )
    install_approvals(engine, admin, idc_crm.load_approvals())
    install_pipelines(engine, admin, idc_crm.load_pipelines())
    assert seed_stage_history(engine, seed=7) > 400
    with workspace.read() as conn:
        visits = conn.execute(
            sa.select(stage_visits).order_by(stage_visits.c.record_id, stage_visits.c.entered_at)
        ).all()
        current = dict(conn.execute(sa.text("SELECT id, stage FROM data_opportunity")).all())
    assert {v.record_id for v in visits} == set(current)
    assert sum(v.move == "back" for v in visits) >= 10
    assert all(v.reason for v in visits if v.move == "back")
    for record_id, group in itertools.groupby(visits, key=lambda v: v.record_id):
        mine = list(group)
        assert [v.left_at for v in mine].count(None) == 1
        assert mine[-1].left_at is None and mine[-1].stage_key == current[record_id]
        for before, after in itertools.pairwise(mine):
            assert before.left_at == after.entered_at
