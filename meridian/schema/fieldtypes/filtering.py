"""The conditions a structured filter compiles to, shared by the field types that declare them.

Each field type names the operators it supports (``FieldType.filter_operators``) and builds its
condition in ``FieldType.filter_clause``; the helpers here are the common comparisons.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement

from meridian.core.i18n import N_, Text
from meridian.errors import FieldError, ValidationFailed

if TYPE_CHECKING:
    from meridian.schema.compile import FormTables
    from meridian.schema.fieldtypes.base import ValueContext

COMPARING = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "between", "is_blank")
"""What every value with an order can be compared by."""
TEXT_MATCHING = ("contains", "starts_with")
"""Case-insensitive matching of part of a text."""
OPERATORS = frozenset(COMPARING + TEXT_MATCHING)
"""Every operator a structured filter knows."""


@dataclass(frozen=True)
class FilterPlace:
    """Where one condition is compiled.

    :ivar tables: the form's tables (its main table, line and pair tables).
    :ivar ctx: what parsing a compared value needs (the workspace zone).
    :ivar path: the condition's place in the filter, for errors (``filter.and.0``).
    :ivar dialect: the database's dialect name.
    """

    tables: FormTables
    ctx: ValueContext
    path: str
    dialect: str


def bad_filter(path: str, code: str, message: str, value: Any = None) -> ValidationFailed:
    return ValidationFailed([FieldError(path, code, message, value)])


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def check_operator(op: str, declared: tuple[str, ...], path: str, value: Any, what: str) -> None:
    """Refuse an operator no filter knows (``unknown_operator``) or one ``declared`` leaves out
    (``invalid_operator``)."""
    if op not in OPERATORS:
        raise bad_filter(path, "unknown_operator", Text("unknown operator {op!r}", op=op), op)
    if op in declared:
        return
    if op in TEXT_MATCHING:
        message = Text("{op} works on text fields with a text value", op=op)
        raise bad_filter(path, "invalid_operator", message, value)
    raise bad_filter(
        path,
        "invalid_operator",
        Text(
            "{op} does not apply to {what}",
            op=op,
            what=what if isinstance(what, Text) else Text(what),
        ),
        op,
    )


def compare(
    column: ColumnElement[Any],
    op: str,
    value: Any,
    parse: Callable[[Any], Any],
    path: str,
    declared: tuple[str, ...] = COMPARING,
    what: str = N_("this field"),
) -> ColumnElement[bool]:
    """``column op value`` for one plain column; ``parse`` turns each compared value into
    what the column stores."""
    check_operator(op, declared, path, value, what)
    if op == "is_blank":
        if not isinstance(value, bool):
            raise bad_filter(
                f"{path}.value", "invalid_filter", Text("is_blank takes true or false"), value
            )
        return column.is_(None) if value else column.is_not(None)
    if op in TEXT_MATCHING:
        if not isinstance(value, str):
            message = Text("{op} works on text fields with a text value", op=op)
            raise bad_filter(path, "invalid_operator", message, value)
        pattern = _escape_like(value.strip().lower())
        pattern = f"%{pattern}%" if op == "contains" else f"{pattern}%"
        return sa.func.lower(column).like(pattern, escape="\\")
    if op == "in":
        if not isinstance(value, list) or not value or len(value) > 1000:
            message = Text("in takes a list of 1 to 1000 values")
            raise bad_filter(f"{path}.value", "invalid_filter", message, value)
        return column.in_([parse(v) for v in value])
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            raise bad_filter(
                f"{path}.value", "invalid_filter", Text("between takes [low, high]"), value
            )
        return column.between(parse(value[0]), parse(value[1]))
    if value is None:
        message = Text("{op} needs a value; use is_blank for blanks", op=op)
        raise bad_filter(f"{path}.value", "invalid_filter", message)
    return _COMPARISONS[op](column, parse(value))


_COMPARISONS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "eq": lambda c, v: c == v,
    "ne": lambda c, v: sa.or_(c != v, c.is_(None)),
    "gt": lambda c, v: c > v,
    "gte": lambda c, v: c >= v,
    "lt": lambda c, v: c < v,
    "lte": lambda c, v: c <= v,
}


def json_array_contains(column: Any, option: Any, dialect: str) -> ColumnElement[bool]:
    """Whether a JSON array column holds ``option`` (an option value, a file id)."""
    if dialect == "postgresql":
        return column.op("@>")(sa.literal([option], type_=postgresql.JSONB))  # type: ignore[no-any-return]
    each = sa.func.json_each(column).table_valued("value")
    return sa.exists(sa.select(1).select_from(each).where(each.c.value == option))
