"""A rule in words — when, if, then — in the viewer's language, instead of its JSON.

Each part of a rule (trigger, condition, each action, each value) becomes a sentence from the
message catalog with the builder's own labels put in: form, field and option labels, people's
and departments' names, robot channels. Settings a plugin adds, or that this module does not
know, are still shown — as their JSON — so nothing a rule does is hidden.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from meridian.access.organisation import list_departments
from meridian.access.users import user_names
from meridian.core.actor import Actor
from meridian.flows.approvals.definitions import latest_flow
from meridian.notify.inbox import list_bot_channels
from meridian.rules import territory
from meridian.schema.catalog import list_forms
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Form
from meridian.web.i18n import N_, Translator

REASONS = {
    "no_owner": N_("the record has no owner"),
    "no_manager": N_("the owner has no reports-to manager"),
    "no_department_head": N_("no department head above the owner"),
    "inactive": N_("every recipient is switched off"),
    "submitter_inactive": N_("the submitter is deactivated"),
    "in_another_approval": N_("the record is in another approval"),
}
WARNINGS = {
    "no_recipients": N_("Nobody was notified: {reason}."),
    "no_owner_chosen": N_("Nobody was assigned: {reason}."),
    "no_approval_started": N_("No approval was started: {reason}."),
}
OUTCOMES = {
    "succeeded": N_("succeeded"),
    "warning": N_("warning"),
    "failed": N_("failed"),
    "stopped": N_("stopped"),
}


@dataclass
class Vocabulary:
    """The names a rule's words need, read once per page."""

    forms: dict[str, Form]
    users: dict[int, str] = field(default_factory=dict)
    departments: dict[int, str] = field(default_factory=dict)
    channels: dict[int, str] = field(default_factory=dict)
    flows: dict[str, str] = field(default_factory=dict)
    """Approval flows' labels by key."""


def _people(person: Any) -> list[int]:
    """The user ids a person choice (see :mod:`meridian.rules.owners`) names."""
    if isinstance(person, int):
        return [person]
    if isinstance(person, Mapping):
        named = person.get("users")
        pool: list[Any] = named if isinstance(named, list) else []
        return [u for u in [person.get("user"), *pool] if isinstance(u, int)]
    return []


def vocabulary(conn: Connection, actor: Actor, rules: Sequence[Mapping[str, Any]]) -> Vocabulary:
    """Labels of every form, and the names of the people, departments and robots ``rules``
    mention."""
    mentioned: set[int] = set()
    flows: dict[str, str] = {}
    for rule in rules:
        for action in rule["actions"]:
            to = action.get("to")
            mentioned.update(to if isinstance(to, list) else [])
            mentioned.update(action.get("users") or [])
            mentioned.update(territory.mentioned_users(action))
            for role in ("owner", "assignee", "submitter"):  # create, create_task, approval
                mentioned.update(_people(action.get(role)))
            if action.get("type") == "start_approval" and isinstance(action.get("flow"), str):
                flow = latest_flow(conn, action["flow"])
                flows[action["flow"]] = flow["label"] if flow else action["flow"]
    return Vocabulary(
        forms={form.key: form for form in list_forms(conn)},
        users=user_names(conn, mentioned),
        departments={d["id"]: d["name"] for d in list_departments(conn)},
        channels={c["id"]: c["name"] for c in list_bot_channels(conn, actor)},
        flows=flows,
    )


