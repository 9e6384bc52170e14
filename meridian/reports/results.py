"""Running a compiled report and turning its few aggregated rows into what a chart shows:
each dimension's value and label, each measure and formula as an exact number, and the
drill-down of every row."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access.users import user_names
from meridian.db.tables import departments
from meridian.errors import InvalidValue
from meridian.records.readable import Readable
from meridian.reports.buckets import as_date, bucket_label
from meridian.reports.compiler import CompiledReport, DashboardFilters, DimensionPlan, MeasurePlan
from meridian.reports.drill import Driller
from meridian.reports.formulas import Compiled, compile_formula, rounded
from meridian.reports.model import MAX_ROWS, ReportDefinition
from meridian.reports.terms import refused
from meridian.schema.values.region import region_label

AVERAGE_EXTRA_PLACES = 2
"""An average keeps two more digits than the field it averages."""


def check_formulas(definition: ReportDefinition) -> list[tuple[str, int, Compiled]]:
    """Each formula compiled against the measures and the formulas before it."""
    names = {m.key for m in definition.measures}
    compiled = []
    for i, formula in enumerate(definition.formulas):
        try:
            compiled.append(
                (formula.key, formula.places, compile_formula(formula.expression, names))
            )
        except ValueError as exc:
            raise refused(
                f"formulas.{i}.expression", "invalid_formula", exc.args[0], formula.expression
            ) from None
        names.add(formula.key)
    return compiled


def run_compiled(
    conn: Connection,
    compiled: CompiledReport,
    filters: DashboardFilters,
    tz: ZoneInfo,
    report_id: int | None = None,
) -> dict[str, Any]:
    """Execute the statement and shape its rows (see ``GET /reports/{id}/data``); a saved
    report's (``report_id``) rows drill down even where the grid's filters cannot say them."""
    definition = compiled.definition
    formulas = check_formulas(definition)
    rows = list(conn.execute(compiled.statement).all())
    truncated = definition.limit is None and not compiled.rollup and len(rows) > MAX_ROWS
    rows = rows[:MAX_ROWS] if truncated else rows
    labels = _Labels(conn, compiled, rows, tz)
    driller = Driller(conn, compiled, filters, tz, report_id)
    shaped = []
    for row in rows:
        mapping = row._mapping
        rollup = int(mapping["_rollup"]) if compiled.rollup else 0
        dimension_values: dict[str, Any] = {}
        dimension_labels: dict[str, Any] = {}
        for bit, plan in zip((1, 2, 4), compiled.dimensions, strict=False):
            if rollup & bit:
                continue
            key = plan.dimension.key
            value = _dimension_value(plan, mapping[plan.name])
            dimension_values[key] = value
            dimension_labels[key] = labels.label(plan, value)
        numbers, measures = _measures(compiled.measures, dict(mapping))
        for key, places, formula in formulas:
            result = rounded(formula(numbers), places)
            numbers[key] = result
            measures[key] = None if result is None else str(result)
        shaped.append(
            {
                "dimensions": dimension_values,
                "labels": dimension_labels,
                "measures": measures,
                "rollup": rollup,
                "drill": driller.url(dimension_values),
            }
        )
    if compiled.rollup is False:
        shaped = _sorted_by_formulas(definition, shaped)
    return {"rows": shaped, "truncated": truncated}


def _sorted_by_formulas(
    definition: ReportDefinition, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    formula_keys = {f.key for f in definition.formulas}
    for sort in reversed(definition.sort):
        if sort.key not in formula_keys:
            continue
        present = [r for r in rows if r["measures"][sort.key] is not None]
        blank = [r for r in rows if r["measures"][sort.key] is None]
        present.sort(key=lambda r: Decimal(r["measures"][sort.key]), reverse=sort.descending)
        rows = present + blank
    return rows


def _dimension_value(plan: DimensionPlan, raw: Any) -> Any:
    if raw is None:
        return None
    if plan.bucket is not None:
        start = as_date(raw)
        return start.isoformat() if start else None
    if plan.term.kind == "number":
        return _number(raw, plan.term.scale)
    if plan.term.kind in ("user", "department", "link", "id"):
        return int(raw)
    if plan.term.kind == "boolean":
        return bool(raw)
    return raw


def _number(raw: Any, scale: int) -> Any:
    if raw is None:
        return None
    if scale == 0:
        return int(raw)
    return str(Decimal(int(raw)).scaleb(-scale))


def _measures(
    plans: tuple[MeasurePlan, ...], mapping: Mapping[str, Any]
) -> tuple[dict[str, Decimal | None], dict[str, Any]]:
    """Each measure as an exact number (for formulas) and as the API shows it."""
    numbers: dict[str, Decimal | None] = {}
    shown: dict[str, Any] = {}
    for plan in plans:
        key, agg = plan.measure.key, plan.measure.agg
        term = plan.term
        scale = (term.scale if term is not None else 0) + plan.extra_places
        column = plan.columns[0]
        if agg in ("count", "count_distinct"):
            count = int(mapping[column] or 0)
            numbers[key], shown[key] = Decimal(count), count
        elif agg == "avg":
            total, count = mapping[plan.columns[0]], int(mapping[plan.columns[1]] or 0)
            if count == 0:
                numbers[key] = shown[key] = None
            else:
                exact = Decimal(int(total)).scaleb(-scale) / count
                numbers[key] = exact
                shown[key] = str(rounded(exact, scale + AVERAGE_EXTRA_PLACES))
        elif term is not None and term.kind == "number":
            raw = mapping[column]
            if raw is None and agg == "sum":
                raw = 0
            numbers[key] = None if raw is None else Decimal(int(raw)).scaleb(-scale)
            shown[key] = _number(raw, scale)
        else:  # min / max of a date or time
            raw = mapping[column]
            numbers[key] = None
            shown[key] = raw.isoformat() if hasattr(raw, "isoformat") else raw
    return numbers, shown


class _Labels:
    """Names for the values a result shows: option labels, user and department names, the
    titles of linked records the caller may read, region names — one query per kind."""

    def __init__(
        self, conn: Connection, compiled: CompiledReport, rows: list[Any], tz: ZoneInfo
    ) -> None:
        self.names: dict[str, dict[Any, str]] = {}
        for plan in compiled.dimensions:
            key = plan.dimension.key
            values = {row._mapping[plan.name] for row in rows} - {None}
            kind = plan.term.kind
            if kind == "user":
                self.names[key] = dict(user_names(conn, {int(v) for v in values}))
            elif kind == "department" and values:
                found = conn.execute(
                    sa.select(departments.c.id, departments.c.name).where(
                        departments.c.id.in_({int(v) for v in values})
                    )
                )
                self.names[key] = {row.id: row.name for row in found}
            elif kind == "link" and values and plan.term.field is not None:
                self.names[key] = _titles(conn, compiled, plan, {int(v) for v in values}, tz)

    def label(self, plan: DimensionPlan, value: Any) -> str | None:
        if value is None:
            return None
        kind = plan.term.kind
        if plan.bucket is not None:
            start = as_date(value)
            return bucket_label(start, plan.bucket) if start else None
        if kind == "select" and plan.term.field is not None:
            for option in plan.term.field.options:
                if option.value == value:
                    return option.label
            return str(value)
        if kind in ("user", "department", "link"):
            return self.names.get(plan.dimension.key, {}).get(value) or f"#{value}"
        if kind == "region":
            try:
                return region_label(str(value))
            except InvalidValue:
                return str(value)
        return str(value)


def _titles(
    conn: Connection, compiled: CompiledReport, plan: DimensionPlan, ids: set[int], tz: ZoneInfo
) -> dict[Any, str]:
    from meridian.access.permissions import form_access
    from meridian.schema.catalog import find_form

    assert plan.term.field is not None
    target = find_form(conn, plan.term.field.target or "")
    if target is None:
        return {}
    rows = Readable.of(conn, form_access(conn, compiled.terms.actor, target), tz)
    title = rows.form.title_field
    if not title or title not in rows.table.c:
        return {}
    found = conn.execute(
        rows.select(rows.table.c.id, rows.table.c[title]).where(rows.table.c.id.in_(sorted(ids)))
    )
    return {row[0]: str(row[1]) for row in found if row[1] is not None}
