"""Meridian's own rule actions: update, create, assign, notify, tag and webhook.

They keep the :class:`~meridian.rules.actions.RuleAction` contract a plugin's action keeps, and
are registered the same way (``meridian.rules.plugin``). Each writes through the records
service as Meridian itself, so validation, history, events and further rules apply as for
any change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access import organisation
from meridian.core.actor import Actor
from meridian.core.i18n import Text
from meridian.errors import ErrorCollector
from meridian.jobs.queue import enqueue
from meridian.notify.inbox import notify_bot, notify_users
from meridian.records import reads, service
from meridian.rules import owners, territory
from meridian.rules.actions import RuleAction
from meridian.rules.definitions import (
    ASSIGN_STRATEGIES,
    check_expression,
    check_values,
)
from meridian.rules.engine import next_call_key
from meridian.rules.values import api_value, computed_values
from meridian.schema.catalog import find_form, get_form
from meridian.schema.compile import compile_form
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Field, Form

CALL = "rules.call"
"""A rule's outbound webhook call: a job of its own, so a slow or failing receiver is retried
with backoff without running the rule's other actions again."""


class UpdateAction(RuleAction):
    """Write values on the record itself."""

    name = "update"

    def check(
        self,
        *,
        conn: Connection,
        form: Form,
        action: Mapping[str, Any],
        path: str,
        errors: ErrorCollector,
    ) -> None:
        check_values(conn, form, action.get("values"), form, f"{path}.values", errors)

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
        values = computed_values(conn, form, record_id, action["values"], tz)
        service.update_record(
            conn=conn, actor=Actor.system(), form=form, record_id=record_id, values=values, tz=tz
        )
        return {"type": "update", "record_id": record_id, "values": values}

    def preview(
        self,
        *,
        conn: Connection,
        form: Form,
        record_id: int,
        action: Mapping[str, Any],
        tz: ZoneInfo,
    ) -> dict[str, Any]:
        return {**action, "values": computed_values(conn, form, record_id, action["values"], tz)}


