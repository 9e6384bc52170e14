"""Rules as a builder writes them: trigger → condition → actions, checked whole when saved.

::

    {"form_key": "contract", "label": "续约提醒",
     "trigger": {"type": "date_relative", "field": "end_date", "offset_days": -90},
     "condition": "status = \\"active\\"",
     "actions": [{"type": "create", "form": "opportunity", "link_field": "contract",
                  "values": {"name": {"expr": "CONCAT(title, \\" 续约\\")"}}},
                 {"type": "update", "values": {"renewal_state": "提醒中"}}]}

Triggers: ``record_created``, ``record_updated``, ``record_deleted``, ``field_changed``
(``field``, which may be ``owner_id`` to follow transfers; optional ``from`` and ``to`` lists
of values), ``date_relative`` (``field`` a date field, ``offset_days``: −90 is ninety days
before), ``no_activity`` (``days`` without an update, or ``activity``: {``form``,
``link_field``} also counts linked records such as follow-ups) and ``schedule`` (``cron``: at
each occurrence, in the workspace zone, the actions run for every record meeting the
condition).

Actions: ``update`` the record; ``create`` a related record (``link_field`` links it back;
it belongs to the triggering record's owner unless ``owner`` names another — see
``meridian.rules.owners``); ``notify`` people (``to``: ``"owner"``, ``"reports_to"``,
``"department_head"`` with ``levels``, ``"manager"`` — reports-to, else the department head —
or user ids; ``title``, ``body``; optional ``bot``, a group-robot channel id, and its
``style``: text, markdown or card; a run whose notification reaches nobody is a warning);
``assign`` the owner (``strategy`` ``round_robin`` or ``least_loaded`` over ``users``, a
``department``'s or a ``role``'s members, or
``territory``: the ``field``'s value looked up in ``territories`` with an optional ``default``
(see ``meridian.rules.territory``);
the reason goes to ``reason_field``); ``tag`` (``field`` a multi-select, ``add`` and ``remove``
option lists); ``webhook`` (POST the record to ``url``, signed with ``secret`` when given,
retried until the receiver answers 2xx). A value is a literal, ``{"expr": "…"}`` in the
expression language evaluated on the triggering record, or ``{"field": "customer"}`` copied
from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from croniter import croniter
from sqlalchemy.engine import Connection

from meridian.access.manage import require_admin
from meridian.core import clock
from meridian.core.actor import Actor
from meridian.core.i18n import Text
from meridian.core.timezones import DEFAULT_TIME_ZONE
from meridian.db.revisions import bump
from meridian.db.tables import rule_fires, rules, schedules
from meridian.errors import ErrorCollector, FieldError, NotFound, ValidationFailed
from meridian.expr import ExpressionError, ExprType, compile_expression
from meridian.jobs.schedules import set_schedule
from meridian.rules.actions import actions_of
from meridian.rules.triggers import triggers_of
from meridian.rules.watched import index_watched_columns
from meridian.schema.catalog import find_form, get_form
from meridian.schema.compile import compile_form
from meridian.schema.expressions import scope_for
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Form

TIME_TRIGGERS = ("date_relative", "no_activity")
SCHEDULE = "schedule"
SCHEDULED_JOB = "rules.scheduled"
MAX_ACTIONS = 10
OWNER = "owner_id"
"""Every record's owner: ``field_changed`` may watch it (a transfer) like any field."""
RULES_REVISION = "rules"
"""Every change to a rule replaces this revision token, so the engine re-reads its cached rules."""


def check_expression(
    conn: Connection, form: Form, source: Any, path: str, errors: ErrorCollector, *, condition: bool
) -> None:
    if not isinstance(source, str) or not source.strip():
        errors.add(path, "invalid_expression", Text("expected an expression"), source)
        return
    try:
        compiled = compile_expression(source, scope_for(conn, form))
    except ExpressionError as exc:
        errors.errors.append(
            FieldError(path, "invalid_expression", exc.message, source, detail=exc.as_dict())
        )
        return
    if condition and compiled.result_type not in (ExprType.BOOLEAN, ExprType.NULL):
        errors.add(path, "not_a_condition", Text("the condition must be true or false"), source)


