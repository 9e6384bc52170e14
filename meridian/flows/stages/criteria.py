"""Gate criterion kinds: what a stage may require, each judged set-based over a batch.

A kind is registered through the ``register_gate_criteria`` hook, so another engine adds its
own (approvals: "an approved approval"). Each kind answers, for one criterion and the records
of one batch that must meet it, which of them do **not** — with at most one query however many
records — and says what it requires in both languages. Built in:

- ``required_field`` ``{"field": key}``: the field is filled in the values being written;
- ``condition`` ``{"expression": …}``: an expression over the record's own fields holds;
- ``related_record`` ``{"form": key, "link_field": key, "condition": …}``: a live record of
  another form links to this one (and meets the condition): "a quote exists";
- ``checklist`` ``{"item": key, "label": …, "roles": […]}``: an SOP checklist item is ticked
  on the record (by a member of ``roles`` when given: "confirmed by the technical team");
- ``sop_task`` ``{"item": key, "title": …, "due_in": {"amount", "unit", "basis"}}``: entering
  the stage makes the record's owner a task (``flows.tasks``), and the gate holds once it is
  done.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.core.timezones import DEFAULT_TIME_ZONE
from meridian.db.sets import one_of
from meridian.db.tables import checklist_ticks, tasks
from meridian.errors import ErrorCollector
from meridian.expr import ExpressionError, compile_expression
from meridian.flows.stages.model import Criterion
from meridian.flows.stages.texts import N_, in_both
from meridian.plugins.manager import plugins_of
from meridian.records.guards import ProposedWrite
from meridian.schema.catalog import find_form
from meridian.schema.compile import compile_form
from meridian.schema.expressions import LogicalReader, plain_scope, sql_scope_for
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Form

Unmet = Callable[[Connection, Form, Criterion, Sequence[ProposedWrite]], set[int]]
"""The ids of the records among the writes that do not meet the criterion."""
Describe = Callable[[Connection, Form, Criterion], dict[str, str]]
"""What the criterion requires: ``{"message_en": …, "message_zh": …}``."""
CheckConfig = Callable[[Connection, Form, Mapping[str, Any], str, ErrorCollector], None]
"""Adds every problem with a criterion's settings (under the given error prefix)."""


@dataclass(frozen=True)
class CriterionKind:
    name: str
    unmet: Unmet
    describe: Describe
    check: CheckConfig


def criterion_kinds(conn: Connection) -> Mapping[str, CriterionKind]:
    plugins = plugins_of(conn)
    if plugins is None:
        return {kind.name: kind for kind in BUILTIN_CRITERIA}
    found: Mapping[str, CriterionKind] = plugins.named("register_gate_criteria")
    return found


def describe(conn: Connection, form: Form, criterion: Criterion) -> dict[str, str]:
    """The criterion's own labels when the builder wrote them, else its kind's sentence."""
    kind = criterion_kinds(conn).get(criterion.kind)
    found = (
        kind.describe(conn, form, criterion)
        if kind
        else in_both(N_("unknown criterion kind {kind}"), kind=criterion.kind)
    )
    if criterion.label:
        found["message_zh"] = criterion.label
        found["message_en"] = criterion.label_en or found["message_en"]
    return found


def _label(form: Form, key: str) -> str:
    found = form.get_field(key)
    return found.label if found else key


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == ()


# --- required_field ---------------------------------------------------------------------------


def _required_unmet(
    conn: Connection, form: Form, criterion: Criterion, writes: Sequence[ProposedWrite]
) -> set[int]:
    key = criterion.config["field"]
    return {w.record_id for w in writes if _blank(w.new.get(key))}


def _required_describe(conn: Connection, form: Form, criterion: Criterion) -> dict[str, str]:
    return in_both(N_("{field} must be filled in"), field=_label(form, criterion.config["field"]))


def _required_check(
    conn: Connection, form: Form, config: Mapping[str, Any], prefix: str, errors: ErrorCollector
) -> None:
    key = config.get("field")
    found = form.get_field(key) if isinstance(key, str) else None
    if found is None or field_type(found).holds_lines:
        errors.add(
            f"{prefix}field",
            "unknown_field",
            Text("no field {key!r} in {form_key}", key=key, form_key=form.key),
            key,
        )


# --- condition --------------------------------------------------------------------------------


def _condition_unmet(
    conn: Connection, form: Form, criterion: Criterion, writes: Sequence[ProposedWrite]
) -> set[int]:
    compiled = compile_expression(criterion.config["expression"], plain_scope(form.fields))
    now = utcnow(conn).astimezone(DEFAULT_TIME_ZONE)
    read = LogicalReader(form.active_fields)
    return {
        w.record_id
        for w in writes
        if compiled.evaluate(read(w.new), today=now.date(), now=now) is not True
    }


def _condition_describe(conn: Connection, form: Form, criterion: Criterion) -> dict[str, str]:
    return in_both(N_("the condition {expression} must hold"), **criterion.config)


def _condition_check(
    conn: Connection, form: Form, config: Mapping[str, Any], prefix: str, errors: ErrorCollector
) -> None:
    source = config.get("expression")
    if not isinstance(source, str) or not source.strip():
        errors.add(f"{prefix}expression", "required", Text("give an expression"), source)
        return
    try:
        compile_expression(source, plain_scope(form.fields))
    except ExpressionError as exc:
        errors.add(f"{prefix}expression", "invalid_expression", exc.message, source)


# --- related_record ---------------------------------------------------------------------------


