"""Every rule the IDC solution ships runs for real against the solution's own forms: it
succeeds (no failure, no notification that reaches nobody), what it creates passes the target
form's checks and belongs to the rep it is meant for, and a dry run of it foresees no failure."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from meridian.access import manage, organisation
from meridian.core.actor import Actor
from meridian.db.tables import notifications
from meridian.http.deps import Workspace
from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import Worker
from meridian.solutions import idc_crm
from meridian.solutions.loader import install_approvals, install_pipelines, install_solution
from tests.conftest import (
    FakeClock,
    KeptApp,
    KeptDatabase,
    kept_fixtures,
    with_app,
    workspace_on,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
SHIPPED = idc_crm.load_rules()


def _install(workspace: Workspace, _client: TestClient) -> dict[str, int]:
    """The solution installed and a rep in 华东销售部 whose head (负责人) is 王经理; built
    once per dialect and test process and put back before each test (the tests run rules
    that write, and move the clock)."""
    app, forms = idc_crm.load_package()
    assert install_solution(workspace.engine, Actor.system(), app, forms, SHIPPED)
    with workspace.transaction() as conn:
        people = {
            key: manage.add_user(
                conn,
                Actor.system(),
                email=f"{key}@idc.test",
                name=name,
                password="Passw0rd-long",
                passwords=workspace.passwords,
                roles=["member"],
                must_change_password=False,
            )["id"]
            for key, name in (("head", "王经理"), ("rep", "张三"))
        }
        east = organisation.create_department(
            conn=conn, name="华东销售部", manager_id=people["head"]
        )
        organisation.set_user_departments(conn, people["rep"], east)
    return people


Kept = KeptDatabase[KeptApp[dict[str, int]]]


kept, workspace = kept_fixtures(with_app(_install))


@pytest.fixture
def engine(workspace: Workspace) -> Engine:
    return workspace.engine


@pytest.fixture
def idc(kept: Kept, workspace: Workspace) -> Iterator[dict[str, Any]]:
    """The solution, its people, an administrator's client, and the clock in the test's
    hands."""
    clock = workspace.clock
    assert isinstance(clock, FakeClock)
    now = [clock.now()]
    clock.follow(lambda: now[0])
    with kept.built.client() as client:
        yield {"now": now, "client": client, "engine": workspace.engine, **kept.built.built}


def made(client: TestClient, form: str, **values: Any) -> dict[str, Any]:
    response = client.post(f"/api/v1/forms/{form}/records", json=values)
    assert response.status_code == 201, response.text
    return dict(response.json())


def triggering_record(idc: dict[str, Any], rule: dict[str, Any]) -> tuple[int, int]:
    """A record of the rule's form that its trigger and condition will take, owned by the
    rep, and the days to wait for it."""
    client, rep = idc["client"], idc["rep"]
    today = idc["now"][0].astimezone(SHANGHAI).date()
    customer = made(client, "customer", name="杭州云栖数据有限公司", status="active", owner_id=rep)
    trigger = rule["trigger"]
    if rule["form_key"] == "customer":
        return customer["id"], trigger["days"] + 1
    if rule["form_key"] == "contract":
        days = -trigger["offset_days"]
        contract = made(
            client,
            "contract",
            customer=customer["id"],
            start_date=(today - timedelta(days=300)).isoformat(),
            end_date=(today + timedelta(days=days + 1)).isoformat(),
            amount="360000.00",
            status="active",
            owner_id=rep,
        )
        return contract["id"], 1
    if rule["form_key"] == "opportunity" and trigger["type"] == "stage_sla_breached":
        # The lifecycle's SLA: an opportunity enters 方案/报价 and stays past its limit.
        install_approvals(idc["engine"], Actor.system(), idc_crm.load_approvals())
        install_pipelines(idc["engine"], Actor.system(), idc_crm.load_pipelines())
        deal = made(
            client,
            "opportunity",
            name="机柜扩容",
            customer=customer["id"],
            stage="proposal",
            owner_id=rep,
        )
        # The rep sent the formal quote in time (the SOP task is done), yet the deal stays.
        sop = client.get(
            "/api/v1/tasks", params={"form": "opportunity", "record_id": deal["id"]}
        ).json()
        ids = [task["id"] for task in sop["items"]]
        assert len(ids) == 1
        assert client.post("/api/v1/tasks/complete", json={"ids": ids}).status_code == 200
        return deal["id"], 11
    if rule["form_key"] == "opportunity" and trigger["type"] == "record_created":
        # A new lead of a Shanghai customer the administrator entered (so it is theirs, and
        # the administrator is none of the sales people): the rule hands it to the rep of
        # 华东销售部, who gets the first follow-up task.
        shanghai = made(client, "customer", name="上海临港数据有限公司", region="310115")
        lead = made(client, "opportunity", name="华东机房扩容", customer=shanghai["id"])
        return lead["id"], 0
    assert rule["form_key"] == "quote", "a shipped rule on a form this test does not know"
    deal = made(client, "opportunity", name="机柜扩容", customer=customer["id"], owner_id=rep)
    quote = made(
        client,
        "quote",
        opportunity=deal["id"],
        customer=customer["id"],
        status="sent",
        owner_id=rep,
    )
    return quote["id"], trigger["days"] + 1


@pytest.mark.parametrize("index", range(len(SHIPPED)), ids=[r["label"][:12] for r in SHIPPED])
def test_a_shipped_rule_runs_for_real_and_does_what_it_says(
    idc: dict[str, Any], engine: Engine, index: int
) -> None:
    client = idc["client"]
    shipped = SHIPPED[index]
    rules = client.get("/api/v1/rules").json()["items"]
    [rule] = [r for r in rules if r["label"] == shipped["label"]]
    for other in rules:  # the rule alone, so that what is found is its doing
        if other["id"] != rule["id"]:
            client.post(f"/api/v1/rules/{other['id']}/disable")
    record_id, days = triggering_record(idc, shipped)
    dry = client.post(f"/api/v1/rules/{rule['id']}/dry-run", json={"record_id": record_id})
    assert dry.status_code == 200, dry.text
    assert dry.json()["condition"] is True
    assert dry.json()["would_fail"] is False, dry.json()
    idc["now"][0] += timedelta(days=days)
    worker = Worker(engine, job_handlers(workspace_on(engine)), SHANGHAI)
    while worker.run_once():
        pass
    [run] = client.get(f"/api/v1/rules/{rule['id']}/runs").json()["items"]
    assert (run["record_id"], run["outcome"], run["error"]) == (record_id, "succeeded", None)
    for action, done in zip(shipped["actions"], run["actions"], strict=True):
        if action["type"] == "create":
            created = client.get(
                f"/api/v1/forms/{action['form']}/records/{done['record_id']}"
            ).json()
            assert created["owner_id"] == idc["rep"], "the rep the record is meant for owns it"
            if action.get("link_field"):
                assert created[action["link_field"]] == record_id
        if action["type"] == "assign":
            assert done["owner_id"] == idc["rep"], "the territory's rep takes the record"
            assert (
                client.get(f"/api/v1/forms/{shipped['form_key']}/records/{record_id}").json()[
                    "owner_id"
                ]
                == idc["rep"]
            )
        if action["type"] == "create_task":
            task = client.get(f"/api/v1/tasks/{done['task_id']}").json()
            assert task["assignee_id"] == idc["rep"], "the rep the task is meant for has it"
            assert (task["form_key"], task["record_id"]) == (shipped["form_key"], record_id)
            assert task["due_at"] is not None
        if action["type"] == "notify":
            wanted = idc["head"] if action["to"] == "manager" else idc["rep"]
            with engine.connect() as conn:
                told = conn.scalars(
                    sa.select(notifications.c.user_id).where(notifications.c.record_id == record_id)
                ).all()
            assert told == [wanted]