class RuleWords:
    """Sentences about rules and their runs for one viewer."""

    def __init__(self, _: Translator, names: Vocabulary) -> None:
        self._ = _
        self.names = names

    # ---- the rule ------------------------------------------------------------------------

    def describe(self, rule: Mapping[str, Any]) -> dict[str, Any]:
        """``{"when": …, "if": …, "then": [...]}`` for the rule page and the list."""
        form = self.names.forms.get(rule["form_key"])
        return {
            "when": self.when(form, rule["form_key"], rule["trigger"]),
            "if": rule["condition"] or None,
            "then": [self.then(form, action) for action in rule["actions"]],
        }

    def when(self, form: Form | None, form_key: str, trigger: Mapping[str, Any]) -> str:
        _ = self._
        name = form.label if form is not None else form_key
        kind = trigger.get("type")
        if kind == "record_created":
            return _("When a {form} record is created", form=name)
        if kind == "record_updated":
            return _("When a {form} record is changed", form=name)
        if kind == "record_deleted":
            return _("When a {form} record is deleted", form=name)
        if kind == "field_changed":
            field = self._field(form, str(trigger.get("field")))
            text = _("When {field} of a {form} record changes", field=field, form=name)
            if "from" in trigger:
                text += _(", from {values}", values=self._options(form, trigger, trigger["from"]))
            if "to" in trigger:
                text += _(", to {values}", values=self._options(form, trigger, trigger["to"]))
            return text
        if kind == "date_relative":
            field = self._field(form, str(trigger.get("field")))
            days = int(trigger.get("offset_days", 0))
            if days < 0:
                return _(
                    "{days} days before {field} of a {form} record",
                    days=-days,
                    field=field,
                    form=name,
                )
            if days > 0:
                return _(
                    "{days} days after {field} of a {form} record",
                    days=days,
                    field=field,
                    form=name,
                )
            return _("On the day of {field} of a {form} record", field=field, form=name)
        if kind == "no_activity":
            activity = trigger.get("activity")
            if isinstance(activity, Mapping):
                linked = self.names.forms.get(str(activity.get("form")))
                return _(
                    "When no {activity} has been added to a {form} record for {days} days",
                    activity=linked.label if linked else activity.get("form"),
                    form=name,
                    days=trigger.get("days"),
                )
            return _(
                "When a {form} record has not changed for {days} days",
                form=name,
                days=trigger.get("days"),
            )
        if kind == "schedule":
            return _(
                "On the schedule {cron}, for every {form} record",
                cron=trigger.get("cron"),
                form=name,
            )
        return _("When {trigger}", trigger=_json(trigger))

    def then(self, form: Form | None, action: Mapping[str, Any]) -> str:
        _ = self._
        kind = action.get("type")
        if kind == "update":
            return _("Set {values}", values=self._values(form, form, action.get("values")))
        if kind == "create":
            target = self.names.forms.get(str(action.get("form")))
            text = _(
                "Create a {form} record: {values}",
                form=target.label if target else action.get("form"),
                values=self._values(
                    target,
                    form,
                    {k: v for k, v in (action.get("values") or {}).items() if k != "owner_id"},
                ),
            )
            if action.get("link_field"):
                text += _(
                    "; linked back by {field}", field=self._field(target, action["link_field"])
                )
            return text + _("; owned by {owner}", owner=self._owner(form, action))
        if kind == "notify":
            text = _(
                "Notify {who}: {title}",
                who=self._who(action),
                title=self._value(form, form, "", action.get("title")),
            )
            if action.get("bot"):
                channel = self.names.channels.get(action["bot"], f"#{action['bot']}")
                text += _("; and the group robot {channel}", channel=channel)
            return text
        if kind == "assign":
            strategy = action.get("strategy")
            if strategy == "territory":
                return _(
                    "Assign the owner by {field} (territories)",
                    field=self._field(form, str(action.get("field"))),
                )
            return _("Assign the owner: {how}", how=self._strategy(action))
        if kind == "tag":
            return _(
                "Tag {field}: add {add}; remove {remove}",
                field=self._field(form, str(action.get("field"))),
                add=self._options(form, action, action.get("add") or []) or "—",
                remove=self._options(form, action, action.get("remove") or []) or "—",
            )
        if kind == "webhook":
            return _("Call {url}", url=action.get("url"))
        if kind == "create_task":
            return self._task(form, action)
        if kind == "start_approval":
            flow = str(action.get("flow"))
            return _(
                "Start the approval {flow}, submitted by {who}",
                flow=f"“{self.names.flows.get(flow, flow)}”",
                who=self._person(form, action.get("submitter", "owner")),
            )
        return _json(action)

    def _person(self, form: Form | None, person: Any) -> str:
        """A person as :mod:`meridian.rules.owners` names one, in words."""
        _ = self._
        if person == "owner":
            return _("the owner")
        if isinstance(person, Mapping):
            if "user" in person:
                return self.names.users.get(person["user"], f"#{person['user']}")
            if "field" in person:
                return _("{field} of the record", field=self._field(form, str(person["field"])))
            return self._strategy(person)
        return self.names.users.get(person, f"#{person}")

    def _task(self, form: Form | None, action: Mapping[str, Any]) -> str:
        _ = self._
        who = self._person(form, action.get("assignee", "owner"))
        text = _(
            "Create a task {title} for {who}",
            title=self._value(form, form, "", action.get("title")),
            who=who,
        )
        due = action.get("due_in")
        if isinstance(due, Mapping):
            business = due.get("basis", "business") == "business"
            words = {
                ("hours", True): N_("; due in {amount} business hours"),
                ("days", True): N_("; due in {amount} business days"),
                ("hours", False): N_("; due in {amount} hours"),
                ("days", False): N_("; due in {amount} days"),
            }.get((str(due.get("unit")), business))
            if words:
                text += _(words, amount=due.get("amount"))
        return text

    # ---- a run ---------------------------------------------------------------------------

    def outcome(self, run: Mapping[str, Any]) -> str:
        return self._(OUTCOMES.get(run["outcome"], run["outcome"]))

    def notes(self, run: Mapping[str, Any]) -> list[str]:
        """Why a run is a warning, one sentence per action that had no effect."""
        found = []
        for done in run.get("actions") or []:
            warning = done.get("warning") if isinstance(done, Mapping) else None
            if warning:
                code = str(done.get("reason") or "")
                reason = self._(REASONS.get(code, code))
                found.append(self._(WARNINGS.get(str(warning), str(warning)), reason=reason))
        return found

    # ---- pieces --------------------------------------------------------------------------

    def _field(self, form: Form | None, key: str) -> str:
        if key == "owner_id":
            return self._("Owner")
        link, dot, rest = key.partition(".")
        through = form.get_field(link) if form is not None and dot else None
        if through is not None:  # a linked record's field: 客户 › 区域
            return (
                f"{through.label} › {self._field(self.names.forms.get(str(through.target)), rest)}"
            )
        found = form.get_field(key) if form is not None else None
        return found.label if found is not None else key

    def _options(self, form: Form | None, holder: Mapping[str, Any], values: Any) -> str:
        found = form.get_field(str(holder.get("field"))) if form is not None else None
        labels = {o.value: o.label for o in found.options} if found is not None else {}
        return "、".join(
            str(labels.get(v, v)) for v in (values if isinstance(values, list) else [values])
        )

    def _values(self, target: Form | None, source: Form | None, values: Any) -> str:
        if not isinstance(values, Mapping):
            return _json(values)
        return self._("; ").join(
            f"{self._field(target, key)} = {self._value(target, source, key, value)}"
            for key, value in values.items()
        )

    def _value(self, target: Form | None, source: Form | None, key: str, value: Any) -> str:
        if isinstance(value, Mapping) and set(value) == {"expr"}:
            return str(value["expr"])
        if isinstance(value, Mapping) and set(value) == {"field"}:
            return self._("{field} of the record", field=self._field(source, str(value["field"])))
        found = target.get_field(key) if target is not None and key else None
        if found is not None and found.options:
            return self._options(target, {"field": key}, value)
        if key == "owner_id" or (found is not None and field_type(found).references_users):
            return (
                self.names.users.get(value, f"#{value}") if isinstance(value, int) else str(value)
            )
        return f"“{value}”" if isinstance(value, str) else _json(value)

    def _who(self, action: Mapping[str, Any]) -> str:
        _ = self._
        to = action.get("to")
        levels = int(action.get("levels", 1) or 1)
        if to == "owner":
            return _("the owner")
        if to == "reports_to":
            return _("the owner's reports-to manager")
        if to == "manager":
            return _("the owner's manager (reports-to, else the department head)")
        if to == "department_head":
            if levels > 1:
                return _("the department head {levels} levels above the owner", levels=levels)
            return _("the head of the owner's department")
        if isinstance(to, list):
            return "、".join(self.names.users.get(u, f"#{u}") for u in to)
        return _json(to)

    def _owner(self, source: Form | None, action: Mapping[str, Any]) -> str:
        values = action.get("values")
        if isinstance(values, Mapping) and "owner_id" in values:
            return self._value(None, source, "owner_id", values["owner_id"])
        owner = action.get("owner", "owner")
        if owner == "owner":
            return self._("the triggering record's owner")
        return self._person(source, owner)

    def _strategy(self, choice: Mapping[str, Any]) -> str:
        _ = self._
        if "department" in choice:
            pool = _(
                "the members of {department}",
                department=self.names.departments.get(
                    choice["department"], f"#{choice['department']}"
                ),
            )
        elif "role" in choice:
            pool = _("the holders of the role {role}", role=choice["role"])
        else:
            pool = "、".join(self.names.users.get(u, f"#{u}") for u in choice.get("users") or [])
        if choice.get("strategy") == "round_robin":
            return _("round robin among {pool}", pool=pool)
        return _("the least loaded of {pool}", pool=pool)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
