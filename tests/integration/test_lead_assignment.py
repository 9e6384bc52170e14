"""The IDC solution's new-lead rule: a valid lead goes to the sales department of its
customer's region (the least-loaded rep there), else to whoever of the sales staff has the
fewest opportunities, and the first follow-up task is the new owner's."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from meridian.access import manage, organisation
from meridian.access.actors import load_actor
from meridian.core.actor import Actor
from meridian.db.tables import departments, rule_runs
from meridian.http.deps import Workspace
from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import Worker
from meridian.records import service
from meridian.schema.catalog import get_form
from meridian.solutions import idc_crm
from meridian.solutions.idc_crm.team import seed_sales_team
from meridian.solutions.loader import install_solution
from meridian.web.i18n import Translator
from meridian.web.rule_words import RuleWords, Vocabulary
from tests.conftest import workspace_on

from .test_shipped_rules import SHANGHAI


def _made(client: TestClient, form: str, **values: Any) -> dict[str, Any]:
    response = client.post(f"/api/v1/forms/{form}/records", json=values)
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.fixture
def sales(client: TestClient, workspace: Workspace, engine: Engine, admin: Actor) -> dict[str, int]:
    """华东 has one rep, 华南 two (the first already busy); 李闲 is in no sales department and
    has nothing (and the lowest id of the new members, so he wins a tie); everyone else with
    the member role has an open opportunity."""
    app, forms = idc_crm.load_package()
    assert install_solution(engine, Actor.system(), app, forms, idc_crm.load_rules())
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
            for key, name in (
                ("idle", "李闲"),
                ("east", "张东"),
                ("south_busy", "王南"),
                ("south_free", "赵南"),
            )
        }
        east = organisation.create_department(conn=conn, name="华东销售部")
        south = organisation.create_department(conn=conn, name="华南销售部")
        organisation.set_user_departments(conn, people["east"], east)
        organisation.set_user_departments(conn, people["south_busy"], south)
        organisation.set_user_departments(conn, people["south_free"], south)
    assert admin.user_id is not None
    customer = _made(client, "customer", name="既有客户")["id"]
    for owner in (admin.user_id, people["east"], people["south_busy"]):
        # Open opportunities past the lead stage: load, not new leads.
        _made(
            client, "opportunity", name="在谈", stage="interest", customer=customer, owner_id=owner
        )
    people["admin"] = admin.user_id
    return people


def _lead_of(client: TestClient, engine: Engine, region: str | None, owner: int) -> dict[str, Any]:
    """A new lead of a customer in ``region``, entered as ``owner``'s, after the worker ran."""
    values = {"name": f"客户 {region}"} | ({"region": region} if region else {})
    customer = _made(client, "customer", **values)
    lead = _made(
        client, "opportunity", name=f"机柜 {region}", customer=customer["id"], owner_id=owner
    )
    worker = Worker(engine, job_handlers(workspace_on(engine)), SHANGHAI)
    while worker.run_once():
        pass
    assigned = client.get(f"/api/v1/forms/opportunity/records/{lead['id']}").json()
    tasks = client.get(
        "/api/v1/tasks", params={"form": "opportunity", "record_id": lead["id"], "mine": False}
    ).json()["items"]
    return {"owner_id": assigned["owner_id"], "tasks": tasks}


def test_a_lead_goes_to_its_region_and_the_follow_up_task_to_the_new_owner(
    client: TestClient, engine: Engine, sales: dict[str, int]
) -> None:
    # 上海浦东 (310115) is 华东: its only rep, although he already has an opportunity.
    east = _lead_of(client, engine, "310115", sales["admin"])
    assert east["owner_id"] == sales["east"]
    assert [t["assignee_id"] for t in east["tasks"]] == [sales["east"]]
    # 深圳南山 (440305) is 华南: the rep there with less in hand.
    south = _lead_of(client, engine, "440305", sales["admin"])
    assert south["owner_id"] == sales["south_free"]
    assert [t["assignee_id"] for t in south["tasks"]] == [sales["south_free"]]


def test_a_lead_no_territory_takes_goes_to_the_least_loaded_member(
    client: TestClient, engine: Engine, sales: dict[str, int]
) -> None:
    # 成都 (510100) is 西部, which has no department in this workspace; no region at all is no
    # territory either: both go by load, and 李闲 has the least (then it is his, so the next
    # goes to the next least loaded, 赵南).
    west = _lead_of(client, engine, "510100", sales["admin"])
    assert west["owner_id"] == sales["idle"]
    assert [t["assignee_id"] for t in west["tasks"]] == [sales["idle"]]
    nowhere = _lead_of(client, engine, None, sales["admin"])
    assert nowhere["owner_id"] == sales["south_free"]
    assert [t["assignee_id"] for t in nowhere["tasks"]] == [sales["south_free"]]