def _related_unmet(
    conn: Connection, form: Form, criterion: Criterion, writes: Sequence[ProposedWrite]
) -> set[int]:
    related = find_form(conn, criterion.config["form"])
    ids = [w.record_id for w in writes]
    if related is None:
        return set(ids)
    table = compile_form(related).main
    link = table.c[criterion.config["link_field"]]
    query = sa.select(link).distinct().where(one_of(conn, link, ids), table.c.deleted_at.is_(None))
    condition = criterion.config.get("condition")
    if condition:
        now = utcnow(conn).astimezone(DEFAULT_TIME_ZONE)
        compiled = compile_expression(condition, plain_scope(related.fields))
        scope = sql_scope_for(conn, related, compile_form(related))
        query = query.where(compiled.to_sql(scope, dialect=conn.dialect, today=now.date(), now=now))
    return set(ids) - set(conn.scalars(query))


def _related_describe(conn: Connection, form: Form, criterion: Criterion) -> dict[str, str]:
    related = find_form(conn, criterion.config["form"])
    label = related.label if related else criterion.config["form"]
    if criterion.config.get("condition"):
        return in_both(
            N_("a related {form} meeting {condition} must exist"),
            form=label,
            condition=criterion.config["condition"],
        )
    return in_both(N_("a related {form} must exist"), form=label)


def _related_check(
    conn: Connection, form: Form, config: Mapping[str, Any], prefix: str, errors: ErrorCollector
) -> None:
    key = config.get("form")
    related = find_form(conn, key) if isinstance(key, str) else None
    if related is None:
        errors.add(f"{prefix}form", "unknown_form", Text("no form {key!r}", key=key), key)
        return
    link = related.get_field(config.get("link_field") or "")
    if link is None or not field_type(link).links_records or link.target != form.key:
        message = Text(
            "{related} has no link field to {form_key} named {link_field!r}",
            related=related.key,
            form_key=form.key,
            link_field=config.get("link_field"),
        )
        errors.add(f"{prefix}link_field", "unknown_field", message, config.get("link_field"))
    condition = config.get("condition")
    if condition:
        try:
            compile_expression(condition, plain_scope(related.fields))
        except ExpressionError as exc:
            errors.add(f"{prefix}condition", "invalid_expression", exc.message, condition)


# --- checklist --------------------------------------------------------------------------------


def _checklist_unmet(
    conn: Connection, form: Form, criterion: Criterion, writes: Sequence[ProposedWrite]
) -> set[int]:
    ids = [w.record_id for w in writes]
    ticked = conn.scalars(
        sa.select(checklist_ticks.c.record_id).where(
            checklist_ticks.c.form_key == form.key,
            checklist_ticks.c.item == criterion.config["item"],
            one_of(conn, checklist_ticks.c.record_id, ids),
        )
    )
    return set(ids) - set(ticked)


def _checklist_describe(conn: Connection, form: Form, criterion: Criterion) -> dict[str, str]:
    label = criterion.config.get("label") or criterion.config["item"]
    label_en = criterion.config.get("label_en") or label
    return in_both(N_("checklist item “{item}” must be ticked"), item=(label, label_en))


def _checklist_check(
    conn: Connection, form: Form, config: Mapping[str, Any], prefix: str, errors: ErrorCollector
) -> None:
    item = config.get("item")
    if not isinstance(item, str) or not item or len(item) > 63:
        errors.add(f"{prefix}item", "required", Text("give the checklist item a key"), item)


# --- sop_task ---------------------------------------------------------------------------------


SOP_REF = "stage-sop:{item}"
"""A stage SOP task's ``source_ref``: which SOP item it does (``flows.stages.history`` makes
it on entry; the gate finds it done by this)."""


def _sop_unmet(
    conn: Connection, form: Form, criterion: Criterion, writes: Sequence[ProposedWrite]
) -> set[int]:
    ids = [w.record_id for w in writes]
    done = conn.scalars(
        sa.select(tasks.c.record_id).where(
            tasks.c.form_key == form.key,
            tasks.c.source_ref == SOP_REF.format(item=criterion.config["item"]),
            tasks.c.state == "done",
            one_of(conn, tasks.c.record_id, ids),
        )
    )
    return set(ids) - set(done)


def _sop_describe(conn: Connection, form: Form, criterion: Criterion) -> dict[str, str]:
    title = criterion.config.get("title") or criterion.config["item"]
    title_en = criterion.config.get("title_en") or title
    return in_both(N_("SOP task “{title}” must be done"), title=(title, title_en))


def _sop_check(
    conn: Connection, form: Form, config: Mapping[str, Any], prefix: str, errors: ErrorCollector
) -> None:
    _checklist_check(conn, form, config, prefix, errors)
    title = config.get("title")
    if not isinstance(title, str) or not title.strip() or len(title) > 300:
        errors.add(f"{prefix}title", "required", Text("give the task a title (up to 300)"), title)
    due = config.get("due_in")
    if due is not None and (
        not isinstance(due, Mapping)
        or not isinstance(due.get("amount"), int)
        or isinstance(due.get("amount"), bool)
        or not 0 < due["amount"] <= 10000
        or due.get("unit", "hours") not in ("hours", "days")
        or due.get("basis", "business") not in ("business", "calendar")
    ):
        message = '{"amount": 1–10000, "unit": "hours"|"days", "basis": "business"|"calendar"}'
        errors.add(f"{prefix}due_in", "invalid", message, due)


BUILTIN_CRITERIA = (
    CriterionKind("required_field", _required_unmet, _required_describe, _required_check),
    CriterionKind("condition", _condition_unmet, _condition_describe, _condition_check),
    CriterionKind("related_record", _related_unmet, _related_describe, _related_check),
    CriterionKind("checklist", _checklist_unmet, _checklist_describe, _checklist_check),
    CriterionKind("sop_task", _sop_unmet, _sop_describe, _sop_check),
)
