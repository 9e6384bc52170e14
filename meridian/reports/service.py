"""A stored report's data as one caller may see it, with the dashboard's filters applied."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Connection

from meridian.core.actor import Actor
from meridian.core.i18n import Text
from meridian.errors import FieldError, ValidationFailed
from meridian.reports import cache, store
from meridian.reports.compiler import NO_FILTERS, DashboardFilters, compile_report
from meridian.reports.drill import records_behind
from meridian.reports.model import ReportDefinition
from meridian.reports.results import run_compiled
from meridian.schema.model import parse_model


def run_definition(
    *,
    conn: Connection,
    actor: Actor,
    definition: ReportDefinition,
    tz: ZoneInfo,
    filters: DashboardFilters = NO_FILTERS,
    report_id: int | None = None,
) -> dict[str, Any]:
    """The rows of ``definition`` as ``actor`` may read them; a number card that compares
    periods also gets the same measures over the period before the date range."""
    compiled = compile_report(conn=conn, actor=actor, definition=definition, tz=tz, filters=filters)
    result = run_compiled(conn, compiled, filters, tz, report_id)
    previous = filters.previous_period() if definition.chart.compare_previous else None
    result["previous"] = None
    if previous is not None:
        before = compile_report(
            conn=conn, actor=actor, definition=definition, tz=tz, filters=previous
        )
        rows = run_compiled(conn, before, previous, tz)["rows"]
        result["previous"] = rows[0]["measures"] if rows and not definition.dimensions else None
    result["columns"] = _columns(definition)
    return result


def report_data(
    *,
    conn: Connection,
    actor: Actor,
    report_id: int,
    tz: ZoneInfo,
    filters: DashboardFilters = NO_FILTERS,
) -> dict[str, Any]:
    """``GET /reports/{id}/data``: the report (if the actor may see it) and its rows, computed
    once while nothing is written (``reports.cache``; ``conn`` has not read yet)."""
    question = ("report_data", report_id, actor, filters, tz.key)
    return cache.results.through(
        conn,
        question,
        lambda: _report_data(conn=conn, actor=actor, report_id=report_id, tz=tz, filters=filters),
    )


def _report_data(
    *,
    conn: Connection,
    actor: Actor,
    report_id: int,
    tz: ZoneInfo,
    filters: DashboardFilters,
) -> dict[str, Any]:
    report = store.get(conn=conn, actor=actor, kind="report", item_id=report_id)
    definition = ReportDefinition.model_validate(report["definition"])
    data = run_definition(
        conn=conn,
        actor=actor,
        definition=definition,
        tz=tz,
        filters=filters,
        report_id=report["id"],
    )
    return {
        "report": {
            "id": report["id"],
            "label": report["label"],
            "form": definition.form,
            "chart": definition.chart.model_dump(mode="json"),
        },
        **data,
    }


class _Preview(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    definition: ReportDefinition


def preview(*, conn: Connection, actor: Actor, document: Any, tz: ZoneInfo) -> dict[str, Any]:
    """An unsaved definition's rows, computed as ``actor`` (the builder's preview)."""
    definition = parse_model(_Preview, document).definition
    try:
        return run_definition(conn=conn, actor=actor, definition=definition, tz=tz)
    except ValidationFailed as exc:
        raise ValidationFailed(
            [FieldError(f"definition.{e.field}", e.code, e.message, e.value) for e in exc.errors]
        ) from None


def _columns(definition: ReportDefinition) -> list[dict[str, Any]]:
    columns: list[dict[str, Any]] = [
        {"key": d.key, "role": "dimension", "field": d.field, "bucket": d.bucket, "label": d.label}
        for d in definition.dimensions
    ]
    columns += [
        {"key": m.key, "role": "measure", "agg": m.agg, "field": m.field, "label": m.label}
        for m in definition.measures
    ]
    columns += [
        {"key": f.key, "role": "formula", "expression": f.expression, "label": f.label}
        for f in definition.formulas
    ]
    return columns


def records_address(
    *,
    conn: Connection,
    actor: Actor,
    report_id: int,
    tz: ZoneInfo,
    filters: DashboardFilters,
    row: str,
) -> str:
    """``/reports/{id}/records``: the grid of the records behind one row of the report as
    ``actor`` reads it (``row``: its dimension values by key, JSON); 422 naming ``row``."""
    report = store.get(conn=conn, actor=actor, kind="report", item_id=report_id)
    definition = ReportDefinition.model_validate(report["definition"])
    keys = {d.key for d in definition.dimensions}
    try:
        values = json.loads(row)
    except ValueError:
        values = None
    if not isinstance(values, dict) or not set(values) <= keys:
        raise ValidationFailed(
            [FieldError("row", "invalid_row", Text("a row is its dimension values by key"), row)]
        )
    compiled = compile_report(conn=conn, actor=actor, definition=definition, tz=tz, filters=filters)
    try:
        narrowed = records_behind(conn, compiled, values)
    except (TypeError, ValueError, ArithmeticError):
        raise ValidationFailed(
            [FieldError("row", "invalid_row", Text("a row is its dimension values by key"), row)]
        ) from None
    query = json.dumps({"and": [narrowed]}, ensure_ascii=False, separators=(",", ":"))
    return f"/forms/{definition.form}?{urlencode({'filter': query})}"
