"""From a bar, a slice or a cell to the records behind it: the grid, filtered.

The drill-down is a structured filter (the grid's ``filter`` parameter) that says in the grid's
own terms what the aggregation grouped: the report's filter, the dashboard's filters and the
group's dimension values. The grid then lists, through the caller's own readable rows, exactly
the records the number counted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.db.tables import users
from meridian.expr.dates import local_midnight
from meridian.reports.buckets import bucket_end
from meridian.reports.compiler import (
    CompiledReport,
    DashboardFilters,
    DimensionPlan,
    department_members,
    region_codes,
)
from meridian.reports.terms import OWNER_DEPARTMENT

MAX_DRILL_IDS = 1000
"""The grid's ``in`` takes at most this many values."""
FILTER_PARAMETERS = ("date_from", "date_to", "owner", "department", "region", "as_of")
"""The dashboard's filters, as ``GET /reports/{id}/data`` and ``/records`` take them."""


def _nothing() -> dict[str, Any]:
    return {"field": "id", "op": "eq", "value": 0}


def _owners(ids: list[int]) -> dict[str, Any]:
    if not ids:
        return _nothing()
    return {"field": "owner_id", "op": "in", "value": ids[:MAX_DRILL_IDS]}


def _date_between(ref: str, kind: str, low: date, high: date, tz: ZoneInfo) -> list[dict[str, Any]]:
    if kind == "date":
        return [{"field": ref, "op": "between", "value": [low.isoformat(), high.isoformat()]}]
    start = local_midnight(low, tz)
    end = local_midnight(high + timedelta(days=1), tz)
    assert start is not None and end is not None
    return [
        {"field": ref, "op": "gte", "value": start.isoformat()},
        {"field": ref, "op": "lt", "value": end.isoformat()},
    ]


class Driller:
    """Builds the drill-down of each row of one report run."""

    def __init__(
        self,
        conn: Connection,
        compiled: CompiledReport,
        filters: DashboardFilters,
        tz: ZoneInfo,
        report_id: int | None = None,
    ) -> None:
        self.conn = conn
        self.compiled = compiled
        self.tz = tz
        self.filters = filters
        self.report_id = report_id
        definition = compiled.definition
        # The grid lists records by their own fields and structured filters: the stage
        # history, related aggregates and expression filters are not among them, so such a
        # saved report's rows drill through ``/reports/{id}/records`` (``records_behind``).
        self.drills = (
            definition.source == "records" and not definition.related and not definition.where
        )
        self.base = self._base(filters) if self.drills else []
        self._departments: dict[int, list[int]] = {}

    def _base(self, filters: DashboardFilters) -> list[dict[str, Any]]:
        definition = self.compiled.definition
        parts: list[dict[str, Any]] = []
        if definition.filter is not None:
            parts.append(definition.filter)
        if definition.date_field and (filters.date_from or filters.date_to):
            term = self.compiled.terms.resolve(definition.date_field, "date_field")
            low = filters.date_from or date(1, 1, 1)
            high = filters.date_to or date(9999, 12, 30)
            parts.extend(_date_between(definition.date_field, term.kind, low, high, self.tz))
        if definition.viewer_owns:
            mine = self.compiled.terms.actor.user_id
            parts.append({"field": "owner_id", "op": "eq", "value": mine} if mine else _nothing())
        if filters.owner is not None:
            parts.append({"field": "owner_id", "op": "eq", "value": filters.owner})
        if filters.department is not None:
            parts.append(_owners(department_members(self.conn, filters.department)))
        if definition.region_field and filters.region:
            codes = region_codes(filters.region)
            parts.append({"field": definition.region_field, "op": "in", "value": codes})
        return parts

    def url(self, values: Mapping[str, Any]) -> str | None:
        """The grid's address for the group whose dimension values (by key) are ``values``;
        a dimension missing from ``values`` (a subtotal) is not narrowed. None: the report
        does not drill (it reads the stage history or related rows)."""
        if not self.drills:
            return self._through_report(values)
        parts = list(self.base)
        for plan in self.compiled.dimensions:
            key = plan.dimension.key
            if key in values:
                parts.extend(self._dimension(plan, values[key]))
        query = {"filter": json.dumps({"and": parts}, ensure_ascii=False, separators=(",", ":"))}
        return f"/forms/{self.compiled.form_key}?{urlencode(query)}"

    def _through_report(self, values: Mapping[str, Any]) -> str | None:
        """``/reports/{id}/records`` for a row the grid's filters cannot say: the report and
        the dashboard's filters are computed again there, as whoever follows the link."""
        if self.report_id is None:
            return None  # an unsaved report (the builder's preview)
        row = {
            plan.dimension.key: values[plan.dimension.key]
            for plan in self.compiled.dimensions
            if plan.dimension.key in values
        }
        query: dict[str, str] = {"row": json.dumps(row, ensure_ascii=False, separators=(",", ":"))}
        for name in FILTER_PARAMETERS:
            value = getattr(self.filters, name)
            if value is not None:
                query[name] = value.isoformat() if isinstance(value, date) else str(value)
        return f"/reports/{self.report_id}/records?{urlencode(query)}"

    def _dimension(self, plan: DimensionPlan, value: Any) -> list[dict[str, Any]]:
        ref = plan.term.ref
        if plan.term.kind == "department" and ref == OWNER_DEPARTMENT:
            if value is None:
                return [{"field": "owner_id", "op": "in", "value": self._without_department()}]
            return [_owners(self._members(int(value)))]
        if value is None:
            blank = {"field": ref, "op": "is_blank", "value": True}
            if "." in ref:
                # Blank: no linked record, one the caller may not read, or a blank field.
                link = ref.partition(".")[0]
                known = {"field": ref, "op": "is_blank", "value": False}
                return [{"or": [{"field": link, "op": "is_blank", "value": True}, {"not": known}]}]
            return [blank]
        if plan.bucket is not None:
            start = date.fromisoformat(value)
            return _date_between(
                ref, plan.term.kind, start, bucket_end(start, plan.bucket), self.tz
            )
        return [{"field": ref, "op": "eq", "value": value}]

    def _members(self, department: int) -> list[int]:
        found = self._departments.get(department)
        if found is None:
            found = self._departments[department] = sorted(
                self.conn.scalars(
                    users.select()
                    .with_only_columns(users.c.id)
                    .where(users.c.department_id == department)
                )
            )
        return found

    def _without_department(self) -> list[int]:
        found = sorted(
            self.conn.scalars(
                users.select().with_only_columns(users.c.id).where(users.c.department_id.is_(None))
            )
        )
        return found[:MAX_DRILL_IDS] or [0]