def _check_trigger(conn: Connection, form: Form, trigger: Any, errors: ErrorCollector) -> None:
    kind = trigger.get("type") if isinstance(trigger, Mapping) else None
    known = triggers_of(conn)
    found = known.get(kind) if isinstance(kind, str) else None
    if found is None:
        errors.add(
            "trigger.type",
            "invalid_trigger",
            Text("choose one of {value}", value=", ".join(known)),
            kind,
        )
        return
    assert isinstance(trigger, Mapping)
    if found.check is not None:
        found.check(conn, form, trigger, errors)
    owner_changed = kind == "field_changed" and trigger.get("field") == OWNER
    if kind in ("field_changed", "date_relative") and not owner_changed:
        field = form.get_field(str(trigger.get("field")))
        if field is None or field.archived:
            errors.add(
                "trigger.field", "unknown_field", Text("no such field"), trigger.get("field")
            )
        elif kind == "date_relative" and field_type(field).expression_type(field) != ExprType.DATE:
            errors.add("trigger.field", "not_a_date", Text("choose a date field"), field.key)
    if kind == "no_activity" and "activity" in trigger:
        activity = trigger["activity"]
        other = (
            find_form(conn, str(activity.get("form"))) if isinstance(activity, Mapping) else None
        )
        link = other.get_field(str(activity.get("link_field"))) if other is not None else None
        if (
            link is None
            or not field_type(link).links_records
            or link.many
            or link.target != form.key
        ):
            errors.add(
                "trigger.activity",
                "invalid_activity",
                Text("give a form and its link field to {key!r}", key=form.key),
                activity,
            )
    if kind == SCHEDULE and not (
        isinstance(trigger.get("cron"), str) and croniter.is_valid(trigger["cron"])
    ):
        errors.add(
            "trigger.cron",
            "invalid_cron",
            Text("a cron expression like '0 9 * * 1'"),
            trigger.get("cron"),
        )
    if kind == "field_changed":
        for side in ("from", "to"):
            if side in trigger and not isinstance(trigger[side], list):
                errors.add(
                    f"trigger.{side}", "invalid_values", Text("expected a list"), trigger[side]
                )
    ranges: dict[str, tuple[str | None, tuple[int, int]]] = {
        "date_relative": ("offset_days", (-3650, 3650)),
        "no_activity": ("days", (1, 3650)),
    }
    number, bounds = ranges.get(found.name, (None, (0, 0)))
    if number is not None:
        value = trigger.get(number)
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or not bounds[0] <= value <= bounds[1]
        ):
            errors.add(
                f"trigger.{number}",
                "out_of_range",
                Text("a whole number {low}…{high}", low=bounds[0], high=bounds[1]),
                value,
            )


def check_values(
    conn: Connection, form: Form, values: Any, source: Form, path: str, errors: ErrorCollector
) -> None:
    if not isinstance(values, Mapping) or not values:
        errors.add(path, "invalid_values", Text("expected an object of field: value"), values)
        return
    for key, value in values.items():
        if form.get_field(key) is None and key != "owner_id":
            errors.add(
                f"{path}.{key}",
                "unknown_field",
                Text("form {form!r} has no field {key!r}", form=form.key, key=key),
                key,
            )
        if isinstance(value, Mapping) and set(value) == {"expr"}:
            check_expression(
                conn, source, value["expr"], f"{path}.{key}.expr", errors, condition=False
            )
        elif isinstance(value, Mapping) and set(value) == {"field"}:
            if value["field"] not in _columns(source):
                errors.add(
                    f"{path}.{key}.field", "unknown_field", Text("no such field"), value["field"]
                )
        elif isinstance(value, Mapping):
            errors.add(
                f"{path}.{key}",
                "invalid_value",
                Text('a value, {"expr": …} or {"field": …}'),
                value,
            )


ASSIGN_STRATEGIES = ("round_robin", "least_loaded", "territory")


def _columns(form: Form) -> set[str]:
    return set(compile_form(form).main.c.keys())


def _check_actions(conn: Connection, form: Form, actions: Any, errors: ErrorCollector) -> None:
    if not isinstance(actions, list) or not 1 <= len(actions) <= MAX_ACTIONS:
        errors.add(
            "actions",
            "invalid_actions",
            Text("give 1 to {limit} actions", limit=MAX_ACTIONS),
            actions,
        )
        return
    known = actions_of(conn)
    for index, action in enumerate(actions):
        path = f"actions.{index}"
        kind = action.get("type") if isinstance(action, Mapping) else None
        found = known.get(kind) if isinstance(kind, str) else None
        if found is None:
            errors.add(f"{path}.type", "invalid_action", ", ".join(known), kind)
            continue
        found.check(conn=conn, form=form, action=action, path=path, errors=errors)


def _checked(conn: Connection, document: Any) -> dict[str, Any]:
    """The rule's stored columns from ``document``, after checking all of it: every problem
    is named at once."""
    if not isinstance(document, Mapping):
        raise ValidationFailed(
            [FieldError("", "invalid_rule", Text("expected a JSON object"), document)]
        )
    form = get_form(conn, str(document.get("form_key")))
    errors = ErrorCollector()
    label = document.get("label")
    if not isinstance(label, str) or not 1 <= len(label.strip()) <= 200:
        errors.add("label", "invalid_label", Text("give a label of 1 to 200 characters"), label)
    _check_trigger(conn, form, document.get("trigger"), errors)
    condition = document.get("condition") or ""
    if condition:
        check_expression(conn, form, condition, "condition", errors, condition=True)
    _check_actions(conn, form, document.get("actions"), errors)
    errors.raise_if_any()
    return {
        "form_key": form.key,
        "label": str(label).strip(),
        "trigger": dict(document["trigger"]),
        "condition": condition,
        "actions": list(document["actions"]),
        "enabled": bool(document.get("enabled", True)),
    }


