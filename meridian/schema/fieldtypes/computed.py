"""Values the server computes: formulas over the record and rollups over related records."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from meridian.core.i18n import Text
from meridian.db.types import UTCDateTime
from meridian.errors import InvalidValue
from meridian.expr import ExprType
from meridian.schema.fieldtypes.base import (
    FieldType,
    Names,
    SchemaOf,
    ValueContext,
    require_text,
)
from meridian.schema.fieldtypes.scalars import (
    BooleanType,
    DateTimeType,
    DateType,
    ScaledNumberType,
)
from meridian.schema.model import Field, Form

RESULT_SQL_TYPES: dict[str, sa.types.TypeEngine[Any]] = {
    "number": sa.BigInteger(),
    "text": sa.Text(),
    "boolean": sa.Boolean(),
    "date": sa.Date(),
    "datetime": UTCDateTime(),
}


RESULT_SCHEMAS: dict[str, dict[str, Any]] = {
    "number": {"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "examples": ["128000.00"]},
    "text": {"type": "string"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
}
"""A computed value's JSON Schema by its result type, as the API sends it."""


class FormulaType(FieldType):
    """A value computed from the record by an expression, stored so views can filter and sort.

    The result type is inferred when the formula is saved; numbers are kept exactly, as
    integers of ``10**scale`` units like decimals.
    """

    name = "formula"
    designer_settings: ClassVar[tuple[str, ...]] = ("expression", "shown_as")
    computed = True
    supports_unique = False
    evaluates_expression = True
    widget = "computed"
    filter_input = "number"

    def presentation(self, field: Field) -> str:
        return "number" if (field.result_type or "number") == "number" else "text"

    def number_style(self, field: Field) -> str:
        return field.shown_as or "decimal"

    def print_filter(self, field: Field) -> str:
        return " | money" if field.shown_as == "currency" else ""

    def template_value(self, field: Field, value: Any, tz: ZoneInfo, names: Names) -> Any:
        result = field.result_type or "number"
        if result == "number":
            return Decimal(str(value))
        if result == "date":
            return date.fromisoformat(value)
        if result == "datetime":
            return datetime.fromisoformat(value).astimezone(tz)
        return value

    def expression_type(self, field: Field) -> ExprType | None:
        return ExprType(field.result_type) if field.result_type else None

    def filter_value(self, field: Field, raw: Any, ctx: ValueContext) -> Any:
        """A compared value read as the formula's result is stored (a number scaled like a
        decimal's): compared as given, ``"50"`` met a scaled integer column, which PostgreSQL
        refused as a server error."""
        result = field.result_type or "number"
        if result == "text":
            return require_text(raw, "invalid_text")
        return _RESULT_READERS[result].parse(field, raw, ctx)

    def report_kind(self, field: Field) -> str | None:
        result = field.result_type or "number"
        return result if result in ("number", "date", "datetime") else "text"

    def sql_type(self, field: Field) -> sa.types.TypeEngine[Any]:
        return RESULT_SQL_TYPES[field.result_type or "number"]

    def storage_scale(self, field: Field) -> int:
        return field.scale if (field.result_type or "number") == "number" else 0

    def check_definition(self, field: Field, form: Form) -> list[str]:
        return [] if field.expression else ["a formula field needs an expression"]

    def parse(self, field: Field, value: Any, ctx: ValueContext) -> Any:
        raise InvalidValue("read_only", Text("formula values are computed by the server"))

    def dump(self, field: Field, stored: Any) -> Any:
        if stored is None:
            return None
        if (field.result_type or "number") == "number":
            return str(Decimal(int(stored)).scaleb(-field.scale))
        return stored.isoformat() if hasattr(stored, "isoformat") else stored

    def json_schema(self, field: Field, schema_of: SchemaOf) -> dict[str, Any]:
        return {**RESULT_SCHEMAS[field.result_type or "number"], "readOnly": True}


class RollupType(FormulaType):
    """Sum, count, minimum, maximum or average over a child table's lines or over the records
    of another form that link here; stored as an exact number like a formula's."""

    name = "rollup"
    designer_settings: ClassVar[tuple[str, ...]] = ("shown_as",)
    evaluates_expression = False
    aggregates = True

    def expression_type(self, field: Field) -> ExprType | None:
        return ExprType.NUMBER

    def check_definition(self, field: Field, form: Form) -> list[str]:
        if field.rollup is None:
            return ["a rollup field needs a source, a function and (except for count) a field"]
        if field.rollup.function != "count" and not field.rollup.field:
            return [f"rollup function {field.rollup.function} needs a field to aggregate"]
        return []

    def parse(self, field: Field, value: Any, ctx: ValueContext) -> Any:
        raise InvalidValue("read_only", Text("rollup values are computed by the server"))


_RESULT_READERS: dict[str, FieldType] = {
    "number": ScaledNumberType(),
    "boolean": BooleanType(),
    "date": DateType(),
    "datetime": DateTimeType(),
}
"""How a value compared with a formula's result is read, by result type."""
