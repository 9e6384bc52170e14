"""A form's change log as one actor may see it: without the fields hidden from them.

The log keeps each field's whole definition (options, help, formulas) before and after each
change. A field hidden from someone is unknown to them everywhere — records, filters, the
form's definition, the API document — so its entries are left out of their log as well, and
a whole form's definition in an entry loses those fields as ``GET /forms/{form}`` does.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import Connection

from meridian.access.permissions import form_access, without_fields
from meridian.core.actor import Actor
from meridian.schema.catalog import get_form, list_schema_changes
from meridian.schema.model import Form


def list_visible_changes(*, conn: Connection, actor: Actor, form_key: str) -> list[dict[str, Any]]:
    """The form's change log, newest first; builders see all of it, others only what
    concerns the fields they see (fields since purged included: their hiding is unknown)."""
    form = get_form(conn, form_key)
    entries = list_schema_changes(conn, form_key)
    if actor.is_admin or actor.can_build:
        return entries
    hidden = form_access(conn, actor, form).hidden
    shown = {f.key for f in form.fields if f.key not in hidden}
    visible = []
    for entry in entries:
        sides = [_side(entry[side], shown) for side in ("before", "after")]
        if any(side is _LEFT_OUT for side in sides):
            continue
        visible.append({**entry, "before": sides[0], "after": sides[1]})
    return visible


_LEFT_OUT = object()


def _side(value: Any, shown: set[str]) -> Any:
    """One side of an entry: a whole form loses the hidden fields; a hidden field's own
    definition leaves the entry out."""
    if not isinstance(value, dict):
        return value
    if "app_key" in value and isinstance(value.get("fields"), list):
        hidden = {f.get("key") for f in value["fields"]} - shown
        try:
            return without_fields(Form.model_validate(value), hidden).model_dump(mode="json")
        except ValidationError:  # a definition older than today's model: no fields at all
            return {**value, "fields": [], "sections": [], "validations": [], "title_field": None}
    if "key" in value and "type" in value:
        return value if value["key"] in shown else _LEFT_OUT
    return value
