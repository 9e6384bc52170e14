"""Turning API values into stored values (collecting every error) and back."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from meridian.errors import ErrorCollector, InvalidValue
from meridian.schema.fieldtypes import ValueContext, field_type
from meridian.schema.model import Field, Form

WRITABLE_SYSTEM_KEYS = frozenset({"owner_id"})
IGNORED_SYSTEM_KEYS = frozenset(
    {"id", "_version", "created_at", "created_by", "updated_at", "updated_by", "deleted_at"}
)


@dataclass
class ParsedRecord:
    """One record's input after field checks: column values, line items and link sets."""

    columns: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    pairs: dict[str, list[int]] = field(default_factory=dict)


def parse_values(
    form: Form,
    values: Mapping[str, Any],
    ctx: ValueContext,
    errors: ErrorCollector,
    *,
    prefix: str = "",
    creating: bool,
) -> ParsedRecord:
    """Check every given value; on create also apply defaults and the required rule.

    Errors go to ``errors`` (so a batch reports every problem at once) with the field path.
    """
    parsed = ParsedRecord()
    if not isinstance(values, Mapping):
        errors.add(prefix.rstrip(".") or "body", "invalid_record", "expected a JSON object", values)
        return parsed
    fields = {f.key: f for f in form.active_fields}
    for key, value in values.items():
        if key in IGNORED_SYSTEM_KEYS:
            continue
        if key == "owner_id":
            _parse_owner(value, parsed, errors, prefix)
            continue
        field_def = fields.get(key)
        if field_def is None:
            errors.add(
                prefix + key, "unknown_field", f"form {form.key!r} has no field {key!r}", value
            )
            continue
        _parse_one(form, field_def, value, ctx, errors, parsed, prefix)
    if creating:
        for field_def in fields.values():
            if field_def.key in values or field_def.default is None:
                continue
            default = (
                list(field_def.default)
                if isinstance(field_def.default, tuple)
                else field_def.default
            )
            _parse_one(form, field_def, default, ctx, errors, parsed, prefix)
        for field_def in fields.values():
            if (
                field_def.required
                and not field_type(field_def).computed
                and _is_blank(parsed, field_def)
            ):
                errors.add(
                    prefix + field_def.key, "required", f"{field_def.label} is required", None
                )
    else:
        for key in values:
            field_def = fields.get(key)
            if field_def is not None and field_def.required and _is_blank(parsed, field_def):
                errors.add(prefix + key, "required", f"{field_def.label} is required", values[key])
    return parsed


def _is_blank(parsed: ParsedRecord, field_def: Field) -> bool:
    if field_def.type == "child_table":
        return not parsed.lines.get(field_def.key)
    if field_def.type == "link" and field_def.many:
        return not parsed.pairs.get(field_def.key)
    return parsed.columns.get(field_def.key) is None


def _parse_owner(value: Any, parsed: ParsedRecord, errors: ErrorCollector, prefix: str) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        parsed.columns["owner_id"] = value
    else:
        errors.add(prefix + "owner_id", "invalid_reference", "expected a user id", value)


def _parse_one(
    form: Form,
    field_def: Field,
    value: Any,
    ctx: ValueContext,
    errors: ErrorCollector,
    parsed: ParsedRecord,
    prefix: str,
) -> None:
    kind = field_type(field_def)
    path = prefix + field_def.key
    if kind.computed:
        errors.add(path, "read_only", f"{field_def.label} is computed by the server", value)
        return
    if value is None or value == "" or value == []:
        if field_def.type == "child_table":
            parsed.lines[field_def.key] = []
        elif field_def.type == "link" and field_def.many:
            parsed.pairs[field_def.key] = []
        else:
            parsed.columns[field_def.key] = None
        return
    try:
        stored = kind.parse(field_def, value, ctx)
    except InvalidValue as exc:
        errors.add(path, exc.code, exc.message, value)
        return
    if field_def.type == "child_table":
        line_form = line_form_of(field_def)
        lines = []
        for index, line in enumerate(stored):
            line_values = parse_values(
                line_form, line, ctx, errors, prefix=f"{path}.{index}.", creating=True
            )
            lines.append(line_values.columns)
        parsed.lines[field_def.key] = lines
    elif field_def.type == "link" and field_def.many:
        parsed.pairs[field_def.key] = stored
    else:
        parsed.columns[field_def.key] = stored


@functools.lru_cache(maxsize=256)
def line_form_of(field_def: Field) -> Form:
    """A child table's lines, seen as a form of their own so the same checks apply."""
    return Form(key="lines", app_key="lines", label=field_def.label, fields=field_def.fields)


def dump_columns(form_fields: tuple[Field, ...], row: Mapping[Any, Any]) -> dict[str, Any]:
    """Stored column values → API values, for the fields that have columns."""
    result: dict[str, Any] = {}
    for field_def in form_fields:
        if field_def.key in row:
            stored = row[field_def.key]
            result[field_def.key] = (
                None if stored is None else field_type(field_def).dump(field_def, stored)
            )
    return result
