"""The form designer's save: one draft of a whole form becomes schema changes in one transaction.

The designer edits a form as a whole (fields, their order, sections, label); saving compares the
draft with the stored form and applies each difference through the ordinary schema changes —
add, change, archive — so every check they make (conversions, blanks, broken formulas) holds,
and one refused change leaves the form exactly as it was.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from meridian.core.actor import Actor
from meridian.core.i18n import Text
from meridian.errors import FieldError, ValidationFailed
from meridian.expr.compiled import CompiledExpression, compile_expression
from meridian.plugins.manager import plugins_of
from meridian.schema import changes
from meridian.schema.catalog import get_form, store_form
from meridian.schema.expressions import scope_for
from meridian.schema.fieldtypes import FieldType, field_types_of
from meridian.schema.model import Form, Section, parse_model

_FORM_SETTINGS = ("label", "description", "title_field")


def save_draft(*, conn: Connection, actor: Actor, app_key: str, draft: Any, tz: ZoneInfo) -> Form:
    """Create the form the draft describes (``"new": true``) or bring the stored one in line.

    A draft is ``{key, label, new, fields: [{…field settings, "section": i}], sections:
    [{title, columns}]}``; fields the builder has not keyed get keys from their labels.
    """
    changes.require_builder(actor)
    if not isinstance(draft, dict) or not isinstance(draft.get("fields"), list):
        raise ValidationFailed(
            [
                FieldError(
                    "fields", "invalid_draft", Text("a draft is an object with a list of fields")
                )
            ]
        )
    items, placement = [], []
    for index, item in enumerate(draft["fields"]):
        if not isinstance(item, dict):
            raise ValidationFailed(
                [FieldError(f"fields.{index}", "invalid_draft", Text("expected an object"), item)]
            )
        item = dict(item)
        placement.append(item.pop("section", 0))
        items.append(item)
    if draft.get("new"):
        settings = {name: draft[name] for name in ("key", "label", "description") if name in draft}
        form = changes.form_from_draft(conn, app_key, {**settings, "fields": items})
        form = changes.create_form(conn=conn, actor=actor, form=form)
        form_key, keys = form.key, [field.key for field in form.fields]
    else:
        form_key = str(draft.get("key"))
        keys = _apply_fields(conn, actor, get_form(conn, form_key), items, tz)
    sections = _sections(draft.get("sections"), keys, placement)
    return arrange_form(
        conn=conn,
        actor=actor,
        form_key=form_key,
        order=keys,
        sections=sections,
        settings={name: draft[name] for name in _FORM_SETTINGS if name in draft},
    )


def _apply_fields(
    conn: Connection, actor: Actor, form: Form, items: list[dict[str, Any]], tz: ZoneInfo
) -> list[str]:
    """Archive, restore, add and change fields; the keys of the draft's fields, in order."""
    wanted = {item["key"] for item in items if item.get("key")}
    for field in form.active_fields:
        if field.key not in wanted:
            form = changes.archive_field(
                conn=conn, actor=actor, form_key=form.key, field_key=field.key
            )
    keys = []
    for item in items:
        current = form.get_field(item.get("key") or "")
        if current is None:
            field = changes.field_from_draft(conn, form.key, item)
            form = changes.add_field(conn=conn, actor=actor, form_key=form.key, field=field, tz=tz)
            keys.append(field.key)
            continue
        keys.append(current.key)
        if current.archived:
            form = changes.restore_field(
                conn=conn, actor=actor, form_key=form.key, field_key=current.key
            )
        stored = current.model_dump(mode="json", exclude={"archived"})
        changed = {
            name: value
            for name, value in item.items()
            if name in stored and name != "key" and value != stored[name]
        }
        if changed:
            form = changes.update_field(
                conn=conn,
                actor=actor,
                form_key=form.key,
                field_key=current.key,
                changes=changed,
                tz=tz,
            )
    return keys


def _sections(value: Any, keys: list[str], placement: list[Any]) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(s, dict) for s in value):
        raise ValidationFailed(
            [FieldError("sections", "invalid_draft", Text("sections are a list of objects"), value)]
        )
    sections = [{**section, "fields": []} for section in value]
    for key, index in zip(keys, placement, strict=True):
        if not isinstance(index, int) or not 0 <= index < len(sections):
            raise ValidationFailed(
                [
                    FieldError(
                        f"fields.{key}.section", "unknown_section", Text("no such section"), index
                    )
                ]
            )
        sections[index]["fields"].append(key)
    return sections


def arrange_form(
    *,
    conn: Connection,
    actor: Actor,
    form_key: str,
    order: list[str],
    sections: list[dict[str, Any]],
    settings: dict[str, Any],
) -> Form:
    """Order the fields, lay them out in sections and take the label, description and title
    field: a change of layout only, so no data is touched."""
    changes.require_builder(actor)
    form = get_form(conn, form_key)
    rank = {key: index for index, key in enumerate(order)}
    fields = sorted(form.fields, key=lambda f: rank.get(f.key, len(rank)))
    arranged = parse_model(
        Form,
        {
            **form.model_dump(),
            **settings,
            "fields": [f.model_dump() for f in fields],
            "sections": [parse_model(Section, s).model_dump() for s in sections],
        },
    )
    if arranged == form:
        return form
    arranged = arranged.model_copy(update={"version": form.version + 1})
    changes.check_form_definition(conn, arranged)
    store_form(conn, arranged, new=False)
    changes.record_change(
        conn,
        actor,
        arranged,
        "arrange_form",
        f"arranged form {form.key}",
        _layout(form),
        _layout(arranged),
    )
    return arranged


def _layout(form: Form) -> dict[str, Any]:
    return {
        "label": form.label,
        "title_field": form.title_field,
        "fields": [f.key for f in form.fields],
        "sections": [s.model_dump() for s in form.sections],
    }


def check_formula(
    conn: Connection, *, app_key: str, draft: Any, expression: str
) -> CompiledExpression:
    """Type-check a formula against the form being designed, before anything is saved.

    :raises ExpressionError: with the position and a message in both languages.
    """
    fields = draft.get("fields", []) if isinstance(draft, dict) else []
    types = field_types_of(plugins_of(conn))
    others = [
        {k: v for k, v in item.items() if k != "section"}
        for item in fields
        if isinstance(item, dict) and not _recomputed(types.get(str(item.get("type"))))
    ]
    form = changes.form_from_draft(
        conn, app_key, {"key": draft.get("key") or None, "label": "draft", "fields": others}
    )
    return compile_expression(expression, scope_for(conn, form))


def _recomputed(kind: FieldType | None) -> bool:
    return kind is not None and kind.recomputed()
