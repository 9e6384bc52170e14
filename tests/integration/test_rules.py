"""Automation rules end to end: API → save transaction → job → actions → run log."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from meridian.access import manage
from meridian.app import create_workspace
from meridian.core.actor import Actor
from meridian.db.tables import jobs, rules
from meridian.http.deps import Workspace
from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import Worker
from meridian.records import bulk, service
from meridian.rules.definitions import create_rule
from meridian.rules.engine import MAX_DEPTH, RUN
from meridian.rules.scanning import fire_time_rule
from meridian.schema.catalog import get_form
from meridian.schema.changes import create_app, create_form
from meridian.schema.model import App, Form, parse_model
from meridian.settings import Settings
from tests.conftest import FakeClock, workspace_on

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def crm(client: TestClient) -> TestClient:
    client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"})
    forms = [
        {
            "key": "deal",
            "label": "商机",
            "fields": [
                {"key": "name", "label": "名称", "type": "text"},
                {"key": "amount", "label": "金额", "type": "money"},
                {"key": "stage", "label": "阶段", "type": "text"},
                {"key": "priority", "label": "优先级", "type": "text"},
                {"key": "counter", "label": "计数", "type": "integer"},
                {
                    "key": "tags",
                    "label": "标签",
                    "type": "multi_select",
                    "options": [
                        {"value": "vip", "label": "VIP"},
                        {"value": "risk", "label": "风险"},
                    ],
                },
            ],
        },
        {
            "key": "task",
            "label": "任务",
            "fields": [
                {"key": "title", "label": "标题", "type": "text"},
                {"key": "deal", "label": "商机", "type": "link", "target": "deal"},
            ],
        },
        {
            "key": "contract",
            "label": "合同",
            "fields": [
                {"key": "title", "label": "标题", "type": "text"},
                {"key": "end_date", "label": "到期日", "type": "date"},
                {"key": "reminded", "label": "已提醒", "type": "integer"},
            ],
        },
    ]
    for form in forms:
        assert client.post("/api/v1/apps/crm/forms", json=form).status_code == 201
    return client


@pytest.fixture
def now(fake_clock: FakeClock) -> Iterator[list[datetime]]:
    current = [fake_clock.now()]
    fake_clock.follow(lambda: current[0])
    yield current


def drain(engine: Engine) -> int:
    """Run jobs until none is due; returns how many rule runs happened (the minute's time-rule
    scan may run too, depending on the wall clock, and is not counted)."""

    def finished_runs() -> int:
        with engine.connect() as conn:
            return int(
                conn.scalar(
                    sa.select(sa.func.count())
                    .select_from(jobs)
                    .where(jobs.c.kind == RUN, jobs.c.state == "done")
                )
                or 0
            )

    before = finished_runs()
    worker = Worker(engine, job_handlers(workspace_on(engine)), SHANGHAI)
    while worker.run_once():
        pass
    return finished_runs() - before


def rule(client: TestClient, **document: Any) -> dict[str, Any]:
    response = client.post("/api/v1/rules", json=document)
    assert response.status_code == 201, response.text
    return response.json()


def record(client: TestClient, form: str, record_id: int) -> dict[str, Any]:
    return client.get(f"/api/v1/forms/{form}/records/{record_id}").json()


def test_a_created_record_that_meets_the_condition_gets_the_actions(
    crm: TestClient, engine: Engine
) -> None:
    big_deals = rule(
        crm,
        form_key="deal",
        label="大单标记",
        trigger={"type": "record_created"},
        condition="amount > 100000",
        actions=[{"type": "update", "values": {"priority": "高"}}],
    )
    big = crm.post("/api/v1/forms/deal/records", json={"name": "A", "amount": "500000"}).json()
    small = crm.post("/api/v1/forms/deal/records", json={"name": "B", "amount": "100"}).json()
    assert drain(engine) == 1
    assert record(crm, "deal", big["id"])["priority"] == "高"
    assert record(crm, "deal", small["id"])["priority"] is None
    [run] = crm.get(f"/api/v1/rules/{big_deals['id']}/runs").json()["items"]
    assert (run["record_id"], run["outcome"], run["trigger"]) == (
        big["id"],
        "succeeded",
        "record_created",
    )
    per_record = crm.get(f"/api/v1/forms/deal/records/{big['id']}/rule-runs").json()["items"]
    assert [r["id"] for r in per_record] == [run["id"]]


def test_conditions_on_the_record_and_across_links_decide_alike(
    crm: TestClient, engine: Engine
) -> None:
    """Own-field conditions are checked in Python at save time, link-reading ones in SQL;
    empty values and multi-selects follow the language's rules either way."""
    on_deal = rule(
        crm,
        form_key="deal",
        label="own fields",
        trigger={"type": "record_created"},
        condition='amount >= 1000 and not ISBLANK(stage) and "vip" in tags',
        actions=[{"type": "update", "values": {"priority": "高"}}],
    )
    on_task = rule(
        crm,
        form_key="task",
        label="across the link",
        trigger={"type": "record_created"},
        condition='deal.stage = "won" and deal.amount > 10',
        actions=[{"type": "update", "values": {"title": "跟进赢单"}}],
    )
    deals = [
        {"name": "pass", "amount": "1000", "stage": "won", "tags": ["vip"]},
        {"name": "no amount", "stage": "won", "tags": ["vip"]},
        {"name": "blank stage", "amount": "5000", "stage": "", "tags": ["vip"]},
        {"name": "no tag", "amount": "5000", "stage": "won", "tags": ["risk"]},
    ]
    ids = [crm.post("/api/v1/forms/deal/records", json=d).json()["id"] for d in deals]
    tasks = [
        crm.post("/api/v1/forms/task/records", json={"title": "t", "deal": deal_id}).json()["id"]
        for deal_id in (ids[0], ids[2], None)
    ]
    assert drain(engine) == 2
    assert [record(crm, "deal", i)["priority"] for i in ids] == ["高", None, None, None]
    assert [record(crm, "task", i)["title"] for i in tasks] == ["跟进赢单", "t", "t"]
    assert len(crm.get(f"/api/v1/rules/{on_deal['id']}/runs").json()["items"]) == 1
    assert len(crm.get(f"/api/v1/rules/{on_task['id']}/runs").json()["items"]) == 1


