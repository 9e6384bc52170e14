"""A report's filters: the records filter compiler, plus the columns a report adds to the
form's rows (``visit.<column>`` of the stage history, ``<related>.<aggregate>``).

Every other condition is compiled by :class:`meridian.records.query.FilterCompiler` exactly as
a list's, so a report's filter reaches no more than the viewer's list could.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy.sql.elements import ColumnElement

from meridian.core.i18n import Text
from meridian.records.query import FilterCompiler
from meridian.schema.fieldtypes.filtering import COMPARING, bad_filter, compare

if TYPE_CHECKING:
    from meridian.reports.terms import Term, Terms


class ReportFilters(FilterCompiler):
    """The records filter compiler that also knows the report's own columns."""

    def __init__(self, terms: Terms) -> None:
        super().__init__(
            terms.conn, terms.form, terms.tz, terms.readable.plan.tables, actor=terms.actor
        )
        self.terms = terms

    def _condition(self, node: dict[str, Any], path: str) -> ColumnElement[bool]:
        key = node.get("field")
        if isinstance(key, str) and self.terms.added(key) and isinstance(node.get("op"), str):
            self.count += 1
            unknown = set(node) - {"field", "op", "value"}
            if unknown:
                raise bad_filter(
                    path, "invalid_filter", Text("a condition is {field, op, value}"), node
                )
            term = self.terms.resolve(key, path)
            return term_condition(term, str(node["op"]), node.get("value"), self.terms.tz, path)
        return super()._condition(node, path)


def term_condition(term: Term, op: str, value: Any, tz: ZoneInfo, path: str) -> ColumnElement[bool]:
    """``term op value`` for a column a report adds (not a field of the form)."""
    declared: tuple[str, ...] = ("eq", "ne", "in", "is_blank")
    if term.kind in ("number", "datetime", "date"):
        declared = COMPARING
    return compare(term.column, op, value, _parser(term.kind, term.scale, tz, path), path, declared)


def _parser(kind: str, scale: int, tz: ZoneInfo, path: str) -> Callable[[Any], Any]:
    def parse(raw: Any) -> Any:
        if kind == "boolean":
            if not isinstance(raw, bool):
                raise bad_filter(
                    f"{path}.value", "invalid_boolean", Text("expected true or false"), raw
                )
            return raw
        if kind in ("datetime", "date"):
            try:
                moment = datetime.fromisoformat(str(raw))
            except ValueError:
                raise bad_filter(
                    f"{path}.value", "invalid_datetime", Text("expected an ISO time"), raw
                ) from None
            if kind == "date":
                return moment.date()
            return moment if moment.tzinfo else moment.replace(tzinfo=tz)
        if kind in ("number", "user"):
            try:
                number = Decimal(str(raw))
            except InvalidOperation:
                number = Decimal("NaN")
            if isinstance(raw, bool) or not number.is_finite() or abs(number) > 10**15:
                raise bad_filter(f"{path}.value", "invalid_number", Text("expected a number"), raw)
            return int(number.scaleb(scale if kind == "number" else 0).to_integral_value())
        if not isinstance(raw, str):
            raise bad_filter(f"{path}.value", "invalid_filter", Text("expected a text"), raw)
        return raw

    return parse