def test_a_territory_assignment_is_checked_when_the_rule_is_saved(
    client: TestClient, engine: Engine
) -> None:
    app, forms = idc_crm.load_package()
    assert install_solution(engine, Actor.system(), app, forms, [])
    bad = client.post(
        "/api/v1/rules",
        json={
            "form_key": "opportunity",
            "label": "坏的分配",
            "trigger": {"type": "record_created"},
            "actions": [
                {
                    "type": "assign",
                    "strategy": "territory",
                    "field": "customer.nowhere",
                    "match": "fuzzy",
                    "territories": {"31": {"department": ""}, "44": {"team": 3}},
                    "default": {"strategy": "by_mood", "role": "member"},
                }
            ],
        },
    )
    assert bad.status_code == 422, bad.text
    fields = {e["field"] for e in bad.json()["errors"]}
    assert fields == {
        "actions.0.field",
        "actions.0.match",
        "actions.0.territories",
        "actions.0.default.strategy",
    }


def test_the_new_lead_rule_reads_the_linked_region_by_its_labels() -> None:
    _, forms = idc_crm.load_package()
    [rule] = [r for r in idc_crm.load_rules() if r["actions"][0]["type"] == "assign"]
    names = Vocabulary(forms={form.key: form for form in forms})
    then = RuleWords(Translator("zh-CN"), names).describe(rule)["then"]
    assert then[0] == "按「客户 › 所在地区」分配负责人（区域表）"
    assert then[1].startswith("为负责人创建待办")


def test_a_lead_a_rep_enters_as_their_own_stays_theirs(
    client: TestClient, engine: Engine, workspace: Workspace, sales: dict[str, int]
) -> None:
    """The rule's condition reads the owner and the creator (``ISBLANK(owner_id) or owner_id =
    created_by``) and the territory action keeps an owner who is one of the sales people: a
    rep's own lead stays the rep's; a lead someone entered for a named rep stays that rep's;
    one the administrator entered as theirs is handed out."""
    with workspace.transaction() as conn:
        rep = load_actor(conn, sales["south_busy"])
        form = get_form(conn, "opportunity")
        customer = service.create_record(
            conn=conn,
            actor=rep,
            form=get_form(conn, "customer"),
            values={"name": "华东客户", "region": "310115"},
        )["id"]
        own = service.create_record(
            conn=conn, actor=rep, form=form, values={"name": "自己的线索", "customer": customer}
        )
    assert own["owner_id"] == sales["south_busy"]
    # The administrator enters one for a named rep (not the region's): that choice stays.
    for_rep = _made(
        client, "opportunity", name="代录", customer=customer, owner_id=sales["south_free"]
    )
    admins = _lead_of(client, engine, "310115", sales["admin"])
    kept = {
        record["id"]: record["owner_id"]
        for record in (
            client.get(f"/api/v1/forms/opportunity/records/{i}").json()
            for i in (own["id"], for_rep["id"])
        )
    }
    assert kept == {own["id"]: sales["south_busy"], for_rep["id"]: sales["south_free"]}
    assert admins["owner_id"] == sales["east"]
    with workspace.read() as conn:
        ran = conn.execute(
            sa.select(rule_runs.c.record_id, rule_runs.c.outcome).where(
                rule_runs.c.record_id.in_([own["id"], for_rep["id"]])
            )
        ).all()
    # The rep's own lead passed the condition and was kept by the action; the one entered
    # for another rep did not pass the condition at all.
    assert {r.record_id for r in ran} == {own["id"]}


def test_the_demo_sales_team_takes_leads_by_region(
    client: TestClient, engine: Engine, workspace: Workspace, admin: Actor
) -> None:
    """With the team ``meridian demo`` seeds (and nothing else), a 上海 lead the administrator
    enters goes to a 华东 rep and one from 成都 to a 西部 rep; seeding twice adds nobody."""
    app, forms = idc_crm.load_package()
    assert install_solution(engine, Actor.system(), app, forms, idc_crm.load_rules())
    team = seed_sales_team(engine, workspace.passwords)
    assert seed_sales_team(engine, workspace.passwords) == team
    assert sorted(team) == ["华东销售部", "华北销售部", "华南销售部", "西部销售部"]
    with workspace.read() as conn:
        heads = dict(
            conn.execute(
                sa.select(departments.c.name, departments.c.manager_id).where(
                    departments.c.name.in_(list(team))
                )
            ).all()
        )
    assert heads == {name: ids[0] for name, ids in team.items()}
    assert admin.user_id is not None
    east = _lead_of(client, engine, "310115", admin.user_id)
    west = _lead_of(client, engine, "510100", admin.user_id)
    assert east["owner_id"] in team["华东销售部"]  # the least loaded of the department
    assert west["owner_id"] in team["西部销售部"]
    assert [t["assignee_id"] for t in east["tasks"]] == [east["owner_id"]]