def test_a_field_change_creates_a_linked_record_with_computed_values(
    crm: TestClient, engine: Engine
) -> None:
    rule(
        crm,
        form_key="deal",
        label="赢单建交付任务",
        trigger={"type": "field_changed", "field": "stage", "to": ["won"]},
        actions=[
            {
                "type": "create",
                "form": "task",
                "link_field": "deal",
                "values": {"title": {"expr": 'CONCAT(name, " 交付")'}},
            }
        ],
    )
    deal = crm.post("/api/v1/forms/deal/records", json={"name": "华为云", "stage": "lead"}).json()
    url = f"/api/v1/forms/deal/records/{deal['id']}"
    crm.patch(url, json={"stage": "proposal"})
    assert drain(engine) == 0
    crm.patch(url, json={"stage": "won"})
    assert drain(engine) == 1
    [task] = crm.get("/api/v1/forms/task/records").json()["items"]
    assert (task["title"], task["deal"]) == ("华为云 交付", deal["id"])


def test_rules_that_trigger_each_other_are_stopped_at_the_depth_limit(
    crm: TestClient, engine: Engine
) -> None:
    loop = rule(
        crm,
        form_key="deal",
        label="自触发",
        trigger={"type": "record_updated"},
        actions=[{"type": "update", "values": {"counter": {"expr": "COALESCE(counter, 0) + 1"}}}],
    )
    deal = crm.post("/api/v1/forms/deal/records", json={"name": "X", "counter": 0}).json()
    crm.patch(f"/api/v1/forms/deal/records/{deal['id']}", json={"name": "Y"})
    assert drain(engine) == MAX_DEPTH
    assert record(crm, "deal", deal["id"])["counter"] == MAX_DEPTH
    runs = crm.get(f"/api/v1/rules/{loop['id']}/runs").json()["items"]
    outcomes = sorted(r["outcome"] for r in runs)
    assert outcomes == ["stopped"] + ["succeeded"] * MAX_DEPTH
    [stop] = [r for r in runs if r["outcome"] == "stopped"]
    assert "loop" in stop["error"] and stop["depth"] == MAX_DEPTH + 1