def records_behind(
    conn: Connection, compiled: CompiledReport, row: Mapping[str, Any]
) -> dict[str, Any]:
    """The grid's filter for the records one row of ``compiled`` counted (``row``: dimension
    values by key, as the report's data gave them): the ids of the readable records that
    pass the report's and the dashboard's conditions with those dimension values, in one
    statement over the same rows the report read. At most ``MAX_DRILL_IDS`` (the lowest)."""
    table = compiled.terms.readable.table
    narrowed = list(compiled.conditions)
    for plan in compiled.dimensions:
        key = plan.dimension.key
        if key in row:
            narrowed.append(_same(conn, plan, row[key]))
    ids = list(
        conn.scalars(
            sa.select(table.c.id)
            .select_from(compiled.source)
            .where(*narrowed)
            .group_by(table.c.id)
            .order_by(table.c.id)
            .limit(MAX_DRILL_IDS)
        )
    )
    if not ids:
        return _nothing()
    return {"field": "id", "op": "in", "value": ids}


def _same(conn: Connection, plan: DimensionPlan, value: Any) -> sa.ColumnElement[bool]:
    """The dimension's value equals ``value`` (as the report's data shows it)."""
    if value is None:
        return plan.value.is_(None)
    if plan.bucket is not None:
        start = date.fromisoformat(str(value))
        if conn.dialect.name == "postgresql":
            return sa.cast(plan.value, sa.Date()) == start
        return sa.func.substr(plan.value, 1, 10) == start.isoformat()
    kind = plan.term.kind
    if isinstance(value, bool) != (kind == "boolean") or not isinstance(value, str | int | float):
        raise ValueError(value)
    typed: Any
    if kind == "number":
        typed = int(Decimal(str(value)).scaleb(plan.term.scale))
    elif kind in ("user", "department", "link", "id"):
        typed = int(value)
    elif kind == "boolean":
        typed = value
    elif kind in ("date", "datetime", "time"):
        raise ValueError(value)  # a date is a bucket's; times are not grouped as they are
    else:
        typed = str(value)
    return sa.and_(plan.value == typed)
