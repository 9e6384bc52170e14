"""HTML form values (always strings) → the values the records service takes.

Only the shape changes here — a blank becomes None, a checkbox a boolean, ids numbers; every
rule is checked by the records service, so a page validates exactly like the API.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from meridian.schema.fieldtypes import FieldType, field_type
from meridian.schema.fieldtypes.base import posted_id
from meridian.schema.model import Field


def editable_inline(types: Mapping[str, FieldType]) -> frozenset[str]:
    """The field types a grid cell edits in place, of the workspace's (a plugin's too): not
    computed ones, and not lines or files, which need the record's own page."""
    return frozenset(
        name for name, kind in types.items() if kind.inline_editable and not kind.computed
    )


__all__ = ["editable_inline", "parse_input", "parse_record_form", "posted_id"]


def parse_input(field: Field, posted: Sequence[Any]) -> Any:
    """One field's posted strings, read by its type (``FieldType.parse_form``)."""
    return field_type(field).parse_form(field, [str(value) for value in posted])


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