def test_a_date_relative_rule_fires_once_catches_up_and_re_arms(
    crm: TestClient, engine: Engine, now: list[datetime]
) -> None:
    today = now[0].astimezone(SHANGHAI).date()
    reminder = rule(
        crm,
        form_key="contract",
        label="到期前90天提醒",
        trigger={"type": "date_relative", "field": "end_date", "offset_days": -90},
        condition="ISBLANK(reminded) or reminded < 5",
        actions=[{"type": "update", "values": {"reminded": {"expr": "COALESCE(reminded, 0) + 1"}}}],
    )
    ids = {
        days: crm.post(
            "/api/v1/forms/contract/records",
            json={"title": f"{days}", "end_date": (today + timedelta(days)).isoformat()},
        ).json()["id"]
        for days in (30, 91, 100)
    }
    drain(engine)
    assert {d: record(crm, "contract", i)["reminded"] for d, i in ids.items()} == {
        30: None,
        91: None,
        100: None,
    }
    now[0] += timedelta(days=1)
    drain(engine)
    drain(engine)  # the same window again: nothing more
    assert {d: record(crm, "contract", i)["reminded"] for d, i in ids.items()} == {
        30: None,
        91: 1,
        100: None,
    }
    now[0] += timedelta(days=10)  # ten days without a worker: caught up in one scan
    drain(engine)
    assert record(crm, "contract", ids[100])["reminded"] == 1
    moved = (today + timedelta(days=11 + 92)).isoformat()
    crm.patch(f"/api/v1/forms/contract/records/{ids[91]}", json={"end_date": moved})
    now[0] += timedelta(days=2)
    drain(engine)
    assert record(crm, "contract", ids[91])["reminded"] == 2  # the new date re-armed it
    runs = crm.get(f"/api/v1/rules/{reminder['id']}/runs").json()["items"]
    assert [r["outcome"] for r in runs] == ["succeeded"] * 3


def test_a_dry_run_shows_what_would_happen_and_changes_nothing(crm: TestClient) -> None:
    draft = rule(
        crm,
        form_key="deal",
        label="试运行",
        trigger={"type": "record_updated"},
        condition="amount >= 1000",
        actions=[{"type": "update", "values": {"priority": {"expr": 'CONCAT("P-", name)'}}}],
        enabled=False,
    )
    deal = crm.post("/api/v1/forms/deal/records", json={"name": "Z", "amount": "2000"}).json()
    result = crm.post(f"/api/v1/rules/{draft['id']}/dry-run", json={"record_id": deal["id"]})
    assert result.status_code == 200, result.text
    body = result.json()
    assert body["condition"] is True
    assert body["actions"][0]["values"] == {"priority": "P-Z"}
    assert record(crm, "deal", deal["id"])["priority"] is None
    missing = crm.post(f"/api/v1/rules/{draft['id']}/dry-run", json={"record_id": 999999})
    assert missing.status_code == 404


