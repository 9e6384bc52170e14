"""Type changes as SQL: a predicate that finds values that would not survive, and a converter.

Both run in the database, so checking and converting a million rows is two statements, and a
change is refused with its offenders before anything is touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from meridian.core.i18n import Text
from meridian.errors import SchemaChangeRefused
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Field

TEXTISH = frozenset({"free_text", "text", "option"})
"""The families (``FieldType.retype_family``) whose values are text in the column."""
_TRUE_WORDS = ("true", "1", "是")
_FALSE_WORDS = ("false", "0", "否")


@dataclass(frozen=True)
class Conversion:
    """``lossy`` is true for a value that would not convert; ``convert`` yields the new value."""

    lossy: ColumnElement[bool] | None
    convert: ColumnElement[Any]


def plan_conversion(old: Field, new: Field, column: sa.Column[Any], dialect: str) -> Conversion:
    """The SQL to move ``column`` from ``old``'s storage to ``new``'s, or a refusal."""
    a, b = field_type(old).retype_family, field_type(new).retype_family
    same_type = old.type == new.type
    if a == "number" and b == "number":
        return _number_to_number(old, new, column)
    if a == "number" and b == "free_text":
        return Conversion(None, _number_to_text(old, column, dialect))
    if a in TEXTISH and b == "number":
        return _text_to_number(new, column, dialect)
    if a in TEXTISH and (b == "free_text" or (same_type and b != "option")):
        return _text_to_text(new, column)
    if a in TEXTISH and b == "option":
        return _text_to_select(new, column)
    if a in TEXTISH and b == "date":
        return _text_to_date(column, dialect)
    if a == "date" and b == "free_text":
        text = sa.func.to_char(column, "YYYY-MM-DD") if dialect == "postgresql" else column
        return Conversion(None, sa.cast(text, sa.Text))
    if a in TEXTISH and b == "boolean":
        word = sa.func.lower(sa.func.trim(column))
        return Conversion(
            sa.not_(word.in_(_TRUE_WORDS + _FALSE_WORDS)),
            sa.case((word.in_(_TRUE_WORDS), sa.true()), else_=sa.false()),
        )
    if a == "boolean" and b == "free_text":
        return Conversion(None, sa.case((column, "true"), else_="false"))
    raise SchemaChangeRefused(
        Text(
            "field {key!r} cannot change from {a} to {b}; add a new field and copy the values",
            key=old.key,
            a=old.type,
            b=new.type,
        ),
    )


def _scale(field: Field) -> int:
    return field_type(field).storage_scale(field)


def _precision_limit(new: Field) -> int:
    digits: int = field_type(new).max_digits(new)
    return int(10**digits)


def _number_to_number(old: Field, new: Field, column: sa.Column[Any]) -> Conversion:
    shift = _scale(new) - _scale(old)
    limit = _precision_limit(new)
    if shift >= 0:
        factor = 10**shift
        too_big = sa.func.abs(column) >= limit // factor
        return Conversion(too_big, column * factor)
    factor = 10**-shift
    lossy = sa.or_(column % factor != 0, sa.func.abs(column / factor) >= limit)
    return Conversion(lossy, column / factor)


def _number_to_text(old: Field, column: sa.Column[Any], dialect: str) -> ColumnElement[Any]:
    scale = _scale(old)
    if scale == 0:
        return sa.cast(column, sa.Text)
    factor = 10**scale
    sign = sa.case((column < 0, "-"), else_="")
    whole = sa.cast(sa.func.abs(column) / factor, sa.Text)
    fraction_digits = sa.cast(sa.func.abs(column) % factor, sa.Text)
    padded: ColumnElement[Any]
    if dialect == "postgresql":
        padded = sa.func.lpad(fraction_digits, scale, "0")
    else:
        padded = sa.func.substr(sa.literal("0" * scale) + fraction_digits, -scale)
    return sign + whole + "." + padded


def _text_to_number(new: Field, column: sa.Column[Any], dialect: str) -> Conversion:
    scale = _scale(new)
    text = sa.func.trim(column)
    pattern = (
        r"^[-+]?[0-9]{1,18}$" if scale == 0 else rf"^[-+]?[0-9]{{1,18}}(\.[0-9]{{0,{scale}}})?$"
    )
    bad_shape = sa.not_(text.regexp_match(pattern))
    if dialect == "postgresql":
        converted: ColumnElement[Any] = sa.cast(
            sa.func.round(sa.cast(text, sa.Numeric) * 10**scale), sa.BigInteger
        )
    else:
        converted = _sqlite_exact_scaled(text, scale)
    limit = _precision_limit(new)
    return Conversion(sa.or_(bad_shape, sa.func.abs(converted) >= limit), converted)


def _sqlite_exact_scaled(text: ColumnElement[Any], scale: int) -> ColumnElement[Any]:
    """Parse ``-12.5`` as 1250 with string arithmetic: SQLite's REAL would round large values."""
    if scale == 0:
        return sa.cast(text, sa.Integer)
    dot = sa.func.instr(text, ".")
    whole = sa.case((dot > 0, sa.func.substr(text, 1, dot - 1)), else_=text)
    fraction = sa.case((dot > 0, sa.func.substr(text, dot + 1)), else_="")
    fraction_units = sa.cast(sa.func.substr(fraction + "0" * scale, 1, scale), sa.Integer)
    negative = sa.func.substr(text, 1, 1) == "-"
    magnitude = sa.func.abs(sa.cast(whole, sa.Integer)) * 10**scale + fraction_units
    return sa.case((negative, -magnitude), else_=magnitude)


def _text_to_text(new: Field, column: sa.Column[Any]) -> Conversion:
    limit = new.max_length or field_type(new).default_max_length
    text = sa.cast(column, sa.Text)
    return Conversion(sa.func.length(text) > limit, text)


def _text_to_select(new: Field, column: sa.Column[Any]) -> Conversion:
    text = sa.func.trim(sa.cast(column, sa.Text))
    labels = {option.label: option.value for option in new.options}
    accepted = (*new.option_values(), *labels)
    convert = sa.case(
        *((text == label, value) for label, value in labels.items() if label != value),
        else_=text,
    )
    return Conversion(sa.not_(text.in_(accepted)), convert)


def _text_to_date(column: sa.Column[Any], dialect: str) -> Conversion:
    text = sa.func.trim(column)
    shape = text.regexp_match(r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")
    if dialect == "postgresql":
        return Conversion(sa.not_(shape), sa.cast(text, sa.Date))
    return Conversion(sa.or_(sa.not_(shape), sa.func.date(text) != text), text)
