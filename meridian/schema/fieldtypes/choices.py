"""Single and multiple choice from a builder-defined option list."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from meridian.db.types import JSONType
from meridian.errors import InvalidValue
from meridian.schema.colors import PALETTE, is_color
from meridian.schema.fieldtypes.base import FieldType, SchemaOf, ValueContext
from meridian.schema.model import Field, Form


def _option_value(field: Field, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidValue("invalid_option", f"expected an option value, got {value!r}")
    wanted = value.strip()
    for option in field.options:
        if wanted in (option.value, option.label):
            return option.value
    allowed = ", ".join(field.option_values())
    raise InvalidValue("invalid_option", f"{value!r} is not one of the options: {allowed}")


def _check_options(field: Field) -> list[str]:
    if not field.options:
        return ["a select field needs at least one option"]
    values = field.option_values()
    duplicates = sorted({v for v in values if values.count(v) > 1})
    if duplicates:
        return [f"option values must be unique; repeated: {', '.join(duplicates)}"]
    names = ", ".join(PALETTE)
    return [
        f"option {option.value!r}: colour must be #rgb, #rrggbb or one of {names}; got "
        f"{option.color[:40]!r} / 选项 {option.value!r} 的颜色须为 #rgb、#rrggbb 或 {names} 之一，"
        f"收到 {option.color[:40]!r}"
        for option in field.options
        if not is_color(option.color)
    ]


class SelectType(FieldType):
    name = "select"

    def sql_type(self, field: Field) -> sa.types.TypeEngine[Any]:
        return sa.String(64)

    def check_definition(self, field: Field, form: Form) -> list[str]:
        return _check_options(field)

    def parse(self, field: Field, value: Any, ctx: ValueContext) -> Any:
        return _option_value(field, value)

    def json_schema(self, field: Field, schema_of: SchemaOf) -> dict[str, Any]:
        return {"type": "string", "enum": list(field.option_values())}


class MultiSelectType(FieldType):
    name = "multi_select"
    supports_unique = False

    def sql_type(self, field: Field) -> sa.types.TypeEngine[Any]:
        return JSONType

    def check_definition(self, field: Field, form: Form) -> list[str]:
        return _check_options(field)

    def parse(self, field: Field, value: Any, ctx: ValueContext) -> Any:
        if not isinstance(value, list):
            raise InvalidValue(
                "invalid_options", f"expected a list of option values, got {value!r}"
            )
        chosen = list(dict.fromkeys(_option_value(field, item) for item in value))
        return chosen or None

    def text_reader(self, field: Field, dialect: str) -> Callable[[Any], Any] | None:
        return json.loads if dialect == "sqlite" else None

    def json_schema(self, field: Field, schema_of: SchemaOf) -> dict[str, Any]:
        return {
            "type": "array",
            "items": {"type": "string", "enum": list(field.option_values())},
        }