def test_a_rule_is_checked_whole_when_saved(crm: TestClient) -> None:
    response = crm.post(
        "/api/v1/rules",
        json={
            "form_key": "deal",
            "label": "",
            "trigger": {"type": "field_changed", "field": "stagee"},
            "condition": "amout > 1",
            "actions": [
                {"type": "update", "values": {"nope": 1, "name": {"field": "zzz"}}},
                {"type": "create", "form": "task", "link_field": "title", "values": {"title": "x"}},
                {"type": "delete_everything"},
            ],
        },
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {
        "label",
        "trigger.field",
        "condition",
        "actions.0.values.nope",
        "actions.0.values.name.field",
        "actions.1.link_field",
        "actions.2.type",
    }
    assert crm.get("/api/v1/rules").json()["items"] == []


@pytest.fixture
def reps(workspace: Workspace) -> list[int]:
    with workspace.transaction() as conn:
        return [
            manage.add_user(
                conn,
                Actor.system(),
                email=f"rep{i}@acme.test",
                name=f"rep{i}",
                password="Passw0rd-long",
                passwords=workspace.passwords,
                roles=["member"],
                must_change_password=False,
            )["id"]
            for i in range(3)
        ]


def test_new_leads_are_assigned_by_territory_round_robin_or_load_with_the_reason(
    crm: TestClient, engine: Engine, reps: list[int]
) -> None:
    rule(
        crm,
        form_key="deal",
        label="按区域分配",
        trigger={"type": "record_created"},
        condition='stage = "lead"',
        actions=[
            {
                "type": "assign",
                "strategy": "territory",
                "field": "name",
                "territories": {"华东": reps[0], "华南": reps[1]},
                "default": reps[2],
                "reason_field": "priority",
            }
        ],
    )
    east = crm.post("/api/v1/forms/deal/records", json={"name": "华东", "stage": "lead"}).json()
    west = crm.post("/api/v1/forms/deal/records", json={"name": "西北", "stage": "lead"}).json()
    drain(engine)
    assert record(crm, "deal", east["id"])["owner_id"] == reps[0]
    assert record(crm, "deal", east["id"])["priority"] == "按区域分配 / territory: 华东"
    assert record(crm, "deal", west["id"])["owner_id"] == reps[2]
    history = crm.get(f"/api/v1/forms/deal/records/{east['id']}/history").json()["items"]
    assert history[-1]["changes"]["owner_id"][1] == reps[0]


def test_round_robin_takes_turns_and_least_loaded_fills_the_emptiest(
    crm: TestClient, engine: Engine, reps: list[int]
) -> None:
    rule(
        crm,
        form_key="task",
        label="轮询",
        trigger={"type": "record_created"},
        actions=[{"type": "assign", "strategy": "round_robin", "users": reps}],
    )
    tasks = [
        crm.post("/api/v1/forms/task/records", json={"title": f"t{i}"}).json() for i in range(4)
    ]
    drain(engine)
    assert [record(crm, "task", t["id"])["owner_id"] for t in tasks] == [*reps, reps[0]]
    rule(
        crm,
        form_key="deal",
        label="最少在手",
        trigger={"type": "record_created"},
        actions=[{"type": "assign", "strategy": "least_loaded", "users": reps}],
    )
    for owner in (reps[0], reps[0], reps[1]):
        crm.post("/api/v1/forms/deal/records", json={"name": "old", "owner_id": owner})
    drain(engine)  # the first goes to the empty third rep; the others stay: 1, 1, 1
    new = crm.post("/api/v1/forms/deal/records", json={"name": "new"}).json()
    drain(engine)
    owners = [d["owner_id"] for d in crm.get("/api/v1/forms/deal/records").json()["items"]]
    assert [owners.count(r) for r in reps] == [2, 1, 1]
    assert record(crm, "deal", new["id"])["owner_id"] == reps[0]  # a tie: the first listed


def test_a_scheduled_rule_tags_every_matching_record_at_each_occurrence(
    crm: TestClient, engine: Engine, now: list[datetime]
) -> None:
    weekly = rule(
        crm,
        form_key="deal",
        label="每日大单标记",
        trigger={"type": "schedule", "cron": "0 9 * * *"},
        condition="amount >= 1000",
        actions=[{"type": "tag", "field": "tags", "add": ["vip"], "remove": ["risk"]}],
    )
    big = crm.post(
        "/api/v1/forms/deal/records", json={"name": "big", "amount": "5000", "tags": ["risk"]}
    ).json()
    small = crm.post("/api/v1/forms/deal/records", json={"name": "small", "amount": "10"}).json()
    assert drain(engine) == 0
    local = now[0].astimezone(SHANGHAI)
    nine = local.replace(hour=9, minute=1, second=0, microsecond=0)
    now[0] = (nine if nine > local else nine + timedelta(days=1)).astimezone(now[0].tzinfo)
    drain(engine)
    assert record(crm, "deal", big["id"])["tags"] == ["vip"]
    assert record(crm, "deal", small["id"])["tags"] is None
    assert crm.post(f"/api/v1/rules/{weekly['id']}/disable").status_code == 200
    crm.patch(f"/api/v1/forms/deal/records/{small['id']}", json={"amount": "9000"})
    now[0] += timedelta(days=1)
    drain(engine)
    assert record(crm, "deal", small["id"])["tags"] is None
    runs = crm.get(f"/api/v1/rules/{weekly['id']}/runs").json()["items"]
    assert [(r["record_id"], r["trigger"]) for r in runs] == [(big["id"], "schedule")]
    bad = crm.post(
        "/api/v1/rules",
        json={
            "form_key": "deal",
            "label": "x",
            "trigger": {"type": "schedule", "cron": "每天九点"},
            "actions": [{"type": "tag", "field": "name", "add": ["vip"]}],
        },
    )
    assert {e["field"] for e in bad.json()["errors"]} == {"trigger.cron", "actions.0.field"}


def test_inactivity_counts_linked_records_as_activity(
    crm: TestClient, engine: Engine, now: list[datetime]
) -> None:
    rule(
        crm,
        form_key="deal",
        label="30 天无跟进",
        trigger={
            "type": "no_activity",
            "days": 30,
            "activity": {"form": "task", "link_field": "deal"},
        },
        actions=[{"type": "tag", "field": "tags", "add": ["risk"]}],
    )
    quiet = crm.post("/api/v1/forms/deal/records", json={"name": "quiet"}).json()
    busy = crm.post("/api/v1/forms/deal/records", json={"name": "busy"}).json()
    task = crm.post("/api/v1/forms/task/records", json={"title": "回访", "deal": busy["id"]}).json()
    with engine.begin() as conn:  # the follow-up was logged on day 20
        conn.execute(
            sa.text("UPDATE data_task SET created_at = :at WHERE id = :id"),
            {"at": now[0] + timedelta(days=20), "id": task["id"]},
        )
    now[0] += timedelta(days=31)
    drain(engine)
    assert record(crm, "deal", quiet["id"])["tags"] == ["risk"]
    assert record(crm, "deal", busy["id"])["tags"] is None
    now[0] += timedelta(days=20)
    drain(engine)
    assert record(crm, "deal", busy["id"])["tags"] == ["risk"]
    bad = crm.post(
        "/api/v1/rules",
        json={
            "form_key": "deal",
            "label": "x",
            "trigger": {
                "type": "no_activity",
                "days": 3,
                "activity": {"form": "task", "link_field": "title"},
            },
            "actions": [{"type": "tag", "field": "tags", "add": ["risk"]}],
        },
    )
    assert [e["field"] for e in bad.json()["errors"]] == ["trigger.activity"]


def test_a_time_rule_reports_how_many_records_it_fired_for(
    crm: TestClient, engine: Engine, now: list[datetime]
) -> None:
    reminder = rule(
        crm,
        form_key="contract",
        label="到期前 90 天",
        trigger={"type": "date_relative", "field": "end_date", "offset_days": -90},
        actions=[{"type": "update", "values": {"reminded": 1}}],
    )
    today = now[0].astimezone(SHANGHAI).date()
    for days in (91, 91, 95):
        end = (today + timedelta(days)).isoformat()
        crm.post("/api/v1/forms/contract/records", json={"title": "c", "end_date": end})
    with engine.begin() as conn:
        row = conn.execute(sa.select(rules).where(rules.c.id == reminder["id"])).one()
        assert fire_time_rule(conn, row, now[0] + timedelta(days=1), SHANGHAI) == 2
        row = conn.execute(sa.select(rules).where(rules.c.id == reminder["id"])).one()
        assert fire_time_rule(conn, row, now[0] + timedelta(days=1), SHANGHAI) == 0


def queued_runs(engine: Engine) -> list[int]:
    """The records that rule runs are waiting for, in order."""
    with engine.connect() as conn:
        payloads = conn.scalars(
            sa.select(jobs.c.payload).where(jobs.c.kind == RUN).order_by(jobs.c.id)
        ).all()
    return [payload["record_id"] for payload in payloads]


def test_switching_a_rule_off_and_on_takes_effect_at_the_next_save(
    crm: TestClient, engine: Engine
) -> None:
    won = rule(
        crm,
        form_key="deal",
        label="赢单",
        trigger={"type": "record_updated"},
        condition='stage = "won"',
        actions=[{"type": "update", "values": {"priority": "高"}}],
    )
    deal = crm.post("/api/v1/forms/deal/records", json={"name": "A"}).json()

    def save(stage: str) -> None:
        response = crm.patch(f"/api/v1/forms/deal/records/{deal['id']}", json={"stage": stage})
        assert response.status_code == 200, response.text

    save("won")
    assert queued_runs(engine) == [deal["id"]]
    assert crm.post(f"/api/v1/rules/{won['id']}/disable").status_code == 200
    save("lead")
    save("won")
    assert queued_runs(engine) == [deal["id"]]
    assert crm.post(f"/api/v1/rules/{won['id']}/enable").status_code == 200
    save("lost")
    save("won")
    assert queued_runs(engine) == [deal["id"], deal["id"]]


def test_each_database_runs_its_own_rules_in_one_process(
    crm: TestClient, engine: Engine, tmp_path: Path
) -> None:
    """Cached rules belong to the database they were read from: a second database with the
    same form and a rule of another condition decides by its own rule."""
    other = create_workspace(Settings(data_dir=tmp_path / "other", database_url=""))
    system = Actor.system()
    with other.transaction() as conn:
        create_app(conn=conn, actor=system, app=App(key="crm", label="CRM"))
        form = parse_model(
            Form,
            {
                "key": "deal",
                "app_key": "crm",
                "label": "商机",
                "fields": [{"key": "amount", "label": "金额", "type": "money"}],
            },
        )
        create_form(conn=conn, actor=system, form=form)
    for client_or_db, threshold in ((crm, 100), (other, 1000)):
        document = {
            "form_key": "deal",
            "label": f"超过 {threshold}",
            "trigger": {"type": "record_updated"},
            "condition": f"amount > {threshold}",
            "actions": [{"type": "update", "values": {"amount": "1"}}],
        }
        if isinstance(client_or_db, TestClient):
            rule(client_or_db, **document)
        else:
            with other.transaction() as conn:
                create_rule(conn, system, document)
    here = crm.post("/api/v1/forms/deal/records", json={"amount": "1"}).json()["id"]
    with other.transaction() as conn:
        [there] = bulk.create_records(
            conn=conn, actor=system, form=get_form(conn, "deal"), items=[{"amount": "1"}]
        )
    assert crm.patch(f"/api/v1/forms/deal/records/{here}", json={"amount": "500"}).is_success
    with other.transaction() as conn:
        service.update_record(
            conn=conn,
            actor=system,
            form=get_form(conn, "deal"),
            record_id=there,
            values={"amount": "500"},
        )
    assert queued_runs(engine) == [here]
    assert queued_runs(other.engine) == []
    other.engine.dispose()


def test_a_bulk_owner_transfer_checks_conditions_against_the_stored_records(
    crm: TestClient, engine: Engine, reps: list[int]
) -> None:
    rule(
        crm,
        form_key="deal",
        label="赢单换人",
        trigger={"type": "field_changed", "field": "owner_id"},
        condition='stage = "won"',
        actions=[{"type": "update", "values": {"priority": "高"}}],
    )
    won, lead = (
        crm.post("/api/v1/forms/deal/records", json={"name": name, "stage": stage}).json()["id"]
        for name, stage in (("A", "won"), ("B", "lead"))
    )
    response = crm.post(
        "/api/v1/forms/deal/records/transfer", json={"ids": [won, lead], "owner_id": reps[0]}
    )
    assert response.json() == {"transferred": 2}, response.text
    assert queued_runs(engine) == [won]


def test_a_changed_rule_decides_by_its_new_condition_and_bad_changes_change_nothing(
    crm: TestClient, engine: Engine
) -> None:
    document: dict[str, Any] = {
        "form_key": "deal",
        "label": "大单",
        "trigger": {"type": "record_updated"},
        "condition": "amount > 1000",
        "actions": [{"type": "update", "values": {"priority": "高"}}],
    }
    big = rule(crm, **document)
    deal = crm.post("/api/v1/forms/deal/records", json={"name": "A"}).json()["id"]
    assert crm.patch(f"/api/v1/forms/deal/records/{deal}", json={"amount": "500"}).is_success
    assert queued_runs(engine) == []

    changed = crm.put(f"/api/v1/rules/{big['id']}", json={**document, "condition": "amount > 100"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["condition"] == "amount > 100"
    assert crm.patch(f"/api/v1/forms/deal/records/{deal}", json={"amount": "600"}).is_success
    assert queued_runs(engine) == [deal]

    bad = crm.put(
        f"/api/v1/rules/{big['id']}",
        json={**document, "condition": "amount >", "actions": [{"type": "explode"}]},
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"condition", "actions.0.type"}
    moved = crm.put(f"/api/v1/rules/{big['id']}", json={**document, "form_key": "task"})
    assert moved.status_code == 422
    assert moved.json()["errors"][0]["field"] == "form_key"
    assert crm.get(f"/api/v1/rules/{big['id']}").json()["condition"] == "amount > 100"
    assert crm.put("/api/v1/rules/999999", json=document).status_code == 404


def test_a_deleted_rule_stops_and_its_queued_runs_do_nothing(
    crm: TestClient, engine: Engine
) -> None:
    doomed = rule(
        crm,
        form_key="deal",
        label="标记",
        trigger={"type": "record_created"},
        actions=[{"type": "update", "values": {"priority": "高"}}],
    )
    queued = crm.post("/api/v1/forms/deal/records", json={"name": "A"}).json()["id"]
    assert queued_runs(engine) == [queued]
    assert crm.delete(f"/api/v1/rules/{doomed['id']}").status_code == 204
    assert crm.get(f"/api/v1/rules/{doomed['id']}").status_code == 404
    assert crm.delete(f"/api/v1/rules/{doomed['id']}").status_code == 404
    later = crm.post("/api/v1/forms/deal/records", json={"name": "B"}).json()["id"]
    drain(engine)
    assert queued_runs(engine) == [queued]
    assert record(crm, "deal", queued)["priority"] is None
    assert record(crm, "deal", later)["priority"] is None


def test_a_records_rule_runs_stay_listed_after_the_rule_is_deleted(
    crm: TestClient, engine: Engine
) -> None:
    marking = rule(
        crm,
        form_key="deal",
        label="标记",
        trigger={"type": "record_created"},
        actions=[{"type": "update", "values": {"priority": "高"}}],
    )
    deal = crm.post("/api/v1/forms/deal/records", json={"name": "A"}).json()["id"]
    assert drain(engine) == 1
    url = f"/api/v1/forms/deal/records/{deal}/rule-runs"
    [run] = crm.get(url).json()["items"]
    assert (run["rule_id"], run["form_key"], run["outcome"]) == (marking["id"], "deal", "succeeded")
    assert crm.delete(f"/api/v1/rules/{marking['id']}").status_code == 204
    assert [r["id"] for r in crm.get(url).json()["items"]] == [run["id"]]
    assert crm.get("/api/v1/forms/task/records/1/rule-runs").json()["items"] == []


def test_changing_a_date_rule_starts_it_afresh_from_now(
    crm: TestClient, engine: Engine, now: list[datetime]
) -> None:
    document: dict[str, Any] = {
        "form_key": "contract",
        "label": "到期提醒",
        "trigger": {"type": "date_relative", "field": "end_date", "offset_days": -30},
        "actions": [{"type": "update", "values": {"reminded": {"expr": "reminded + 1"}}}],
    }
    reminder = rule(crm, **document)
    today = now[0].astimezone(SHANGHAI).date()
    contract = crm.post(
        "/api/v1/forms/contract/records",
        json={"title": "C", "end_date": (today + timedelta(days=31)).isoformat(), "reminded": 0},
    ).json()["id"]
    now[0] += timedelta(days=1)
    drain(engine)
    assert record(crm, "contract", contract)["reminded"] == 1

    earlier = {**document, "trigger": {**document["trigger"], "offset_days": -35}}
    assert crm.put(f"/api/v1/rules/{reminder['id']}", json=earlier).status_code == 200
    now[0] += timedelta(days=1)
    drain(engine)  # its new moment has passed: nothing fires for the past
    assert record(crm, "contract", contract)["reminded"] == 1

    later = {**document, "trigger": {**document["trigger"], "offset_days": -20}}
    assert crm.put(f"/api/v1/rules/{reminder['id']}", json=later).status_code == 200
    now[0] += timedelta(days=10)
    drain(engine)
    drain(engine)
    assert record(crm, "contract", contract)["reminded"] == 2


def test_rules_sharing_a_guard_fire_exactly_where_their_conditions_hold(
    crm: TestClient, engine: Engine
) -> None:
    """Rules whose conditions start alike (``stage = "won" and …``) are skipped together when
    the shared part fails; every rule still fires exactly where its own condition holds."""
    conditions = [
        'stage = "won" and amount > 100',
        'stage = "won" and amount > 1000',
        'amount > 500 and stage = "won"',
        'stage = "lost" and amount > 100',
        'stage = "lost" or amount > 5000',
        "amount > 2000",
        "",
    ]
    made = [
        rule(
            crm,
            form_key="deal",
            label=f"r{i}",
            trigger={"type": "record_updated"},
            condition=condition,
            actions=[{"type": "update", "values": {"priority": "高"}}],
        )["id"]
        for i, condition in enumerate(conditions)
    ]
    cases = [("won", "50"), ("won", "800"), ("won", "3000"), ("lost", "200"), ("lead", "9000")]
    ids = [
        crm.post("/api/v1/forms/deal/records", json={"name": f"D{i}"}).json()["id"]
        for i in range(5)
    ]
    with engine.begin() as conn:
        conn.execute(jobs.delete())
    for record_id, (stage, amount) in zip(ids, cases, strict=True):
        response = crm.patch(
            f"/api/v1/forms/deal/records/{record_id}", json={"stage": stage, "amount": amount}
        )
        assert response.status_code == 200, response.text

    def holds(condition: str, stage: str, amount: str) -> bool:
        number = float(amount)
        return {
            conditions[0]: stage == "won" and number > 100,
            conditions[1]: stage == "won" and number > 1000,
            conditions[2]: number > 500 and stage == "won",
            conditions[3]: stage == "lost" and number > 100,
            conditions[4]: stage == "lost" or number > 5000,
            conditions[5]: number > 2000,
            "": True,
        }[condition]

    expected = sorted(
        (rule_id, record_id)
        for record_id, (stage, amount) in zip(ids, cases, strict=True)
        for rule_id, condition in zip(made, conditions, strict=True)
        if holds(condition, stage, amount)
    )
    with engine.connect() as conn:
        payloads = conn.scalars(sa.select(jobs.c.payload).where(jobs.c.kind == RUN)).all()
    assert sorted((p["rule_id"], p["record_id"]) for p in payloads) == expected


def test_a_bulk_creation_runs_guarded_rules_for_exactly_the_records_that_meet_them(
    crm: TestClient, engine: Engine
) -> None:
    """Many records in one write: the guard passes for some of them, and each rule still runs
    only for the records its own condition holds for."""
    rule(
        crm,
        form_key="deal",
        label="大额赢单",
        trigger={"type": "record_created"},
        condition='stage = "won" and amount > 100',
        actions=[{"type": "update", "values": {"priority": "高"}}],
    )
    items = [
        {"name": "A", "stage": "won", "amount": "500"},
        {"name": "B", "stage": "lead", "amount": "500"},
        {"name": "C", "stage": "won", "amount": "50"},
        {"name": "D", "stage": "won", "amount": "101"},
    ]
    response = crm.post("/api/v1/forms/deal/records/bulk", json={"items": items})
    assert response.status_code == 201, response.text
    ids = response.json()["ids"]
    assert queued_runs(engine) == [ids[0], ids[3]]
    assert drain(engine) == 2
    assert [record(crm, "deal", i)["priority"] for i in ids] == ["高", None, None, "高"]


def test_a_bulk_delete_runs_deletion_rules_for_the_records_that_meet_them(
    crm: TestClient, engine: Engine
) -> None:
    rule(
        crm,
        form_key="deal",
        label="删除大单时建任务",
        trigger={"type": "record_deleted"},
        condition="amount > 100",
        actions=[
            {
                "type": "create",
                "form": "task",
                "values": {"title": {"expr": 'CONCAT("复核 ", name)'}},
            }
        ],
    )
    items = [{"name": n, "amount": a} for n, a in (("A", "500"), ("B", "50"), ("C", "101"))]
    ids = crm.post("/api/v1/forms/deal/records/bulk", json={"items": items}).json()["ids"]
    assert queued_runs(engine) == []
    deleted = crm.post("/api/v1/forms/deal/records/delete", json={"ids": ids})
    assert deleted.status_code == 200, deleted.text
    assert queued_runs(engine) == [ids[0], ids[2]]
    assert drain(engine) == 2
    tasks = crm.get("/api/v1/forms/task/records", params={"sort": "title"}).json()["items"]
    assert [t["title"] for t in tasks] == ["复核 A", "复核 C"]
