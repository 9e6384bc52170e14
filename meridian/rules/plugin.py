"""The rules engine as a plugin: its triggers, its actions, its jobs and its subscriber."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from meridian.core.i18n import Text
from meridian.errors import ErrorCollector
from meridian.events.lifecycle import ApprovalFinished
from meridian.events.records import RecordEvent, RecordUpdated
from meridian.jobs.queue import Handler
from meridian.plugins.hookspecs import hookimpl
from meridian.records.subscribers import Subscriber
from meridian.rules import engine, scanning
from meridian.rules.actions import RuleAction
from meridian.rules.approval_actions import StartApprovalAction
from meridian.rules.builtin_actions import BUILTIN_ACTIONS
from meridian.rules.definitions import SCHEDULE, TIME_TRIGGERS
from meridian.rules.task_actions import CreateTaskAction
from meridian.rules.triggers import RuleTrigger
from meridian.schema.model import Form

if TYPE_CHECKING:
    from meridian.http.deps import Workspace


def _field_changed(trigger: Mapping[str, Any], event: RecordEvent) -> bool:
    """The watched field changed, from one of ``from`` to one of ``to`` when they are given."""
    assert isinstance(event, RecordUpdated)
    change = event.changes.get(trigger["field"])
    if change is None:
        return False
    old, new = change
    return ("from" not in trigger or old in trigger["from"]) and (
        "to" not in trigger or new in trigger["to"]
    )


def _approval_finished(trigger: Mapping[str, Any], event: RecordEvent) -> bool:
    """The approval's ``outcome`` and ``flow`` are the trigger's, when it names them."""
    assert isinstance(event, ApprovalFinished)
    return trigger.get("outcome") in (None, event.outcome) and trigger.get("flow") in (
        None,
        event.flow,
    )


def _check_approval_finished(
    conn: Connection, form: Form, trigger: Mapping[str, Any], errors: ErrorCollector
) -> None:
    outcome = trigger.get("outcome")
    if outcome is not None and outcome not in APPROVAL_OUTCOMES:
        message = f"one of {', '.join(APPROVAL_OUTCOMES)}, or none for any"
        errors.add("trigger.outcome", "invalid_outcome", message, outcome)
    flow = trigger.get("flow")
    if flow is not None and not isinstance(flow, str):
        errors.add("trigger.flow", "invalid_flow", Text("an approval flow's key"), flow)


APPROVAL_OUTCOMES = ("approved", "rejected", "withdrawn")


def _stage_is(trigger: Mapping[str, Any], event: RecordEvent) -> bool:
    """The event's stage is one of the trigger's ``stages`` (any stage when none are given)."""
    return "stages" not in trigger or getattr(event, "stage", None) in trigger["stages"]


BUILTIN_TRIGGERS = (
    RuleTrigger("record_created", event_type="RecordCreated"),
    RuleTrigger("record_updated", event_type="RecordUpdated"),
    RuleTrigger("record_deleted", event_type="RecordDeleted"),
    RuleTrigger("field_changed", event_type="RecordUpdated", matches=_field_changed),
    RuleTrigger(
        "approval_finished",
        event_type="ApprovalFinished",
        matches=_approval_finished,
        check=_check_approval_finished,
    ),
    # Lifecycle stages (meridian.flows.stages) announce these; rules are above flows, so
    # their triggers are registered here.
    RuleTrigger("stage_entered", event_type="StageEntered", matches=_stage_is),
    RuleTrigger("stage_left", event_type="StageLeft", matches=_stage_is),
    RuleTrigger("stage_sla_warned", event_type="StageSlaWarned", matches=_stage_is),
    RuleTrigger("stage_sla_breached", event_type="StageSlaBreached", matches=_stage_is),
    *(RuleTrigger(name, kind="time") for name in TIME_TRIGGERS),
    RuleTrigger(SCHEDULE, kind="schedule"),
)


@hookimpl
def register_rule_triggers() -> Sequence[RuleTrigger]:
    return BUILTIN_TRIGGERS


@hookimpl
def register_rule_actions() -> Sequence[RuleAction]:
    return (*BUILTIN_ACTIONS, CreateTaskAction(), StartApprovalAction())


@hookimpl
def register_job_handlers(meridian: Workspace) -> Mapping[str, Handler]:
    return {
        engine.RUN: engine.run_rule,
        engine.SCAN: scanning.scan_time_rules,
        engine.SCHEDULED: engine.run_scheduled_rule,
    }


@hookimpl
def register_subscribers() -> Sequence[Subscriber]:
    return [engine.on_record_changes]
