"""Tasks (待办) over the API: made, listed, changed and completed by the people allowed to, with
overdue notices sent once, and made by a rule with a due time in business hours.

The organisation is the access tests' (``tests/integration/test_access.py``): Alice and Bob are
members of 华东销售 (they read each other's deals and edit their own), Carol is in 华南销售
(she reads neither), Rita reads everything and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from meridian.access.users import set_locale
from meridian.app import create_app
from meridian.core.actor import Actor
from meridian.db.tables import jobs, notifications, tasks
from meridian.flows.tasks.overdue import OVERDUE_SCAN, notify_overdue
from meridian.http.deps import Workspace
from meridian.jobs.handlers import job_handlers
from meridian.jobs.queue import JobContext
from meridian.jobs.worker import Worker
from meridian.settings import Settings
from meridian.solutions import idc_crm
from meridian.solutions.loader import install_solution
from meridian.web.i18n import Translator
from meridian.web.rule_words import RuleWords, Vocabulary
from tests.conftest import FakeClock, workspace_on
from tests.integration.test_access import build_organisation, people_clients

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def org(client: TestClient, workspace: Workspace) -> dict[str, int]:
    """The access tests' organisation (``test_access``), on this test's own database."""
    return build_organisation(workspace, client)


@pytest.fixture
def as_user(
    workspace: Workspace, settings: Settings, org: dict[str, int]
) -> Iterator[Callable[[str], TestClient]]:
    yield from people_clients(create_app(settings, workspace=workspace), workspace, org)


def _deals(client: TestClient) -> dict[str, dict[str, Any]]:
    items = client.get("/api/v1/forms/deal/records").json()["items"]
    return {item["name"].split()[0]: item for item in items}


def _at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


def test_a_task_is_made_listed_and_completed_by_its_assignee(
    client: TestClient,
    as_user: Callable[..., TestClient],
    org: dict[str, int],
    fake_clock: FakeClock,
) -> None:
    fake_clock.follow(lambda: _at(12, 7, 10).astimezone(UTC))
    alice = as_user("alice")
    deal = _deals(alice)["alice"]
    made = alice.post(
        "/api/v1/tasks",
        json={
            "title": "回访 ACME-LEAD 机柜需求",
            "notes": "确认 42U 机柜数量",
            "assignee_id": org["alice"],
            "due_at": "2026-12-08",
            "form_key": "deal",
            "record_id": deal["id"],
        },
    )
    assert made.status_code == 201, made.text
    task = made.json()
    # A date alone means the end of that day's work in the calendar: 18:00 in Shanghai.
    assert datetime.fromisoformat(task["due_at"]) == _at(12, 8, 18)
    assert task["state"] == "open" and task["source"] == "person"
    assert task["created_by"] == org["alice"] and task["assignee_name"] == "alice"
    mine = alice.get("/api/v1/tasks").json()
    assert [t["id"] for t in mine["items"]] == [task["id"]] and mine["total"] == 1
    about = alice.get("/api/v1/tasks", params={"form": "deal", "record_id": deal["id"]}).json()
    assert [t["title"] for t in about["items"]] == ["回访 ACME-LEAD 机柜需求"]
    assert alice.get("/api/v1/tasks", params={"overdue": True}).json()["total"] == 0
    fake_clock.follow(lambda: _at(12, 8, 18, 1).astimezone(UTC))
    overdue = alice.get("/api/v1/tasks", params={"overdue": True}).json()
    assert [t["id"] for t in overdue["items"]] == [task["id"]] and overdue["items"][0]["overdue"]
    done = alice.post("/api/v1/tasks/complete", json={"ids": [task["id"]]})
    assert done.json() == {"changed": 1, "ids": [task["id"]]}
    closed = alice.get(f"/api/v1/tasks/{task['id']}").json()
    assert closed["state"] == "done" and closed["closed_by"] == org["alice"]
    assert closed["closed_at"] is not None and not closed["overdue"]
    assert alice.get("/api/v1/tasks", params={"state": "open"}).json()["total"] == 0
    reopened = alice.patch(f"/api/v1/tasks/{task['id']}", json={"state": "open"})
    assert reopened.json()["state"] == "open" and reopened.json()["closed_by"] is None


def test_who_sees_and_who_changes_a_task(
    client: TestClient,
    as_user: Callable[..., TestClient],
    org: dict[str, int],
) -> None:
    """The assignee, the creator, editors of the linked record and admins change it; readers of
    the record see it; anyone else does not know it exists."""
    alice, bob, carol, rita = (as_user(p) for p in ("alice", "bob", "carol", "rita"))
    deal = _deals(alice)["alice"]
    made = client.post(
        "/api/v1/tasks",
        json={
            "title": "准备方案",
            "assignee_id": org["dave"],
            "form_key": "deal",
            "record_id": deal["id"],
        },
    ).json()
    url = f"/api/v1/tasks/{made['id']}"
    # Alice edits the deal, so she may change its task although it is neither hers nor by her.
    assert alice.patch(url, json={"title": "准备 IDC 方案"}).status_code == 200
    # Bob reads the deal (same department) but may not edit it: he sees the task, cannot change it.
    assert bob.get(url).status_code == 200
    refused = bob.patch(url, json={"title": "x"})
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert bob.post("/api/v1/tasks/complete", json={"ids": [made["id"]]}).status_code == 403
    # Carol reads no deal of 华东: for her there is no such task.
    assert carol.get(url).status_code == 404
    assert carol.patch(url, json={"title": "x"}).status_code == 404
    assert carol.get("/api/v1/tasks", params={"mine": False}).json()["total"] == 0
    listed = carol.get("/api/v1/tasks", params={"form": "deal", "record_id": deal["id"]})
    assert listed.status_code == 404
    # Dave, the assignee, completes it; Rita (read-only) cannot even though she reads it.
    dave = as_user("dave")
    assert rita.get(url).status_code == 200
    assert rita.post("/api/v1/tasks/complete", json={"ids": [made["id"]]}).status_code == 403
    assert dave.post("/api/v1/tasks/complete", json={"ids": [made["id"]]}).status_code == 200
    # A read-only token never writes, even its user's own task.
    reader = as_user("dave", scope="read")
    assert reader.patch(url, json={"state": "open"}).status_code == 403
    assert client.get(url).json()["state"] == "done"
    # A task linked to a record one cannot read cannot be made.
    hidden = _deals(client)["carol"]
    sneaky = alice.post(
        "/api/v1/tasks", json={"title": "x", "form_key": "deal", "record_id": hidden["id"]}
    )
    assert sneaky.status_code == 422 and sneaky.json()["errors"][0]["field"] == "record_id"


def test_bulk_complete_is_all_or_nothing_and_leaves_closed_tasks_alone(
    client: TestClient,
    as_user: Callable[..., TestClient],
    org: dict[str, int],
    workspace: Workspace,
) -> None:
    alice = as_user("alice")
    ids = [
        alice.post("/api/v1/tasks", json={"title": f"Q3-RENEWAL {n}"}).json()["id"]
        for n in range(5)
    ]
    not_hers = client.post("/api/v1/tasks", json={"title": "admin's own"}).json()["id"]
    assert alice.post("/api/v1/tasks/cancel", json={"ids": ids[:1]}).json()["changed"] == 1
    refused = alice.post("/api/v1/tasks/complete", json={"ids": [*ids, not_hers]})
    assert refused.status_code == 404  # she cannot see the admin's task at all
    with workspace.read() as conn:
        states = dict(conn.execute(sa.select(tasks.c.id, tasks.c.state)).all())
    assert [states[i] for i in ids] == ["cancelled", "open", "open", "open", "open"]
    done = alice.post("/api/v1/tasks/complete", json={"ids": ids})
    assert done.json()["changed"] == 4
    with workspace.read() as conn:
        states = dict(conn.execute(sa.select(tasks.c.id, tasks.c.state)).all())
    assert [states[i] for i in ids] == ["cancelled", "done", "done", "done", "done"]
    assert states[not_hers] == "open"
    page = alice.get("/api/v1/tasks", params={"mine": False, "limit": 2, "offset": 2}).json()
    assert page["total"] == 5 and len(page["items"]) == 2


def test_bad_task_input_is_refused_naming_each_field_and_changes_nothing(
    client: TestClient, workspace: Workspace
) -> None:
    answer = client.post(
        "/api/v1/tasks",
        json={
            "title": "   ",
            "assignee_id": 999_999,
            "due_at": "next tuesday",
            "form_key": "nothing",
            "record_id": 1,
        },
    )
    assert answer.status_code == 422
    fields = {e["field"] for e in answer.json()["errors"]}
    assert fields == {"title", "assignee_id", "due_at", "record_id"}
    task = client.post("/api/v1/tasks", json={"title": "ok"}).json()
    patch = client.patch(
        f"/api/v1/tasks/{task['id']}", json={"title": "x" * 301, "due_at": "2026-13-01"}
    )
    assert patch.status_code == 422
    assert {e["field"] for e in patch.json()["errors"]} == {"title", "due_at"}
    assert client.patch(f"/api/v1/tasks/{task['id']}", json={"owner": 1}).status_code == 422
    assert client.patch(f"/api/v1/tasks/{task['id']}", json={"state": "later"}).status_code == 422
    assert client.post("/api/v1/tasks/complete", json={"ids": []}).status_code == 422
    assert client.get("/api/v1/tasks", params={"state": "later"}).status_code == 422
    assert client.get("/api/v1/tasks", params={"form": "deal"}).status_code == 422
    assert client.get("/api/v1/tasks/99999").status_code == 404
    assert client.get(f"/api/v1/tasks/{task['id']}").json()["title"] == "ok"
    with workspace.read() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(tasks)) == 1


def test_an_overdue_task_tells_its_assignee_once(
    client: TestClient,
    org: dict[str, int],
    workspace: Workspace,
    fake_clock: FakeClock,
) -> None:
    now = [_at(12, 7, 10).astimezone(UTC)]
    fake_clock.follow(lambda: now[0])
    made = [
        client.post(
            "/api/v1/tasks",
            json={
                "title": f"跟进 IDC-{n}",
                "assignee_id": org["alice"] if n % 2 else org["bob"],
                "due_at": (now[0] + timedelta(hours=n)).isoformat(),
            },
        ).json()
        for n in range(1, 5)
    ]
    unassigned = client.post(
        "/api/v1/tasks", json={"title": "无人负责", "due_at": now[0].isoformat()}
    ).json()
    done = client.post("/api/v1/tasks", json={"title": "已完成", "due_at": now[0].isoformat()})
    client.post("/api/v1/tasks/complete", json={"ids": [done.json()["id"]]})
    handlers = job_handlers(workspace)

    def scan() -> None:
        handlers[OVERDUE_SCAN](JobContext(workspace.engine, 0, {}, 1))

    now[0] += timedelta(hours=2, minutes=30)  # IDC-1 and IDC-2 are overdue now
    scan()
    scan()
    now[0] += timedelta(days=1)  # and the rest
    scan()
    # IDC-3's due time moves later: it is told again once the new one passes.
    client.patch(
        f"/api/v1/tasks/{made[2]['id']}", json={"due_at": (now[0] + timedelta(hours=1)).isoformat()}
    )
    scan()
    now[0] += timedelta(hours=2)
    scan()
    scan()
    with workspace.read() as conn:
        told = conn.execute(
            sa.select(notifications.c.user_id, notifications.c.title).order_by(notifications.c.id)
        ).all()
        emails = conn.scalar(
            sa.select(sa.func.count()).select_from(jobs).where(jobs.c.kind == "notify.email")
        )
    assert [title for _, title in told] == [
        "待办已逾期：跟进 IDC-1",
        "待办已逾期：跟进 IDC-2",
        "待办已逾期：跟进 IDC-3",
        "待办已逾期：跟进 IDC-4",
        "待办已逾期：跟进 IDC-3",
    ]
    assert [user for user, _ in told][:2] == [org["alice"], org["bob"]]
    assert emails == 5
    assert unassigned["assignee_id"] is None


def test_the_notice_is_in_the_assignees_language(
    client: TestClient, admin: Actor, workspace: Workspace, fake_clock: FakeClock
) -> None:
    assert admin.user_id is not None
    with workspace.transaction() as conn:
        set_locale(conn=conn, user_id=admin.user_id, locale="en")
    now = fake_clock.now()
    client.post(
        "/api/v1/tasks",
        json={"title": "Call ACME", "assignee_id": admin.user_id, "due_at": now.isoformat()},
    )
    fake_clock.follow(lambda: now + timedelta(minutes=1))
    with workspace.transaction() as conn:
        assert notify_overdue(conn) == 1
        [(title, body)] = conn.execute(sa.select(notifications.c.title, notifications.c.body))
    assert title == "Task overdue: Call ACME" and body.startswith("It was due ")


def test_a_new_idc_lead_gets_a_follow_up_task_due_in_four_business_hours(
    client: TestClient,
    workspace: Workspace,
    engine: Engine,
    admin: Actor,
    fake_clock: FakeClock,
) -> None:
    """The IDC solution's rule: created on the eve of the National Day week at 16:00, two work
    hours are left that day, and the other two come after the holidays: 8 October, 11:00."""
    now = [_at(9, 30, 16).astimezone(UTC)]
    fake_clock.follow(lambda: now[0])
    app, forms = idc_crm.load_package()
    assert install_solution(engine, Actor.system(), app, forms, idc_crm.load_rules())
    customer = client.post("/api/v1/forms/customer/records", json={"name": "杭州云栖数据有限公司"})
    created = client.post(
        "/api/v1/forms/opportunity/records",
        json={"name": "ACME-LEAD 华东机房扩容", "customer": customer.json()["id"]},
    )
    assert created.status_code == 201, created.text
    lead = created.json()
    other = {"name": "已有意向", "stage": "interest", "customer": customer.json()["id"]}
    assert client.post("/api/v1/forms/opportunity/records", json=other).status_code == 201
    worker = Worker(engine, job_handlers(workspace_on(engine)), SHANGHAI)
    while worker.run_once():
        pass
    [task] = client.get("/api/v1/tasks", params={"mine": False}).json()["items"]
    assert task["title"] == "首次跟进 ACME-LEAD 华东机房扩容"
    assert task["assignee_id"] == admin.user_id == lead["owner_id"]
    assert datetime.fromisoformat(task["due_at"]) == _at(10, 8, 11)
    assert (task["form_key"], task["record_id"]) == ("opportunity", lead["id"])
    assert task["source"] == "rule" and task["source_ref"].startswith("rule:")
    assert task["created_by"] is None
    timeline = client.get(
        "/api/v1/tasks", params={"form": "opportunity", "record_id": lead["id"]}
    ).json()
    assert [t["id"] for t in timeline["items"]] == [task["id"]]


def test_a_create_task_action_is_checked_when_the_rule_is_saved(client: TestClient) -> None:
    client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"})
    client.post(
        "/api/v1/apps/crm/forms",
        json={
            "key": "lead",
            "label": "线索",
            "fields": [
                {"key": "name", "label": "名称", "type": "text"},
                {"key": "sales", "label": "销售", "type": "user"},
            ],
        },
    )
    good = client.post(
        "/api/v1/rules",
        json={
            "form_key": "lead",
            "label": "跟进",
            "trigger": {"type": "record_created"},
            "actions": [
                {
                    "type": "create_task",
                    "title": {"expr": "name"},
                    "assignee": {"field": "sales"},
                    "due_in": {"amount": 2, "unit": "days", "basis": "calendar"},
                }
            ],
        },
    )
    assert good.status_code == 201, good.text
    bad = client.post(
        "/api/v1/rules",
        json={
            "form_key": "lead",
            "label": "坏的",
            "trigger": {"type": "record_created"},
            "actions": [
                {
                    "type": "create_task",
                    "title": "",
                    "assignee": {"field": "name"},
                    "due_in": {"amount": -1, "unit": "weeks", "basis": "lunar"},
                }
            ],
        },
    )
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["errors"]}
    assert fields == {
        "actions.0.title",
        "actions.0.assignee.field",
        "actions.0.due_in.amount",
        "actions.0.due_in.unit",
        "actions.0.due_in.basis",
    }


def test_a_create_task_action_reads_as_a_sentence_in_both_languages() -> None:
    # The new-lead rule assigns the lead first, then gives the new owner the task.
    [rule] = [r for r in idc_crm.load_rules() if r["actions"][-1]["type"] == "create_task"]
    words = {
        locale: RuleWords(Translator(locale), Vocabulary(forms={})).describe(rule)["then"][-1:]
        for locale in ("zh-CN", "en")
    }
    assert words["zh-CN"] == ['为负责人创建待办 CONCAT("首次跟进 ", name)；4 个工作小时内到期']
    assert words["en"] == [
        'Create a task CONCAT("首次跟进 ", name) for the owner; due in 4 business hours'
    ]
