"""Single and multiple choice from a builder-defined option list."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from meridian.core.i18n import Text
from meridian.db.types import READ_AS_TEXT, JSONType
from meridian.errors import InvalidValue
from meridian.expr import ExprType, FieldInfo
from meridian.schema.colors import PALETTE, is_color
from meridian.schema.fieldtypes.base import (
    CELL_SEPARATOR,
    FieldType,
    Names,
    SchemaOf,
    ValueContext,
    split_cell,
)
from meridian.schema.fieldtypes.filtering import FilterPlace, bad_filter, json_array_contains
from meridian.schema.model import Field, Form


def _option_value(field: Field, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidValue(
            "invalid_option", Text("expected an option value, got {value!r}", value=value)
        )
    wanted = value.strip()
    for option in field.options:
        if wanted in (option.value, option.label):
            return option.value
    allowed = ", ".join(field.option_values())
    raise InvalidValue(
        "invalid_option",
        Text("{value!r} is not one of the options: {allowed}", value=value, allowed=allowed),
    )


def _check_options(field: Field) -> list[str]:
    if not field.options:
        return ["a select field needs at least one option"]
    values = field.option_values()
    duplicates = sorted({v for v in values if values.count(v) > 1})
    if duplicates:
        return [f"option values must be unique; repeated: {', '.join(duplicates)}"]
    names = ", ".join(PALETTE)
    return [
        Text(
            "option {value!r}: colour must be #rgb, #rrggbb or one of {names}; got {color!r}",
            value=option.value,
            names=names,
            color=option.color[:40],
        )
        for option in field.options
        if not is_color(option.color)
    ]


class SelectType(FieldType):
    name = "select"
    designer_settings: ClassVar[tuple[str, ...]] = ("unique", "default", "options")
    has_options = True
    retype_family = "option"
    widget = "select"
    filter_input = "select"
    always_indexed = True
    board_grouping = True

    def presentation(self, field: Field) -> str:
        return "chips"

    def template_value(self, field: Field, value: Any, tz: ZoneInfo, names: Names) -> Any:
        labels = {option.value: option.label for option in field.options}
        return labels.get(value, value)

    def cell_formatter(
        self, field: Field, tz: ZoneInfo, names: Names
    ) -> Callable[[Any], Any] | None:
        labels = {option.value: option.label for option in field.options}
        return lambda value: labels.get(value, value)

    def export_cell(self, field: Field, value: Any) -> Any:
        labels = {option.value: option.label for option in field.options}
        return labels.get(value, value)

    def sql_type(self, field: Field) -> sa.types.TypeEngine[Any]:
        return sa.String(64)

    def check_definition(self, field: Field, form: Form) -> list[str]:
        return _check_options(field)

    def parse(self, field: Field, value: Any, ctx: ValueContext) -> Any:
        return _option_value(field, value)

    def json_schema(self, field: Field, schema_of: SchemaOf) -> dict[str, Any]:
        return {"type": "string", "enum": list(field.option_values())}

    def report_kind(self, field: Field) -> str | None:
        return "select"


class MultiSelectType(FieldType):
    name = "multi_select"
    designer_settings: ClassVar[tuple[str, ...]] = ("options",)
    has_options = True
    supports_unique = False
    widget = "checks"
    filter_input = "multi"
    list_valued = True
    filter_operators: ClassVar[tuple[str, ...]] = ("contains", "in", "is_blank")

    def presentation(self, field: Field) -> str:
        return "chips"

    def parse_form(self, field: Field, posted: list[str]) -> Any:
        return [text for text in posted if text]

    def import_cell(self, field: Field, cell: Any) -> Any:
        return split_cell(cell) or None

    def export_cell(self, field: Field, value: Any) -> Any:
        labels = {option.value: option.label for option in field.options}
        return CELL_SEPARATOR.join(labels.get(v, v) for v in value) if value else None

    def template_value(self, field: Field, value: Any, tz: ZoneInfo, names: Names) -> Any:
        labels = {option.value: option.label for option in field.options}
        return "、".join(labels.get(v, v) for v in value)

    def cell_formatter(
        self, field: Field, tz: ZoneInfo, names: Names
    ) -> Callable[[Any], Any] | None:
        labels = {option.value: option.label for option in field.options}
        return lambda value: "、".join(labels.get(v, v) for v in value)

    def expression_info(self, field: Field) -> FieldInfo | None:
        return FieldInfo(field.key, field.label, ExprType.TEXT, is_list=True)

    def filter_clause(
        self, field: Field, op: str, value: Any, place: FilterPlace
    ) -> ColumnElement[bool]:
        """``contains`` every one of the options, ``in``: any of them."""
        column = place.tables.main.c[field.key]
        if op == "is_blank" and isinstance(value, bool):
            return column.is_(None) if value else column.is_not(None)
        if op not in ("contains", "in"):
            message = Text("{op} does not apply to multi-select fields", op=op)
            raise bad_filter(place.path, "invalid_operator", message, op)
        wanted = value if isinstance(value, list) else [value]
        try:
            options = self.parse(field, wanted, place.ctx) or []
        except InvalidValue as exc:
            raise bad_filter(f"{place.path}.value", exc.code, exc.message, value) from None
        checks = [json_array_contains(column, option, place.dialect) for option in options]
        if not checks:
            return sa.false()
        return sa.and_(*checks) if op == "contains" else sa.or_(*checks)

    def sql_type(self, field: Field) -> sa.types.TypeEngine[Any]:
        return JSONType

    def check_definition(self, field: Field, form: Form) -> list[str]:
        return _check_options(field)

    def parse(self, field: Field, value: Any, ctx: ValueContext) -> Any:
        if not isinstance(value, list):
            raise InvalidValue(
                "invalid_options",
                Text("expected a list of option values, got {value!r}", value=value),
            )
        chosen = list(dict.fromkeys(_option_value(field, item) for item in value))
        return chosen or None

    def text_reader(self, field: Field, dialect: str) -> Callable[[Any], Any] | None:
        return _chosen_options if dialect in READ_AS_TEXT else None

    def json_schema(self, field: Field, schema_of: SchemaOf) -> dict[str, Any]:
        return {
            "type": "array",
            "items": {"type": "string", "enum": list(field.option_values())},
        }


@functools.lru_cache(maxsize=1024)
def _decoded(text: str) -> Any:
    return json.loads(text)


def _chosen_options(text: str) -> Any:
    """A multi-select's stored JSON text → its list, decoded once per distinct text: a form's
    rows hold few combinations of options, and a list page reads fifty. Each record gets a
    list of its own (the remembered one is never handed out, nor any other decoded value)."""
    value = _decoded(text)
    return list(value) if type(value) is list else json.loads(text)
