"""HTML form values (always strings) → the values the records service takes.

Only the shape changes here — a blank becomes None, a checkbox a boolean, ids numbers; every
rule is checked by the records service, so a page validates exactly like the API.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from meridian.core import strict_json
from meridian.schema.fieldtypes import FieldType, field_type
from meridian.schema.model import Field


def editable_inline(types: Mapping[str, FieldType]) -> frozenset[str]:
    """The field types a grid cell edits in place, of the workspace's (a plugin's too): not
    computed ones, and not lines or files, which need the record's own page."""
    return frozenset(
        name for name, kind in types.items() if kind.inline_editable and not kind.computed
    )


def posted_id(text: str) -> int | str | None:
    """A posted id: blank is None, a number its int; anything else is passed on as typed, so
    the service names it in its error instead of the page reading it as blank."""
    text = text.strip()
    if not text:
        return None
    return int(text) if text.isdecimal() and len(text) <= 19 else text


def parse_input(field: Field, posted: Sequence[Any]) -> Any:
    """One field's posted strings; a value that is not even of the right shape is passed on
    as typed, so the records service names it in its error."""
    texts = [str(value) for value in posted]
    if field.type == "multi_select":
        return [text for text in texts if text]
    if field.type == "boolean":
        return bool(texts) and texts[-1] in ("true", "on", "1")
    last = texts[-1] if texts else ""
    if field.type == "link" and field.many:
        return [posted_id(text) for text in texts if text.strip()]
    if field.type in ("link", "user"):
        return posted_id(last)
    if field.type == "attachment":
        return [part.strip() for part in last.split(",") if part.strip()]
    if field.type == "child_table":
        if not last.strip():
            return []
        try:
            return strict_json.loads(last)
        except strict_json.RefusedJSON:
            return last
    return last if last.strip() else None


def parse_record_form(fields: Sequence[Field], form: Any) -> dict[str, Any]:
    """Values for every editable field the page posted (a page posts each field it shows)."""
    present = set(form.keys()) | {
        key.removesuffix("__shown") for key in form if str(key).endswith("__shown")
    }
    return {
        field.key: parse_input(field, form.getlist(field.key))
        for field in fields
        if field.key in present and not field_type(field).computed
    }
