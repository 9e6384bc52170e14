"""The pipeline designer draws a pipeline through its per-criterion forms — a required field, a
condition written with the filter builder, a related record with its own condition, a
checklist item only a role may tick, an SOP task, an approval, an SLA, categories,
probabilities and a dragged stage order — refuses a bad expression beside the input in the
reader's language, and the saved gates then hold on the write path. Screenshots in both
languages go to docs/screenshots/."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Locator, Page, expect

from meridian.access import manage
from meridian.access.users import get_user_id, set_locale
from meridian.core.actor import Actor
from meridian.db.tables import approvals
from meridian.flows.approvals import definitions
from meridian.flows.stages import checklist, pipelines
from meridian.flows.stages.model import load_pipelines
from meridian.flows.tasks import service as tasks
from meridian.records import service
from meridian.records.guards import WriteIntent, WriteRefused
from meridian.schema.catalog import get_form
from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, Server, drag, log_in, open_watched
from tests.forms import install_forms
from tests.stages_support import FORMS, pipeline_document

PASSWORD = "designer-4-real"


def _setup(server: Server) -> int:
    with server.workspace.transaction() as conn:
        install_forms(conn, *FORMS)
        builder = manage.add_user(
            conn,
            Actor.system(),
            email="builder@acme.test",
            name="Builder",
            password=PASSWORD,
            passwords=server.workspace.passwords,
            roles=["administrator"],
            must_change_password=False,
        )
        user_id = int(builder["id"])
        definitions.save_flow(
            conn,
            Actor.system(),
            {
                "key": "deal_approval",
                "form": "deal",
                "label": "商机审批",
                "definition": {
                    "nodes": [
                        {
                            "id": "boss",
                            "type": "approver",
                            "mode": "single",
                            "approvers": [{"type": "user", "ids": [user_id]}],
                        }
                    ]
                },
            },
        )
    return user_id


def _stage(page: Page, key: str) -> Locator:
    """A stage of the designer, opened for editing."""
    stage = page.locator(f"[data-testid=designer-stage-{key}]")
    toggle = stage.locator("[data-testid=toggle-stage]")
    if toggle.get_attribute("aria-expanded") != "true":
        toggle.click()
    return stage


def _add(stage: Locator, phase: str, kind: str) -> Locator:
    """Add a criterion to a stage's gate and pick its kind: the kind's own form appears."""
    stage.locator(f"[data-testid=add-{phase}-criterion]").click()
    criterion = stage.locator(f"[data-testid=criteria-{phase}] fieldset.criterion").last
    criterion.locator("[data-testid=criterion-kind]").select_option(kind)
    return criterion


def _refused(server: Server, deal: int, stage: str) -> set[str]:
    """The criterion kinds a move of the deal to ``stage`` is refused for (none: it moved)."""
    try:
        with server.workspace.transaction() as conn:
            service.update_record(
                conn=conn,
                actor=Actor.system(),
                form=get_form(conn, "deal"),
                record_id=deal,
                values={"stage": stage},
                intent=WriteIntent(),
            )
    except WriteRefused as exc:
        return {r.criterion for r in exc.refusals}
    return set()


def _write(server: Server, form: str, record_id: int | None = None, **values: object) -> int:
    with server.workspace.transaction() as conn:
        target = get_form(conn, form)
        if record_id is None:
            return int(
                service.create_record(conn=conn, actor=Actor.system(), form=target, values=values)[
                    "id"
                ]
            )
        service.update_record(
            conn=conn, actor=Actor.system(), form=target, record_id=record_id, values=values
        )
        return record_id


def test_a_pipeline_drawn_through_the_criterion_forms_holds(page: Page, server: Server) -> None:
    builder = _setup(server)
    log_in(page, server, "builder@acme.test", PASSWORD)
    page.goto(f"{server.url}/forms/deal/pipelines?pipeline=new")
    page.fill("[data-testid=pipeline-key]", "sales")
    page.fill("[data-testid=pipeline-label]", "销售流程")
    # The new pipeline starts with the stage field's options, closed; 输单 dragged above 签约.
    drag(page, "[data-testid=drag-lost]", "[data-testid=designer-stage-won]", below=False)
    expect(page.locator("[data-testid=stage-order]")).to_have_value(
        "lead,interest,proposal,negotiation,lost,won"
    )
    # Categories and probabilities.
    _stage(page, "won").locator("[data-testid=stage-category]").select_option("won")
    _stage(page, "lost").locator("[data-testid=stage-category]").select_option("lost")
    _stage(page, "interest").locator("[data-testid=stage-probability]").fill("30")
    _stage(page, "proposal").locator("[data-testid=stage-probability]").fill("50")

    # 意向 → leaving needs: a checklist item only administrators tick, the amount, and a
    # condition written with the filter builder (first written wrong by hand).
    interest = _stage(page, "interest")
    item = _add(interest, "exit", "checklist")
    item.locator("[data-testid=criterion-item]").fill("survey")
    item.locator("[data-testid=criterion-item-label]").fill("需求调研表已确认")
    item.locator("[data-testid=criterion-roles]").select_option(["administrator"])
    required = _add(interest, "exit", "required_field")
    required.locator("[data-testid=criterion-field]").select_option("amount")
    condition = _add(interest, "exit", "condition")
    condition.locator("[data-testid=criterion-expression]").fill("amount >")

    # 方案报价 → entering needs a sent quote; leaving, the SOP task done; an SLA of 48 work hours.
    proposal = _stage(page, "proposal")
    related = _add(proposal, "entry", "related_record")
    related.locator("[data-testid=criterion-form]").select_option("quote")
    expect(related.locator("[data-testid=criterion-link]")).to_have_value("deal")
    related.locator("[data-testid=add-filter-row]").click()
    related.locator(".filter-row select").first.select_option("status")
    related.locator("[data-testid=filter-value]").fill("sent")
    related.locator("[data-testid=write-expression]").click()
    expect(related.locator("[data-testid=criterion-related-condition]")).to_have_value(
        'status = "sent"'
    )
    sop = _add(proposal, "exit", "sop_task")
    sop.locator("[data-testid=criterion-item]").fill("formal_quote")
    sop.locator("[data-testid=criterion-task-title]").fill("48 小时内发出正式报价")
    sop.locator("[data-testid=criterion-due-amount]").fill("48")
    proposal.locator("[data-testid=stage-has-sla]").check()
    proposal.locator("[data-testid=sla-amount]").fill("48")
    proposal.locator("[data-testid=sla-basis]").select_option("business")

    # 谈判 → entering starts the deal's approval, submitted by whoever moves it.
    start = _add(_stage(page, "negotiation"), "entry", "start_approval")
    start.locator("[data-testid=criterion-start-flow]").select_option("deal_approval")
    expect(start.locator("[data-testid=criterion-submitter]")).to_have_value("mover")

    # 签约 → entering needs the deal's approval approved.
    approval = _add(_stage(page, "won"), "entry", "approval")
    approval.locator("[data-testid=criterion-flow]").select_option("deal_approval")

    # The bad expression is refused beside its input, in Chinese; nothing is saved.
    page.click("[data-testid=save-pipeline]")
    problem = condition.locator("[data-testid=expression-problem]")
    expect(problem).to_be_visible()
    assert any("\u4e00" <= ch <= "\u9fff" for ch in problem.inner_text()), problem.inner_text()
    expect(condition).to_have_class("criterion has-problem")
    expect(page.locator("[data-testid=pipeline-problems]")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "pipeline-designer-refused.zh-CN.png"), full_page=True)
    with server.workspace.read() as conn:
        assert load_pipelines(conn, "deal").pipelines == ()

    # Written with the filter builder instead: amount > 1000.
    condition.locator("[data-testid=add-filter-row]").click()
    condition.locator(".filter-row select").first.select_option("amount")
    condition.locator(".filter-row select").nth(1).select_option(">")
    condition.locator("[data-testid=filter-value]").fill("1000")
    condition.locator("[data-testid=write-expression]").click()
    expect(condition.locator("[data-testid=criterion-expression]")).to_have_value("amount > 1000")
    page.click("[data-testid=save-pipeline]")
    page.wait_for_url("**/pipelines?pipeline=sales&saved=1")
    expect(page.locator("[data-testid=pipeline-saved]")).to_be_visible()
    expect(_stage(page, "interest").locator("[data-testid=criterion-expression]")).to_have_value(
        "amount > 1000"
    )
    page.screenshot(path=str(SCREENSHOTS / "pipeline-designer.zh-CN.png"), full_page=True)

    with server.workspace.read() as conn:
        (pipeline,) = load_pipelines(conn, "deal").pipelines
    assert [s.key for s in pipeline.stages] == [
        "lead",
        "interest",
        "proposal",
        "negotiation",
        "lost",
        "won",
    ]
    assert [(s.category, s.probability) for s in pipeline.stages][1:3] == [
        ("open", 30),
        ("open", 50),
    ]
    assert pipeline.stage("won").category == "won"  # type: ignore[union-attr]
    assert pipeline.stage("lost").category == "lost"  # type: ignore[union-attr]
    sla = pipeline.stage("proposal")
    assert sla is not None and (sla.sla_amount, sla.sla_unit, sla.sla_business) == (
        48,
        "hours",
        True,
    )
    configs = {(c.phase, c.kind): dict(c.config) for s in pipeline.stages for c in s.criteria}
    assert configs == {
        ("exit", "checklist"): {
            "item": "survey",
            "label": "需求调研表已确认",
            "roles": ["administrator"],
        },
        ("exit", "required_field"): {"field": "amount"},
        ("exit", "condition"): {"expression": "amount > 1000"},
        ("entry", "related_record"): {
            "form": "quote",
            "link_field": "deal",
            "condition": 'status = "sent"',
        },
        ("exit", "sop_task"): {
            "item": "formal_quote",
            "title": "48 小时内发出正式报价",
            "due_in": {"amount": 48, "unit": "hours", "basis": "business"},
        },
        ("entry", "approval"): {"flow": "deal_approval"},
        ("entry", "start_approval"): {"flow": "deal_approval", "submitter": "mover"},
    }

    # The gates drawn hold on the write path, each kind in turn.
    deal = _write(server, "deal", name="机柜 20 个", stage="interest", owner_id=builder)
    assert _refused(server, deal, "proposal") == {
        "checklist",
        "required_field",
        "condition",
        "related_record",
    }
    _write(server, "deal", deal, amount="500.00")
    with server.workspace.transaction() as conn:
        checklist.set_tick(
            conn,
            actor=Actor.system(),
            form=get_form(conn, "deal"),
            record_id=deal,
            item="survey",
            ticked=True,
        )
    quote = _write(server, "quote", title="报价 v1", deal=deal, status="draft")
    assert _refused(server, deal, "proposal") == {"condition", "related_record"}
    _write(server, "deal", deal, amount="120000.00")
    _write(server, "quote", quote, status="sent")
    assert _refused(server, deal, "proposal") == set()
    assert _refused(server, deal, "negotiation") == {"sop_task"}
    with server.workspace.transaction() as conn:
        (task,) = tasks.record_tasks(
            conn=conn, actor=Actor.system(), form_key="deal", record_id=deal, tz=server.workspace.tz
        )
        tasks.complete_tasks(
            conn=conn, actor=Actor.system(), task_ids=[task["id"]], tz=server.workspace.tz
        )
    assert _refused(server, deal, "negotiation") == set()
    with server.workspace.read() as conn:
        started = conn.execute(
            sa.select(approvals.c.flow_key, approvals.c.state).where(approvals.c.record_id == deal)
        ).all()
    # (moved by Meridian itself here, so submitted in the owner's name)
    assert [tuple(row) for row in started] == [("deal_approval", "running")]
    # the approval's gate (and, while it runs, its lock on the record) holds 签约 back
    assert _refused(server, deal, "won") == {"approval", "locked"}


@pytest.mark.parametrize("width", [DESKTOP, PHONE])
def test_the_designer_in_english(browser: Browser, server: Server, width: dict[str, int]) -> None:
    _setup(server)
    with server.workspace.transaction() as conn:
        set_locale(conn=conn, user_id=get_user_id(conn, "builder@acme.test"), locale="en")
    context = browser.new_context(viewport=width, locale="en-US")
    page, errors = open_watched(context)
    log_in(page, server, "builder@acme.test", PASSWORD)
    page.goto(f"{server.url}/forms/deal/pipelines?pipeline=new")
    page.fill("[data-testid=pipeline-key]", "sales")
    page.fill("[data-testid=pipeline-label]", "Sales")
    condition = _add(_stage(page, "won"), "entry", "condition")
    condition.locator("[data-testid=criterion-expression]").fill("amount > ")
    related = _add(_stage(page, "proposal"), "entry", "related_record")
    related.locator("[data-testid=criterion-form]").select_option("quote")
    page.click("[data-testid=save-pipeline]")
    problem = condition.locator("[data-testid=expression-problem]")
    expect(problem).to_be_visible()
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in problem.inner_text()), problem.inner_text()
    name = (
        "pipeline-designer-refused.en.png" if width == DESKTOP else "pipeline-designer-phone.en.png"
    )
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)
    context.close()
    assert not errors, errors


def test_a_stage_counts_its_criteria_in_the_readers_plural(
    browser: Browser, server: Server
) -> None:
    """A stage says "1 criterion" and "2 criteria" in English, "1 项条件" in Chinese."""
    _setup(server)
    with server.workspace.transaction() as conn:
        pipelines.save_pipeline(
            conn,
            actor=Actor.system(),
            form=get_form(conn, "deal"),
            document={"key": "sales", **pipeline_document()},
        )
    said = {
        "en": {"interest": "2 criteria", "proposal": "1 criterion"},
        "zh-CN": {"interest": "2 项条件", "proposal": "1 项条件"},
    }
    for locale, counts in said.items():
        context = browser.new_context(viewport=DESKTOP, locale=locale)
        page, errors = open_watched(context)
        page.set_default_timeout(10_000)
        log_in(page, server, "builder@acme.test", PASSWORD)
        page.goto(f"{server.url}/forms/deal/pipelines?pipeline=sales")
        for key, text in counts.items():
            summary = page.locator(
                f"[data-testid=designer-stage-{key}] [data-testid=stage-summary]"
            )
            expect(summary).to_contain_text(text)
        expect(page.locator("main")).not_to_contain_text("1 criteria")
        context.close()
        assert not errors, f"JavaScript errors or CSP violations: {errors}"