def create_rule(conn: Connection, actor: Actor, document: Any) -> dict[str, Any]:
    """Save a rule after checking all of it; every problem is named at once."""
    require_admin(actor)
    values = _checked(conn, document)
    now = clock.utcnow(conn)
    result = conn.execute(
        rules.insert().values(
            **values,
            scanned_until=now,
            created_by=actor.user_id,
            created_at=now,
            updated_at=now,
        )
    )
    assert result.inserted_primary_key is not None
    rule_id = int(result.inserted_primary_key[0])
    _rule_changed(conn, rule_id, values)
    return get_rule(conn, rule_id)


def update_rule(conn: Connection, actor: Actor, rule_id: int, document: Any) -> dict[str, Any]:
    """Replace a rule with ``document``, checked as a new one would be.

    A rule stays on its form. When the trigger changes, a time rule starts afresh from now:
    its record of what already fired is cleared, and nothing before now fires.
    """
    require_admin(actor)
    current = get_rule(conn, rule_id)
    if isinstance(document, Mapping) and document.get("form_key") != current["form_key"]:
        raise ValidationFailed(
            [
                FieldError(
                    "form_key",
                    "form_fixed",
                    Text(
                        "a rule stays on its form {form_key!r}; create a new rule",
                        form_key=current["form_key"],
                    ),
                    document.get("form_key"),
                )
            ]
        )
    values = _checked(conn, document)
    now = clock.utcnow(conn)
    if values["trigger"] != current["trigger"]:
        values["scanned_until"] = now
        conn.execute(rule_fires.delete().where(rule_fires.c.rule_id == rule_id))
    elif values["enabled"] and not current["enabled"]:
        values["scanned_until"] = now  # switching on does not fire for the time it was off
    conn.execute(rules.update().where(rules.c.id == rule_id).values(**values, updated_at=now))
    _rule_changed(conn, rule_id, values)
    return get_rule(conn, rule_id)


def delete_rule(conn: Connection, actor: Actor, rule_id: int) -> None:
    """Remove a rule and its schedule; its run log stays, as a record of what it did. Runs
    already queued find the rule gone and do nothing."""
    require_admin(actor)
    get_rule(conn, rule_id)
    conn.execute(rule_fires.delete().where(rule_fires.c.rule_id == rule_id))
    conn.execute(schedules.delete().where(schedules.c.key == _schedule_key(rule_id)))
    conn.execute(rules.delete().where(rules.c.id == rule_id))
    bump(conn, RULES_REVISION)


def _rule_changed(conn: Connection, rule_id: int, values: Mapping[str, Any]) -> None:
    """Keep the rule's schedule in step with its trigger, and tell every process's cache."""
    trigger = values["trigger"]
    if trigger["type"] == SCHEDULE:
        set_schedule(
            conn,
            _schedule_key(rule_id),
            trigger["cron"],
            SCHEDULED_JOB,
            {"rule_id": rule_id},
            DEFAULT_TIME_ZONE,
            enabled=values["enabled"],
        )
    else:
        conn.execute(schedules.delete().where(schedules.c.key == _schedule_key(rule_id)))
    index_watched_columns(conn, values["form_key"], trigger)  # what the minute scan reads
    bump(conn, RULES_REVISION)


def _schedule_key(rule_id: int) -> str:
    return f"rule:{rule_id}"


def get_rule(conn: Connection, rule_id: int) -> dict[str, Any]:
    row = conn.execute(sa.select(rules).where(rules.c.id == rule_id)).first()
    if row is None:
        raise NotFound(Text("rule {rule_id} does not exist", rule_id=rule_id), id=rule_id)
    return {
        key: value.isoformat() if hasattr(value, "isoformat") else value
        for key, value in row._mapping.items()
    }


def list_rules(conn: Connection, form_key: str | None = None) -> list[dict[str, Any]]:
    query = sa.select(rules.c.id).order_by(rules.c.id)
    if form_key is not None:
        query = query.where(rules.c.form_key == form_key)
    return [get_rule(conn, rule_id) for rule_id in conn.scalars(query)]


def set_enabled(conn: Connection, actor: Actor, rule_id: int, enabled: bool) -> dict[str, Any]:
    require_admin(actor)
    get_rule(conn, rule_id)
    values: dict[str, Any] = {"enabled": enabled, "updated_at": clock.utcnow(conn)}
    if enabled:
        values["scanned_until"] = clock.utcnow(
            conn
        )  # switching on does not fire for the time it was off
    conn.execute(rules.update().where(rules.c.id == rule_id).values(**values))
    bump(conn, RULES_REVISION)
    conn.execute(
        schedules.update().where(schedules.c.key == _schedule_key(rule_id)).values(enabled=enabled)
    )
    return get_rule(conn, rule_id)
