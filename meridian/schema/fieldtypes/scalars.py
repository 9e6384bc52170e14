"""Text, numbers, booleans, dates and times."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from meridian.core.i18n import Text
from meridian.db.types import READ_AS_TEXT, UTCDateTime, sqlite_date_iso, sqlite_datetime_iso
from meridian.errors import InvalidValue
from meridian.expr import ExprType
from meridian.schema.fieldtypes.base import (
    FieldType,
    Names,
    SchemaOf,
    ValueContext,
    require_text,
    require_type,
)
from meridian.schema.fieldtypes.filtering import COMPARING, TEXT_MATCHING
from meridian.schema.model import Field, Form

CURRENCY_DIGITS = {"CNY": 2, "USD": 2, "EUR": 2, "HKD": 2, "GBP": 2, "JPY": 0, "KRW": 0}


class TextType(FieldType):
    name = "text"
    designer_settings: ClassVar[tuple[str, ...]] = ("unique", "default", "length")
    searchable = True
    default_max_length = 500
    retype_family = "free_text"
    filter_operators: ClassVar[tuple[str, ...]] = COMPARING + TEXT_MATCHING

    def sql_type(self, field: Field) -> sa.types.TypeEngine[Any]:
        return sa.Text()

    def check_definition(self, field: Field, form: Form) -> list[str]:
        if field.pattern is not None:
            try:
                re.compile(field.pattern)
            except re.error as exc:
                return [f"pattern {field.pattern!r} is not a valid regular expression: {exc}"]
        return []

    def parse(self, field: Field, value: Any, ctx: ValueContext) -> Any:
        text = require_text(value, "invalid_text").strip()
        limit = field.max_length or self.default_max_length
        if len(text) > limit:
            raise InvalidValue(
                "too_long",
                Text(
                    "{count} characters is longer than the limit of {limit}",
                    count=len(text),
                    limit=limit,
                ),
            )
        if field.min_length is not None and len(text) < field.min_length:
            raise InvalidValue(
                "too_short",
                Text(
                    "{count} characters is shorter than {min_length}",
                    count=len(text),
                    min_length=field.min_length,
                ),
            )
        if field.pattern is not None and text and not re.fullmatch(field.pattern, text):
            raise InvalidValue(
                "pattern_mismatch",
                Text("{text!r} does not match {pattern!r}", text=text, pattern=field.pattern),
            )
        return text or None

    def json_schema(self, field: Field, schema_of: SchemaOf) -> dict[str, Any]:
        return {"type": "string", "maxLength": field.max_length or 500}

    def report_kind(self, field: Field) -> str | None:
        return "text"

    def import_cell(self, field: Field, cell: Any) -> Any:
        # A number typed into a text column comes back from a spreadsheet as a number.
        cell = super().import_cell(field, cell)
        return cell if cell is None or isinstance(cell, str) else str(cell)


class LongTextType(TextType):
    name = "long_text"
    designer_settings: ClassVar[tuple[str, ...]] = ("default", "length")
    searchable = False
    default_max_length = 100_000
    widget = "textarea"
    wide = True

    def json_schema(self, field: Field, schema_of: SchemaOf) -> dict[str, Any]:
        return {"type": "string"}

    def report_kind(self, field: Field) -> str | None:
        return None


NUMBER_DIGITS = 40
"""Digits, and powers of ten, that a number given to a field may have: more than any field
holds (18 digits), few enough that reading it costs nothing. ``1e999999999`` and a number of
5,000 digits were server errors — and converting either to an integer would take the
machine's memory (issue 13)."""


