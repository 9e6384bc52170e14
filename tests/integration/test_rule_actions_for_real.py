"""Rule actions as a real run performs them: a dry run meets every check a run would meet
(required, unique, parsing) and writes nothing; a created record belongs to the triggering
record's owner unless the action names another (a user, a user field, a strategy)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from meridian.access import manage, organisation
from meridian.core.actor import Actor
from meridian.db.tables import jobs, notifications, rule_runs
from meridian.http.deps import Workspace
from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import Worker
from tests.conftest import workspace_on


@pytest.fixture
def crm(client: TestClient, workspace: Workspace) -> dict[str, Any]:
    client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"})
    forms = [
        {
            "key": "customer",
            "label": "客户",
            "fields": [
                {"key": "name", "label": "名称", "type": "text"},
                {"key": "csm", "label": "客户成功经理", "type": "user"},
            ],
        },
        {
            "key": "task",
            "label": "任务",
            "fields": [
                {"key": "title", "label": "标题", "type": "text", "required": True},
                {"key": "due", "label": "截止", "type": "date", "required": True},
                {"key": "code", "label": "编号", "type": "text", "unique": True},
                {"key": "customer", "label": "客户", "type": "link", "target": "customer"},
            ],
        },
    ]
    for form in forms:
        assert client.post("/api/v1/apps/crm/forms", json=form).status_code == 201
    people: dict[str, Any] = {}
    with workspace.transaction() as conn:
        for key in ("rep", "csm", "a", "b"):
            people[key] = manage.add_user(
                conn,
                Actor.system(),
                email=f"user-{key}@acme.test",
                name=key,
                password="Passw0rd-long",
                passwords=workspace.passwords,
                roles=["member"],
                must_change_password=False,
            )["id"]
        team = organisation.create_department(conn=conn, name="客服组")
        for key in ("a", "b"):
            organisation.set_user_departments(conn, people[key], team)
        people["team"] = team
    return people


def rule(client: TestClient, *actions: dict[str, Any]) -> int:
    made = client.post(
        "/api/v1/rules",
        json={
            "form_key": "customer",
            "label": "建任务",
            "trigger": {"type": "record_created"},
            "actions": list(actions),
        },
    )
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def run_jobs(engine: Engine) -> None:
    worker = Worker(engine, job_handlers(workspace_on(engine)), ZoneInfo("Asia/Shanghai"))
    while worker.run_once():
        pass


def counts(engine: Engine) -> tuple[int, ...]:
    with engine.connect() as conn:
        return tuple(
            int(conn.scalar(sa.select(sa.func.count()).select_from(t)) or 0)
            for t in (sa.table("data_task"), jobs, notifications, rule_runs)
        )


def test_a_dry_run_shows_each_action_that_would_fail_and_why_and_writes_nothing(
    client: TestClient, engine: Engine, crm: dict[str, Any]
) -> None:
    client.post(
        "/api/v1/forms/task/records", json={"title": "已有", "due": "2027-01-01", "code": "T-1"}
    )
    rule_id = rule(
        client,
        {"type": "create", "form": "task", "values": {"title": "回访"}},  # no due: required
        {"type": "create", "form": "task", "values": {"title": "x", "due": "2027-02-30"}},
        {
            "type": "create",
            "form": "task",
            "values": {"title": "y", "due": "2027-01-02", "code": "T-1"},
        },
        {
            "type": "create",
            "form": "task",
            "link_field": "customer",
            "values": {"title": "好的", "due": "2027-01-03", "code": "T-2"},
        },
        {"type": "notify", "to": "owner", "title": "新客户"},
    )
    client.post(f"/api/v1/rules/{rule_id}/disable")
    customer = client.post(
        "/api/v1/forms/customer/records", json={"name": "云栖", "owner_id": crm["rep"]}
    ).json()
    before = counts(engine)
    dry = client.post(f"/api/v1/rules/{rule_id}/dry-run", json={"record_id": customer["id"]})
    assert dry.status_code == 200, dry.text
    body = dry.json()
    assert body["would_fail"] is True
    fails = [a["would_fail"] for a in body["actions"]]
    assert fails == [True, True, True, False, False]
    problems = [a.get("problem", {}).get("errors", []) for a in body["actions"]]
    assert [(e["field"], e["code"]) for e in problems[0]] == [("due", "required")]
    assert problems[1][0]["field"] == "due"
    assert [(e["field"], e["code"]) for e in problems[2]] == [("code", "duplicate")]
    assert body["actions"][3]["result"]["owner_id"] == crm["rep"]
    assert body["actions"][4]["result"]["recipients"] == 1
    assert counts(engine) == before  # the trial wrote nothing, queued nothing, told nobody


def test_a_created_record_belongs_to_the_triggering_owner_unless_the_action_names_another(
    client: TestClient, engine: Engine, crm: dict[str, Any]
) -> None:
    task = {"type": "create", "form": "task", "link_field": "customer"}
    rule(
        client,
        {**task, "values": {"title": "默认", "due": "2027-01-01"}},
        {**task, "values": {"title": "指定人", "due": "2027-01-01"}, "owner": {"user": crm["a"]}},
        {**task, "values": {"title": "字段", "due": "2027-01-01"}, "owner": {"field": "csm"}},
        {
            **task,
            "values": {"title": "轮询", "due": "2027-01-01"},
            "owner": {"strategy": "round_robin", "department": crm["team"]},
        },
        {
            **task,
            "values": {"title": "最少", "due": "2027-01-01"},
            "owner": {"strategy": "least_loaded", "role": "member"},
        },
    )
    owners: dict[str, list[int]] = {}
    for name in ("云栖", "华数"):
        client.post(
            "/api/v1/forms/customer/records",
            json={"name": name, "owner_id": crm["rep"], "csm": crm["csm"]},
        )
        run_jobs(engine)
    for item in client.get("/api/v1/forms/task/records", params={"limit": 50}).json()["items"]:
        owners.setdefault(item["title"], []).append(item["owner_id"])
    assert owners["默认"] == [crm["rep"], crm["rep"]]
    assert owners["指定人"] == [crm["a"], crm["a"]]
    assert owners["字段"] == [crm["csm"], crm["csm"]]
    assert sorted(owners["轮询"]) == sorted([crm["a"], crm["b"]])  # turns in the department
    # Least loaded among the role: never someone who already owns more tasks than another.
    assert len(set(owners["最少"])) == 2


def test_bad_owner_choices_are_refused_when_the_rule_is_saved(
    client: TestClient, crm: dict[str, Any]
) -> None:
    task = {"type": "create", "form": "task", "values": {"title": "x"}}
    for owner, field in (
        ({"user": 999999}, "actions.0.owner.user"),
        ({"field": "name"}, "actions.0.owner.field"),
        ({"strategy": "round_robin", "department": 999999}, "actions.0.owner.department"),
        ({"strategy": "least_loaded", "role": "nope"}, "actions.0.owner.role"),
        ({"strategy": "dice", "users": [crm["a"]]}, "actions.0.owner.strategy"),
        ({"user": crm["a"], "field": "csm"}, "actions.0.owner"),
    ):
        refused = client.post(
            "/api/v1/rules",
            json={
                "form_key": "customer",
                "label": "x",
                "trigger": {"type": "record_created"},
                "actions": [{**task, "owner": owner}],
            },
        )
        assert refused.status_code == 422, owner
        assert field in {e["field"] for e in refused.json()["errors"]}, refused.json()


def test_one_person_resolver_checks_owners_assignees_and_submitters_alike(
    client: TestClient, crm: dict[str, Any]
) -> None:
    """A task's assignee and an approval's submitter are named as a created record's owner
    is (rules/owners.py): a user who does not exist and a field that holds no user are
    refused at the key that is wrong, in the caller's language."""
    actions = (
        ({"type": "create_task", "title": "x", "assignee": {"user": 999999}}, "assignee.user"),
        ({"type": "create_task", "title": "x", "assignee": 999999}, "assignee"),
        ({"type": "create_task", "title": "x", "assignee": {"field": "name"}}, "assignee.field"),
        (
            {"type": "create_task", "title": "x", "assignee": {"strategy": "round_robin"}},
            "assignee",
        ),
        ({"type": "create", "form": "task", "values": {"title": "x"}, "owner": 999999}, "owner"),
    )
    for action, where in actions:
        refused = client.post(
            "/api/v1/rules",
            headers={"Accept-Language": "zh-CN"},
            json={
                "form_key": "customer",
                "label": "x",
                "trigger": {"type": "record_created"},
                "actions": [action],
            },
        )
        assert refused.status_code == 422, action
        errors = {e["field"]: e for e in refused.json()["errors"]}
        assert f"actions.0.{where}" in errors, refused.json()
        message = errors[f"actions.0.{where}"]["message"]
        assert message in ("没有这个用户", "请选择一个单人的用户字段") or message.startswith("应为")
