"""Whom "notify the manager" reaches: the reports-to manager, the head (负责人) of the owner's
department, heads further up — and a run that reaches nobody is a warning, not a success."""

from __future__ import annotations

from collections.abc import Iterator
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
from tests.conftest import workspace_on


@pytest.fixture
def org(client: TestClient, workspace: Workspace) -> Iterator[dict[str, int]]:
    """销售中心 (head 李总) ⊃ 华东销售部 (head 王经理) ⊃ 上海组 (no head); reps in each."""
    client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"})
    form = {
        "key": "contract",
        "label": "合同",
        "fields": [{"key": "title", "label": "标题", "type": "text"}],
    }
    assert client.post("/api/v1/apps/crm/forms", json=form).status_code == 201
    people: dict[str, int] = {}
    with workspace.transaction() as conn:
        for key, name in (
            ("li", "李总"),
            ("wang", "王经理"),
            ("rep", "张三"),
            ("loner", "赵六"),
            ("boss_rep", "钱七"),
        ):
            people[key] = manage.add_user(
                conn,
                Actor.system(),
                email=f"{key}@acme.test",
                name=name,
                password="Passw0rd-long",
                passwords=workspace.passwords,
                roles=["member"],
                must_change_password=False,
            )["id"]
        centre = organisation.create_department(conn=conn, name="销售中心", manager_id=people["li"])
        east = organisation.create_department(
            conn=conn, name="华东销售部", parent_id=centre, manager_id=people["wang"]
        )
        shanghai = organisation.create_department(conn=conn, name="上海组", parent_id=east)
        organisation.set_user_departments(conn, people["rep"], shanghai)
        organisation.set_user_departments(conn, people["wang"], east)
        organisation.set_user_departments(conn, people["boss_rep"], east)
        people.update(centre=centre, east=east, shanghai=shanghai)
    yield people


def rule(client: TestClient, **notify: Any) -> int:
    created = client.post(
        "/api/v1/rules",
        json={
            "form_key": "contract",
            "label": "提醒负责人",
            "trigger": {"type": "record_created"},
            "actions": [{"type": "notify", "title": "新合同", **notify}],
        },
    )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def run_jobs(engine: Engine) -> None:
    worker = Worker(engine, job_handlers(workspace_on(engine)), ZoneInfo("Asia/Shanghai"))
    while worker.run_once():
        pass


def told(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return sorted(conn.scalars(sa.select(notifications.c.user_id)))


def contract_of(client: TestClient, owner: int) -> int:
    made = client.post("/api/v1/forms/contract/records", json={"title": "机柜", "owner_id": owner})
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def test_the_department_head_is_found_up_the_tree_past_departments_without_one(
    client: TestClient, engine: Engine, org: dict[str, int]
) -> None:
    rule(client, to="department_head")
    contract_of(client, org["rep"])  # 上海组 has no head: 华东销售部's 王经理
    contract_of(client, org["wang"])  # the head of 华东 is told by the head above: 李总
    run_jobs(engine)
    assert told(engine) == sorted([org["wang"], org["li"]])


def test_heads_levels_up_and_manager_falls_back_from_reports_to_to_the_head(
    client: TestClient, workspace: Workspace, engine: Engine, org: dict[str, int]
) -> None:
    rule(client, to="department_head", levels=2)
    contract_of(client, org["rep"])  # two heads up from 上海组: 李总
    run_jobs(engine)
    assert told(engine) == [org["li"]]
    with workspace.transaction() as conn:
        conn.execute(notifications.delete())
    with workspace.read() as conn:
        assert organisation.department_head_above(conn, org["rep"], 3) is None
    second = rule(client, to="manager")
    client.post(f"/api/v1/rules/{second - 1}/disable")
    contract_of(client, org["rep"])  # no reports-to set: the head of the department
    run_jobs(engine)
    assert told(engine) == [org["wang"]]
    with workspace.transaction() as conn:
        conn.execute(notifications.delete())
        manage.update_user(conn, Actor.system(), org["rep"], {"manager_id": org["li"]})
    contract_of(client, org["rep"])  # reports-to, when set, comes first
    run_jobs(engine)
    assert told(engine) == [org["li"]]


def test_a_run_that_reaches_nobody_is_a_warning_with_its_reason(
    client: TestClient, engine: Engine, org: dict[str, int]
) -> None:
    rule_id = rule(client, to="department_head")
    lonely = contract_of(client, org["loner"])  # in no department
    run_jobs(engine)
    assert told(engine) == []
    [run] = client.get(f"/api/v1/rules/{rule_id}/runs").json()["items"]
    assert run["outcome"] == "warning" and run["record_id"] == lonely
    assert run["actions"][0]["warning"] == "no_recipients"
    assert run["actions"][0]["reason"] == "no_department_head"
    reached = rule(client, to="reports_to")
    client.post(f"/api/v1/rules/{rule_id}/disable")
    contract_of(client, org["rep"])
    run_jobs(engine)
    [run] = client.get(f"/api/v1/rules/{reached}/runs").json()["items"]
    assert (run["outcome"], run["actions"][0]["reason"]) == ("warning", "no_manager")


def test_a_bad_level_is_refused_when_the_rule_is_saved(
    client: TestClient, org: dict[str, int]
) -> None:
    for levels in (0, 11, "2", True):
        refused = client.post(
            "/api/v1/rules",
            json={
                "form_key": "contract",
                "label": "x",
                "trigger": {"type": "record_created"},
                "actions": [
                    {"type": "notify", "to": "department_head", "levels": levels, "title": "x"}
                ],
            },
        )
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["field"] == "actions.0.levels"
