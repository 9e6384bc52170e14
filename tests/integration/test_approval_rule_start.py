"""A rule starts an approval: "a contract over 100,000 is created → start the contract
approval", run for real by the worker; a second run starts nothing more; a bad flow key is
refused when the rule is saved; the rule page says the action in words."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from meridian.access.sessions import csrf_token_for
from meridian.app import create_app
from meridian.core.actor import Actor
from meridian.db.tables import approval_tasks, approvals, rule_runs, rules
from meridian.flows.approvals import definitions
from meridian.http.deps import SESSION_COOKIE, Workspace
from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import Worker
from meridian.rules import definitions as rule_definitions
from meridian.rules import engine as rules_engine
from meridian.schema.changes import create_form
from meridian.schema.model import Field, Form
from meridian.settings import Settings
from tests.approvals_support import Company, approver, build_company
from tests.conftest import workspace_on

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def company(workspace: Workspace, admin: Actor) -> Company:
    company = build_company(workspace, admin)
    company.flow(
        "contract_approval",
        [
            approver("countersign", company, "legal", "finance", mode="all"),
            approver("vp", company, "vp"),
        ],
    )
    return company


def _rule(company: Company, **action: Any) -> dict[str, Any]:
    with company.workspace.transaction() as conn:
        return rule_definitions.create_rule(
            conn,
            company.admin,
            {
                "form_key": "contract",
                "label": "大额合同自动送审",
                "trigger": {"type": "record_created"},
                "condition": "amount > 100000",
                "actions": [{"type": "start_approval", "flow": "contract_approval", **action}],
            },
        )


def _run_jobs(engine: Engine) -> None:
    worker = Worker(engine, job_handlers(workspace_on(engine)), TZ)
    while worker.run_once():
        pass


def _approvals(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(approvals).order_by(approvals.c.id)))


def _pending(engine: Engine, approval_id: int) -> set[int]:
    with engine.connect() as conn:
        return set(
            conn.execute(
                sa.select(approval_tasks.c.assignee_id).where(
                    approval_tasks.c.approval_id == approval_id,
                    approval_tasks.c.state == "pending",
                )
            ).scalars()
        )


def test_a_rule_starts_the_contract_approval_once_with_the_first_approvers_tasks(
    company: Company, engine: Engine
) -> None:
    made = _rule(company)
    big = company.contract(amount="150000")
    company.contract(amount="50000")
    _run_jobs(engine)
    [started] = _approvals(engine)
    assert (started.flow_key, started.record_id, started.state) == (
        "contract_approval",
        big,
        "running",
    )
    assert started.submitter_id == company.id("sales")  # the record's owner
    assert _pending(engine, started.id) == {company.id("legal"), company.id("finance")}
    with engine.connect() as conn:
        [run] = conn.execute(sa.select(rule_runs)).all()
    assert run.outcome == "succeeded"
    assert run.actions == [
        {
            "type": "start_approval",
            "flow": "contract_approval",
            "approval_id": started.id,
            "started": True,
        }
    ]
    # The same rule run again on the record (a retried job, a second firing): no new approval.
    with company.workspace.transaction() as conn:
        rule = conn.execute(sa.select(rules).where(rules.c.id == made["id"])).one()
        again = rules_engine.perform(conn, rule, big, TZ)
    assert again == [
        {
            "type": "start_approval",
            "flow": "contract_approval",
            "approval_id": started.id,
            "started": False,
        }
    ]
    assert [a.id for a in _approvals(engine)] == [started.id]
    assert _pending(engine, started.id) == {company.id("legal"), company.id("finance")}


def test_the_submitter_can_be_a_user_field_and_a_missing_one_is_a_warning(
    company: Company, engine: Engine
) -> None:
    _rule(company, submitter={"field": "reviewer"})
    with_reviewer = company.contract(amount="200000", reviewer=company.id("manager"))
    company.contract(amount="300000")  # no reviewer: nothing is started, the run says why
    _run_jobs(engine)
    [started] = _approvals(engine)
    assert (started.record_id, started.submitter_id) == (with_reviewer, company.id("manager"))
    with engine.connect() as conn:
        outcomes = sorted(conn.execute(sa.select(rule_runs.c.outcome)).scalars())
    assert outcomes == ["succeeded", "warning"]


def test_an_unknown_flow_or_a_flow_of_another_form_is_refused_when_the_rule_is_saved(
    company: Company, client: TestClient
) -> None:
    with company.workspace.transaction() as conn:
        create_form(
            conn=conn,
            actor=company.admin,
            form=Form(
                key="quote",
                app_key="crm",
                label="报价",
                fields=(Field(key="name", label="名称", type="text"),),
            ),
        )
        definitions.save_flow(
            conn,
            company.admin,
            {
                "key": "quote_discount",
                "form": "quote",
                "label": "报价折扣审批",
                "definition": {"nodes": [approver("manager", company, "manager")]},
            },
        )
    for flow in ("no_such_flow", "quote_discount", None):
        refused = client.post(
            "/api/v1/rules",
            json={
                "form_key": "contract",
                "label": "送审",
                "trigger": {"type": "record_created"},
                "actions": [
                    {"type": "start_approval", "flow": flow, "submitter": {"field": "name"}}
                ],
            },
        )
        assert refused.status_code == 422, refused.text
        problems = {(e["field"], e["code"]) for e in refused.json()["errors"]}
        assert problems == {
            ("actions.0.flow", "unknown_flow"),
            ("actions.0.submitter.field", "invalid_submitter"),
        }
    with company.workspace.read() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(rules)) == 0


def test_the_rule_page_says_the_action_in_words(
    company: Company, settings: Settings, workspace: Workspace
) -> None:
    made = _rule(company, submitter=company.id("manager"))
    with TestClient(create_app(settings, workspace=workspace), follow_redirects=False) as web:
        logged_in = web.post(
            "/login", data={"email": "admin@acme.test", "password": "correct horse", "next": "/"}
        )
        assert logged_in.status_code == 303, logged_in.text
        csrf = csrf_token_for(web.cookies[SESSION_COOKIE])
        web.post("/preferences/language", data={"csrf_token": csrf, "locale": "zh-CN"})
        chinese = web.get(f"/admin/rules/{made['id']}").text
        web.post("/preferences/language", data={"csrf_token": csrf, "locale": "en"})
        english = web.get(f"/admin/rules/{made['id']}").text
    assert "发起审批“合同审批”，发起人为Manager" in chinese
    assert "Start the approval “合同审批”, submitted by Manager" in english