def _parse_decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise InvalidValue("invalid_number", Text("expected a number, got {value!r}", value=value))
    if isinstance(value, int) and value.bit_length() > 4 * NUMBER_DIGITS:
        raise InvalidValue("out_of_range", Text("more than {limit} digits", limit=NUMBER_DIGITS))
    text = str(value).strip().replace(",", "")
    if len(text) > 2 * NUMBER_DIGITS:
        raise InvalidValue(
            "out_of_range", Text("{count} characters is too long for a number", count=len(text))
        )
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise InvalidValue(
            "invalid_number", Text("{value!r} is not a number", value=value)
        ) from None
    if not number.is_finite():
        raise InvalidValue("invalid_number", Text("{value!r} is not a finite number", value=value))
    if not number:
        return Decimal(0)  # 0e999999999 too: its exponent would overflow in scaling
    if not -NUMBER_DIGITS <= number.adjusted() <= NUMBER_DIGITS:
        raise InvalidValue(
            "out_of_range", Text("{value!r} is beyond the range of numbers", value=value)
        )
    return number


def _check_range(field: Field, number: Decimal) -> None:
    if field.min_value is not None and number < field.min_value:
        raise InvalidValue(
            "below_minimum",
            Text(
                "{number} is less than the minimum {min_value}",
                number=number,
                min_value=field.min_value,
            ),
        )
    if field.max_value is not None and number > field.max_value:
        raise InvalidValue(
            "above_maximum",
            Text(
                "{number} is more than the maximum {max_value}",
                number=number,
                max_value=field.max_value,
            ),
        )


class IntegerType(FieldType):
    name = "integer"
    import_cleanser = "amount"
    designer_settings: ClassVar[tuple[str, ...]] = ("unique", "default", "range")
    retype_family = "number"
    numeric_input = True
    numeric_cell = True
    summable = True
    filter_input = "number"

    def presentation(self, field: Field) -> str:
        return "number"

    def sql_type(self, field: Field) -> sa.types.TypeEngine[Any]:
        return sa.BigInteger()

    def parse(self, field: Field, value: Any, ctx: ValueContext) -> Any:
        number = _parse_decimal(value)
        if number != number.to_integral_value():
            raise InvalidValue("not_integer", Text("{value!r} is not a whole number", value=value))
        _check_range(field, number)
        result = int(number)
        if not -(2**63) <= result < 2**63:
            raise InvalidValue(
                "out_of_range", Text("{value!r} does not fit in 64 bits", value=value)
            )
        return result

    def json_schema(self, field: Field, schema_of: SchemaOf) -> dict[str, Any]:
        return {"type": "integer"}


def scaled_integer_text(scale: int) -> Callable[[Any], str]:
    """A stored integer of ``scale`` decimal places → the text ``str(Decimal)`` writes for it,
    by placing the point in the integer's digits: a list page converts a hundred and more
    amounts, and building a ``Decimal`` for each cost more than the rest of the row. Up to six
    places ``Decimal`` never writes an exponent; past that it may, so it writes them itself."""
    if scale > 6:
        exponent = -scale
        return lambda stored: str(Decimal(int(stored)).scaleb(exponent))
    if scale == 0:
        return lambda stored: str(int(stored))
    width = scale + 1

    def text(stored: Any) -> str:
        number = int(stored)
        if number < 0:
            digits = str(-number).zfill(width)
            return f"-{digits[:-scale]}.{digits[-scale:]}"
        digits = str(number).zfill(width)
        return f"{digits[:-scale]}.{digits[-scale:]}"

    return text