class CreateAction(RuleAction):
    """Create a record of another form, optionally linked back to this one."""

    name = "create"

    def check(
        self,
        *,
        conn: Connection,
        form: Form,
        action: Mapping[str, Any],
        path: str,
        errors: ErrorCollector,
    ) -> None:
        target = find_form(conn, str(action.get("form")))
        if target is None:
            errors.add(f"{path}.form", "unknown_form", Text("no such form"), action.get("form"))
            return
        check_values(conn, target, action.get("values"), form, f"{path}.values", errors)
        link = action.get("link_field")
        field = target.get_field(str(link)) if link is not None else None
        if link is not None and (
            field is None or not field_type(field).links_records or field.target != form.key
        ):
            errors.add(
                f"{path}.link_field",
                "invalid_link",
                Text("not a link to {form!r}", form=form.key),
                link,
            )
        if "owner" in action:
            values = action.get("values")
            if isinstance(values, Mapping) and "owner_id" in values:
                errors.add(
                    f"{path}.owner", "owner_twice", Text("give the owner once"), action["owner"]
                )
            else:
                owners.check_owner(conn, form, action["owner"], f"{path}.owner", errors)

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
        target = get_form(conn, action["form"])
        values = _creation(conn, form, rule_id, record_id, target, action, tz)
        created = service.create_record(
            conn=conn, actor=Actor.system(), form=target, values=values, tz=tz
        )
        return {
            "type": "create",
            "form": target.key,
            "record_id": created["id"],
            "owner_id": created.get("owner_id"),
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
        return {**action, "values": computed_values(conn, form, record_id, action["values"], tz)}


def _creation(
    conn: Connection,
    form: Form,
    rule_id: int,
    record_id: int,
    target: Form,
    action: Mapping[str, Any],
    tz: ZoneInfo,
) -> dict[str, Any]:
    """The values of the record a ``create`` action makes: computed, linked back, and owned by
    the triggering record's owner unless the action names another."""
    values = computed_values(conn, form, record_id, action["values"], tz)
    if action.get("link_field"):
        values[action["link_field"]] = record_id
    if "owner_id" not in values:
        owner = owners.owner_for(
            conn,
            rule_id=rule_id,
            source=form,
            record_id=record_id,
            target=target,
            owner=action.get("owner"),
        )
        if owner is not None:
            values["owner_id"] = owner
    return values


class AssignAction(RuleAction):
    """Pick the owner by round robin, least load or territory (see :mod:`meridian.rules.territory`),
    and write it (and why)."""

    name = "assign"

    def check(
        self,
        *,
        conn: Connection,
        form: Form,
        action: Mapping[str, Any],
        path: str,
        errors: ErrorCollector,
    ) -> None:
        strategy = action.get("strategy")
        if strategy not in ASSIGN_STRATEGIES:
            errors.add(
                f"{path}.strategy",
                "invalid_strategy",
                Text("choose one of {value}", value=", ".join(ASSIGN_STRATEGIES)),
                strategy,
            )
            return
        if strategy == "territory":
            territory.check(conn, form, action, path, errors)
        else:
            owners.check_strategy(conn, action, path, errors)
        reason = action.get("reason_field")
        if reason is not None and form.get_field(str(reason)) is None:
            errors.add(f"{path}.reason_field", "unknown_field", Text("no such field"), reason)

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
        return _assign(conn, form, rule_id, record_id, action, tz)


class TagAction(RuleAction):
    """Add and remove options of a multi-select field, keeping the others."""

    name = "tag"

    def check(
        self,
        *,
        conn: Connection,
        form: Form,
        action: Mapping[str, Any],
        path: str,
        errors: ErrorCollector,
    ) -> None:
        field = form.get_field(str(action.get("field")))
        if field is None or not _tags(field):
            errors.add(
                f"{path}.field",
                "not_multi_select",
                Text("choose a multi-select field"),
                action.get("field"),
            )
            return
        options = {option.value for option in field.options}
        changes = [action.get(side) for side in ("add", "remove") if side in action]
        if not changes:
            errors.add(path, "invalid_tag", Text("give add, remove or both"), action)
        for side in ("add", "remove"):
            values = action.get(side, [])
            if not isinstance(values, list) or not set(values) <= options:
                errors.add(
                    f"{path}.{side}",
                    "unknown_option",
                    Text("options of {field}", field=field.key),
                    values,
                )

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
        return _tag(conn, form, record_id, action, tz)


class NotifyAction(RuleAction):
    """Tell the owner, their manager or named people (inbox, email), and optionally a robot."""

    name = "notify"

    def check(
        self,
        *,
        conn: Connection,
        form: Form,
        action: Mapping[str, Any],
        path: str,
        errors: ErrorCollector,
    ) -> None:
        to = action.get("to")
        if not (
            to in RELATIVES or (isinstance(to, list) and to and all(isinstance(u, int) for u in to))
        ):
            errors.add(
                f"{path}.to",
                "invalid_recipients",
                Text("{relatives} or user ids", relatives=", ".join(RELATIVES)),
                to,
            )
        levels = action.get("levels", 1)
        if not isinstance(levels, int) or isinstance(levels, bool) or not 1 <= levels <= 10:
            errors.add(
                f"{path}.levels",
                "out_of_range",
                Text("a whole number {low}…{high}", low=1, high=10),
                levels,
            )
        if action.get("style") not in (None, "text", "markdown", "card"):
            errors.add(
                f"{path}.style",
                "invalid_style",
                Text("text, markdown or card"),
                action.get("style"),
            )
        texts = {k: action.get(k) for k in ("title", "body") if k in action}
        if not isinstance(action.get("title"), str | dict):
            errors.add(f"{path}.title", "invalid_title", Text("give a title"), action.get("title"))
        for key, value in texts.items():
            if isinstance(value, Mapping):
                check_expression(
                    conn, form, value.get("expr"), f"{path}.{key}.expr", errors, condition=False
                )

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
        return _notify(conn, form, record_id, action, tz)


class WebhookAction(RuleAction):
    """POST the record to a URL, signed when a secret is given, retried until it answers 2xx."""

    name = "webhook"

    def check(
        self,
        *,
        conn: Connection,
        form: Form,
        action: Mapping[str, Any],
        path: str,
        errors: ErrorCollector,
    ) -> None:
        parts = urlsplit(str(action.get("url") or ""))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            errors.add(
                f"{path}.url", "invalid_url", Text("expected an http(s) URL"), action.get("url")
            )
        if not isinstance(action.get("secret", ""), str):
            errors.add(f"{path}.secret", "invalid_secret", Text("a text"), action.get("secret"))

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
        return _call(conn, form, rule_id, record_id, action, tz)


BUILTIN_ACTIONS = (
    UpdateAction(),
    CreateAction(),
    AssignAction(),
    NotifyAction(),
    TagAction(),
    WebhookAction(),
)


def _call(
    conn: Connection,
    form: Form,
    rule_id: int,
    record_id: int,
    action: Mapping[str, Any],
    tz: ZoneInfo,
) -> dict[str, Any]:
    """Queue the call with the record as it is now (the receiver sees what the rule saw)."""
    record = reads.get_record(
        conn=conn, actor=Actor.system(), form=form, record_id=record_id, tz=tz
    )
    body = {
        "event": "RuleFired",
        "rule_id": rule_id,
        "form": form.key,
        "record_id": record_id,
        "record": record,
    }
    key = next_call_key()
    payload = {"url": action["url"], "secret": action.get("secret") or "", "body": body}
    if key is not None:
        payload["key"] = key
    job_id = enqueue(conn, CALL, api_value(payload), idempotency_key=key)
    return {"type": "webhook", "url": action["url"], "job_id": job_id, "key": key}


def _tag(
    conn: Connection, form: Form, record_id: int, action: Mapping[str, Any], tz: ZoneInfo
) -> dict[str, Any]:
    """Add and remove options of a multi-select field, keeping the others."""
    key = action["field"]
    current = (
        reads.get_record(
            conn=conn, actor=Actor.system(), form=form, record_id=record_id, tz=tz
        ).get(key)
        or []
    )
    removed = set(action.get("remove", []))
    tags = [t for t in current if t not in removed]
    tags += [t for t in action.get("add", []) if t not in tags]
    if tags != current:
        service.update_record(
            conn=conn,
            actor=Actor.system(),
            form=form,
            record_id=record_id,
            values={key: tags},
            tz=tz,
        )
    return {"type": "tag", "field": key, "tags": tags}


def _assign(
    conn: Connection,
    form: Form,
    rule_id: int,
    record_id: int,
    action: Mapping[str, Any],
    tz: ZoneInfo,
) -> dict[str, Any]:
    """Pick the owner by the action's strategy and write it (and why) on the record."""
    strategy = action["strategy"]
    if strategy == "territory":
        owner, reason = territory.choose(
            conn, form=form, rule_id=rule_id, record_id=record_id, action=action, tz=tz
        )
    elif strategy == "round_robin":
        owner = owners.pick(conn, rule_id=rule_id, form=form, choice=action)
        reason = "轮询分配 / round robin"
    else:
        people = owners.candidates(conn, action)
        load = 0
        owner, load = owners.least_loaded(conn, form, people, record_id) if people else (None, 0)
        reason = f"最少在手分配 / least loaded: {load} open"
    if owner is None:
        return {
            "type": "assign",
            "owner_id": None,
            "reason": "no territory matches" if strategy == "territory" else "nobody to choose",
            "warning": "no_owner_chosen",
        }
    values: dict[str, Any] = {"owner_id": owner}
    if action.get("reason_field"):
        values[action["reason_field"]] = reason
    service.update_record(
        conn=conn, actor=Actor.system(), form=form, record_id=record_id, values=values, tz=tz
    )
    return {"type": "assign", "owner_id": owner, "reason": reason}


def _notify(
    conn: Connection, form: Form, record_id: int, action: Mapping[str, Any], tz: ZoneInfo
) -> dict[str, Any]:
    texts = computed_values(
        conn, form, record_id, {k: action[k] for k in ("title", "body") if k in action}, tz
    )
    recipients, missing = _recipients(conn, form, record_id, action)
    title, body = str(texts.get("title") or ""), str(texts.get("body") or "")
    sent = notify_users(
        conn, recipients, title=title, body=body, form_key=form.key, record_id=record_id
    )
    done: dict[str, Any] = {"type": "notify", "recipients": sent, "bot": action.get("bot")}
    if not sent and not action.get("bot"):
        # Reaching nobody is not success: the run is logged as a warning, with the reason.
        done["warning"] = "no_recipients"
        done["reason"] = missing or "inactive"
    if action.get("bot"):
        notify_bot(
            conn,
            int(action["bot"]),
            title=title,
            body=body,
            form_key=form.key,
            record_id=record_id,
            style=action.get("style"),
        )
    return done


RELATIVES = ("owner", "manager", "reports_to", "department_head")
"""Whom a notification may name by their place beside the record's owner: the owner; their
reports-to manager (``reports_to``); the head of their department (``department_head``, with
``levels`` to go further up); ``manager`` — the reports-to manager when one is set, else the
head of the owner's department."""


def _recipients(
    conn: Connection, form: Form, record_id: int, action: Mapping[str, Any]
) -> tuple[list[int], str | None]:
    """Whom the action names for this record, and why nobody when nobody: ``no_owner``,
    ``no_manager`` or ``no_department_head``."""
    to = action["to"]
    if not isinstance(to, str):
        return list(to), None
    table = compile_form(form).main
    owner = conn.scalar(sa.select(table.c.owner_id).where(table.c.id == record_id))
    if owner is None:
        return [], "no_owner"
    if to == "owner":
        return [owner], None
    levels = int(action.get("levels", 1))
    found = None
    if to in ("manager", "reports_to"):
        found = organisation.reports_to(conn, owner)
    if found is None and to in ("manager", "department_head"):
        found = organisation.department_head_above(conn, owner, levels)
    if found is None:
        return [], "no_manager" if to == "reports_to" else "no_department_head"
    return [found], None


def _tags(field: Field) -> bool:
    """A field ``tag`` can add options to and remove them from: a list of options."""
    kind = field_type(field)
    return kind.has_options and kind.list_valued
