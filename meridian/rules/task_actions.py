"""The rule action that makes a task (待办) about the record, e.g. the follow-up of a lead just
assigned: "call within 4 business hours".

``{"type": "create_task", "title": "…" | {"expr": …}, "notes": …, "assignee": "owner" |
{"field": key} | user id, "due_in": {"amount": 4, "unit": "hours" | "days", "basis": "business"
| "calendar"}}`` — the assignee a person as :mod:`meridian.rules.owners` reads one, the title
and notes computed on the record as other actions' values are, the due time counted from the
moment the rule runs over the work calendar.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.errors import ErrorCollector
from meridian.flows.calendar.model import BASES, time_basis
from meridian.flows.calendar.store import load_calendar
from meridian.flows.tasks.service import MAX_TITLE, create_task
from meridian.rules import owners
from meridian.rules.actions import RuleAction
from meridian.rules.definitions import check_expression
from meridian.rules.values import computed_values
from meridian.schema.model import Form

UNITS = ("hours", "days")
PERSON_WAYS = ("owner", "user", "field")
"""How a task's assignee (and an approval's submitter) is named: not by a strategy."""
MAX_AMOUNT = 3650


def _text_spec(
    conn: Connection, form: Form, value: Any, path: str, errors: ErrorCollector, required: bool
) -> None:
    if isinstance(value, Mapping):
        check_expression(conn, form, value.get("expr"), f"{path}.expr", errors, condition=False)
    elif not (isinstance(value, str) and (value.strip() or not required)):
        errors.add(
            path, "invalid_text", Text("expected {shape}", shape='text | {"expr": …}'), value
        )


def _due_spec(value: Any, path: str, errors: ErrorCollector) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping) or set(value) - {"amount", "unit", "basis"}:
        shape = '{"amount", "unit": hours|days, "basis"}'
        errors.add(path, "invalid_due", Text("expected {shape}", shape=shape), value)
        return
    amount = value.get("amount")
    if not (
        isinstance(amount, int | float)
        and not isinstance(amount, bool)
        and 0 <= amount <= MAX_AMOUNT
    ):
        errors.add(
            f"{path}.amount",
            "invalid_amount",
            Text("a number from 0 to {maximum}", maximum=MAX_AMOUNT),
            amount,
        )
    if value.get("unit") not in UNITS:
        errors.add(f"{path}.unit", "invalid_unit", Text("hours or days"), value.get("unit"))
    if value.get("basis", "business") not in BASES:
        errors.add(
            f"{path}.basis", "invalid_basis", Text("business or calendar"), value.get("basis")
        )


def due_after(conn: Connection, start: datetime, due_in: Mapping[str, Any]) -> datetime:
    """``start`` plus the amount of hours or days, in business or calendar time."""
    clock = time_basis(load_calendar(conn), due_in.get("basis", "business"))
    amount = due_in["amount"]
    if due_in["unit"] == "hours":
        return clock.add_hours(start, amount)
    return clock.add_days(start, amount)


class CreateTaskAction(RuleAction):
    """Make a task about the record for its owner, a user field's user or a named user."""

    name = "create_task"

    def check(
        self,
        *,
        conn: Connection,
        form: Form,
        action: Mapping[str, Any],
        path: str,
        errors: ErrorCollector,
    ) -> None:
        _text_spec(conn, form, action.get("title"), f"{path}.title", errors, required=True)
        if "notes" in action:
            _text_spec(conn, form, action["notes"], f"{path}.notes", errors, required=False)
        owners.check_person(
            conn,
            form,
            action.get("assignee", "owner"),
            f"{path}.assignee",
            errors,
            code="invalid_assignee",
            ways=PERSON_WAYS,
        )
        _due_spec(action.get("due_in"), f"{path}.due_in", errors)

    def _values(
        self,
        conn: Connection,
        form: Form,
        record_id: int,
        action: Mapping[str, Any],
        tz: ZoneInfo,
    ) -> dict[str, Any]:
        wanted = {"title": action["title"], "notes": action.get("notes", "")}
        values = computed_values(conn, form, record_id, wanted, tz)
        assignee = owners.person_for(
            conn, source=form, record_id=record_id, spec=action.get("assignee", "owner")
        )
        title = str(values["title"] or "")[:MAX_TITLE] or form.label
        due_in = action.get("due_in")
        return {
            "title": title,
            "notes": str(values["notes"] or ""),
            "assignee_id": assignee,
            "due_at": due_after(conn, utcnow(conn), due_in) if due_in else None,
        }

    def perform(
        self,
        *,
        conn: Connection,
        form: Form,
        rule_id: int,
        record_id: int,
        action: Mapping[str, Any],
        tz: ZoneInfo,
    ) -> dict[str, Any]:
        task = create_task(
            conn=conn,
            actor=Actor.system(),
            tz=tz,
            form_key=form.key,
            record_id=record_id,
            source="rule",
            source_ref=f"rule:{rule_id}",
            **self._values(conn, form, record_id, action, tz),
        )
        return {
            "type": "create_task",
            "task_id": task["id"],
            "assignee_id": task["assignee_id"],
            "due_at": task["due_at"],
        }

    def preview(
        self,
        *,
        conn: Connection,
        form: Form,
        record_id: int,
        action: Mapping[str, Any],
        tz: ZoneInfo,
    ) -> dict[str, Any]:
        values = self._values(conn, form, record_id, action, tz)
        due = values["due_at"]
        return {"type": "create_task", **values, "due_at": due.isoformat() if due else None}