class ScaledNumberType(FieldType):
    """Exact decimals stored as integers of ``10**scale`` units."""

    name = "decimal"
    import_cleanser = "amount"
    designer_settings: ClassVar[tuple[str, ...]] = ("unique", "default", "range", "scale")
    retype_family = "number"
    numeric_input = True
    numeric_cell = True
    summable = True
    filter_input = "number"

    def presentation(self, field: Field) -> str:
        return "number"

    def sql_type(self, field: Field) -> sa.types.TypeEngine[Any]:
        return sa.BigInteger()

    def storage_scale(self, field: Field) -> int:
        return field.scale

    def max_digits(self, field: Field) -> int:
        return min(field.precision, 18)

    def check_definition(self, field: Field, form: Form) -> list[str]:
        if field.scale >= field.precision:
            return [f"scale {field.scale} must be smaller than precision {field.precision}"]
        if field.precision > 18:
            return [f"precision {field.precision} is above the exact limit of 18 digits"]
        return []

    def parse(self, field: Field, value: Any, ctx: ValueContext) -> Any:
        number = _parse_decimal(value)
        scale = self.storage_scale(field)
        scaled = number.scaleb(scale)
        if scaled != scaled.to_integral_value():
            raise InvalidValue(
                "too_many_decimals",
                Text(
                    "{value!r} has more than {scale} digits after the point",
                    value=value,
                    scale=scale,
                ),
            )
        digits = len(str(abs(int(scaled))))
        if digits > field.precision:
            raise InvalidValue(
                "too_many_digits",
                Text(
                    "{value!r} has more than {precision} digits",
                    value=value,
                    precision=field.precision,
                ),
            )
        _check_range(field, number)
        return int(scaled)

    def dump(self, field: Field, stored: Any) -> Any:
        if stored is None:
            return None
        return str(Decimal(int(stored)).scaleb(-self.storage_scale(field)))

    def converter(self, field: Field) -> Callable[[Any], Any]:
        return scaled_integer_text(self.storage_scale(field))

    def json_schema(self, field: Field, schema_of: SchemaOf) -> dict[str, Any]:
        return {"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "examples": ["128000.00"]}

    def template_value(self, field: Field, value: Any, tz: ZoneInfo, names: Names) -> Any:
        return Decimal(str(value))

    def import_cell(self, field: Field, cell: Any) -> Any:
        # A float cell goes through its shortest text: 0.1 stays 0.1, not 0.1000000000000000055.
        return repr(cell) if isinstance(cell, float) else super().import_cell(field, cell)


class MoneyType(ScaledNumberType):
    name = "money"
    designer_settings: ClassVar[tuple[str, ...]] = ("unique", "default", "range", "currency")
    number_format = "currency"
    document_filter = " | money"

    def storage_scale(self, field: Field) -> int:
        return CURRENCY_DIGITS.get(field.currency, 2)

    def check_definition(self, field: Field, form: Form) -> list[str]:
        if field.currency not in CURRENCY_DIGITS:
            return [f"currency {field.currency!r} is not one of {', '.join(CURRENCY_DIGITS)}"]
        return []

    def parse(self, field: Field, value: Any, ctx: ValueContext) -> Any:
        if isinstance(value, float):
            raise InvalidValue(
                "inexact_money",
                Text("money must be given as a decimal string, got float {value!r}", value=value),
            )
        return super().parse(field, value, ctx)


class PercentType(ScaledNumberType):
    """A percentage as the user types it (``12.5`` is 12.5 %); formulas see the fraction."""

    name = "percent"
    import_cleanser = "tidy_text"  # 12.5% is not an amount
    number_format = "percent"

    def expression_scale(self, field: Field) -> int:
        return self.storage_scale(field) + 2


class BooleanType(FieldType):
    name = "boolean"
    designer_settings: ClassVar[tuple[str, ...]] = ()
    supports_unique = False
    widget = "checkbox"
    retype_family = "boolean"
    filter_input = "bool"
    _WORDS: ClassVar[dict[str, bool]] = {
        "true": True,
        "false": False,
        "1": True,
        "0": False,
        "是": True,
        "否": False,
    }

    def sql_type(self, field: Field) -> sa.types.TypeEngine[Any]:
        return sa.Boolean()

    def parse(self, field: Field, value: Any, ctx: ValueContext) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in self._WORDS:
            return self._WORDS[value.strip().lower()]
        raise InvalidValue(
            "invalid_boolean", Text("expected true or false, got {value!r}", value=value)
        )

    def parse_form(self, field: Field, posted: list[str]) -> Any:
        # A checkbox posts "true" after the hidden "false" only when it is ticked.
        return bool(posted) and posted[-1] in ("true", "on", "1")

    def presentation(self, field: Field) -> str:
        return "check"

    def expression_type(self, field: Field) -> ExprType | None:
        return ExprType.BOOLEAN

    def json_schema(self, field: Field, schema_of: SchemaOf) -> dict[str, Any]:
        return {"type": "boolean"}


class DateType(FieldType):
    name = "date"
    import_cleanser = "calendar_day"
    input_type = "date"
    retype_family = "date"
    filter_input = "date"
    always_indexed = True
    calendar_dated = True
    document_filter = " | cn_date"

    def presentation(self, field: Field) -> str:
        return "date"

    def calendar_day(self, field: Field, value: Any, tz: ZoneInfo) -> date | None:
        return date.fromisoformat(value)

    def import_cell(self, field: Field, cell: Any) -> Any:
        # Spreadsheets hold a date as a time at midnight.
        return (
            cell.date().isoformat()
            if isinstance(cell, datetime)
            else (super().import_cell(field, cell))
        )

    def template_value(self, field: Field, value: Any, tz: ZoneInfo, names: Names) -> Any:
        return date.fromisoformat(value)

    def expression_type(self, field: Field) -> ExprType | None:
        return ExprType.DATE

    def sql_type(self, field: Field) -> sa.types.TypeEngine[Any]:
        return sa.Date()

    def parse(self, field: Field, value: Any, ctx: ValueContext) -> Any:
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        require_type(value, str, "invalid_date", Text("a date like 2026-01-31"))
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise InvalidValue(
                "invalid_date", Text("{value!r} is not a date like 2026-01-31", value=value)
            ) from None

    def dump(self, field: Field, stored: Any) -> Any:
        return stored.isoformat() if stored is not None else None

    def text_reader(self, field: Field, dialect: str) -> Callable[[Any], Any] | None:
        return sqlite_date_iso if dialect in READ_AS_TEXT else None

    def json_schema(self, field: Field, schema_of: SchemaOf) -> dict[str, Any]:
        return {"type": "string", "format": "date"}


class DateTimeType(FieldType):
    """Stored in UTC; a value without an offset is read in the workspace time zone."""

    name = "datetime"
    input_type = "datetime-local"
    filter_input = "date"
    always_indexed = True
    calendar_dated = True
    document_filter = " | cn_date"

    def presentation(self, field: Field) -> str:
        return "datetime"

    def calendar_day(self, field: Field, value: Any, tz: ZoneInfo) -> date | None:
        return datetime.fromisoformat(value).astimezone(tz).date()

    def import_cell(self, field: Field, cell: Any) -> Any:
        # A spreadsheet's time has no zone: it is read in the workspace's, like a page's.
        return (
            cell.replace(microsecond=0).isoformat()
            if isinstance(cell, datetime)
            else (super().import_cell(field, cell))
        )

    def template_value(self, field: Field, value: Any, tz: ZoneInfo, names: Names) -> Any:
        return datetime.fromisoformat(value).astimezone(tz)

    def expression_type(self, field: Field) -> ExprType | None:
        return ExprType.DATETIME

    def sql_type(self, field: Field) -> sa.types.TypeEngine[Any]:
        return UTCDateTime()

    def parse(self, field: Field, value: Any, ctx: ValueContext) -> Any:
        if isinstance(value, datetime):
            moment = value
        else:
            require_type(
                value, str, "invalid_datetime", Text("a time like 2026-01-31T09:30:00+08:00")
            )
            try:
                moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                raise InvalidValue(
                    "invalid_datetime",
                    Text("{value!r} is not a time like 2026-01-31T09:30:00+08:00", value=value),
                ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ctx.tz)
        return moment.astimezone(UTC)

    def dump(self, field: Field, stored: Any) -> Any:
        return stored.isoformat() if stored is not None else None

    def text_reader(self, field: Field, dialect: str) -> Callable[[Any], Any] | None:
        return sqlite_datetime_iso if dialect in READ_AS_TEXT else None

    def json_schema(self, field: Field, schema_of: SchemaOf) -> dict[str, Any]:
        return {"type": "string", "format": "date-time"}
