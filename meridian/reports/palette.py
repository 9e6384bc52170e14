"""The fields a report builder offers for one form, as the builder reads it: the form's own
reportable fields, the system columns, the owner's department and, one level across each
link, the linked form's fields; then, for a form with a pipeline, the stage history's
``visit.*`` columns (offered when the report reads the history), and the aggregates of the
readable forms that link to it (counts, first response, sums, this and the previous period),
each with the ``related`` spec it needs."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.db.tables import pipelines
from meridian.errors import NotFound, ValidationFailed
from meridian.records.readable import Readable
from meridian.reports.terms import OWNER_DEPARTMENT, Terms
from meridian.schema.catalog import get_form, list_forms
from meridian.schema.fieldtypes import field_type

SYSTEM = (
    ("owner_id", "Owner / 负责人"),
    (OWNER_DEPARTMENT, "Owner's department / 负责人部门"),
    ("created_at", "Created / 创建时间"),
    ("created_by", "Created by / 创建人"),
)


def report_fields(
    *, conn: Connection, actor: Actor, form_key: str, tz: ZoneInfo
) -> list[dict[str, Any]]:
    """``[{"ref", "label", "kind"}]``: what a dimension or a measure of ``form_key`` may name."""
    form = get_form(conn, form_key)
    access = form_access(conn, actor, form)
    access.require("read")
    terms = Terms(conn, actor, tz, Readable.of(conn, access, tz))
    found: list[dict[str, Any]] = []

    def offer(ref: str, label: str) -> None:
        try:
            term = terms.resolve(ref, "field")
        except ValidationFailed:
            return
        found.append({"ref": ref, "label": label, "kind": term.kind})

    visible = terms.form
    for field in visible.active_fields:
        offer(field.key, field.label)
    for key, label in SYSTEM:
        offer(key, label)
    for link in visible.active_fields:
        if not field_type(link).links_records or link.many:
            continue
        try:
            target = form_access(conn, actor, get_form(conn, link.target or "")).visible
        except NotFound:  # a link to a form removed since: nothing to offer there
            continue
        for field in target.active_fields:
            offer(f"{link.key}.{field.key}", f"{link.label} · {field.label}")
    found += history_fields(conn=conn, form_key=form.key)
    found += related_fields(conn=conn, actor=actor, form_key=form.key)
    return found


VISIT = (
    ("stage", "select", "Stage visited / 经历阶段"),
    ("hours", "number", "Hours in stage / 停留小时"),
    ("days", "number", "Days in stage / 停留天数"),
    ("cycle_days", "number", "Days since entering the pipeline / 进入管道后天数"),
    ("probability", "number", "Stage probability % / 阶段赢率 %"),
    ("advanced", "boolean", "Went on to a later stage / 推进到后续阶段"),
    ("current", "boolean", "Still in the stage / 仍在此阶段"),
    ("category", "text", "Stage category / 阶段类别"),
    ("entered_at", "datetime", "Entered the stage / 进入时间"),
    ("left_at", "datetime", "Left the stage / 离开时间"),
    ("entered_by", "user", "Moved in by / 推进人"),
    ("move", "text", "Move / 移动方式"),
    ("reason", "text", "Why it moved back / 回退原因"),
)
"""The stage history's columns (``reports.history``), offered on a form with a pipeline."""


def history_fields(*, conn: Connection, form_key: str) -> list[dict[str, Any]]:
    """``visit.*`` for a form with a pipeline (``source``: only a history report reads them)."""
    has_pipeline = conn.scalar(
        sa.select(sa.func.count()).select_from(pipelines).where(pipelines.c.form_key == form_key)
    )
    if not has_pipeline:
        return []
    return [
        {"ref": f"visit.{name}", "label": label, "kind": kind, "source": "history"}
        for name, kind, label in VISIT
    ]


def related_fields(*, conn: Connection, actor: Actor, form_key: str) -> list[dict[str, Any]]:
    """Per readable form linking to ``form_key`` by a single link: its rows counted, the first
    one after the record's creation (a first response, when they have a time), its first
    money or number field summed, and the same in the period and the one before it; each
    entry carries its ``related`` spec."""
    found: list[dict[str, Any]] = []
    for other in list_forms(conn):
        access = form_access(conn, actor, other)
        if not access.may("read"):
            continue
        visible = access.visible
        links = [
            f
            for f in visible.active_fields
            if field_type(f).links_records and not f.many and f.target == form_key
        ]
        for link in links:
            found.extend(_related_entries(visible, link))
    return found


def _related_entries(form: Any, link: Any) -> list[dict[str, Any]]:
    kinds = {f.key: field_type(f).report_kind(f) for f in form.active_fields}
    at = next((k for k, kind in kinds.items() if kind in ("datetime", "date")), "created_at")
    timed = at == "created_at" or kinds.get(at) == "datetime"
    amount = next(
        (
            f.key
            for f in form.active_fields
            if kinds[f.key] == "number" and field_type(f).number_format == "currency"
        ),
        None,
    ) or next((k for k, kind in kinds.items() if kind == "number"), None)
    key = f"{form.key}_{link.key}"[:50]
    part: dict[str, Any] = {"form": form.key, "link": link.key, "at": at}
    if amount is not None:
        part["amount"] = amount
    spec: dict[str, Any] = {"key": key, "parts": [part]}
    period: dict[str, Any] = {"key": f"{key}_p", "parts": [part], "period": True}
    name = f"{form.label} ({link.label})"
    entries: list[tuple[dict[str, Any], str, str]] = [(spec, "count", f"{name} · count / 条数")]
    if timed:
        entries.append((spec, "first_hours", f"{name} · first response, hours / 首次响应（小时）"))
    entries.append((period, "count", f"{name} · count this period / 本期条数"))
    entries.append((period, "previous_count", f"{name} · count last period / 上期条数"))
    if amount is not None:
        entries.append((spec, "sum", f"{name} · total / 累计合计"))
        entries.append((period, "sum", f"{name} · total this period / 本期合计"))
        entries.append((period, "previous_sum", f"{name} · total last period / 上期合计"))
    return [
        {"ref": f"{item['key']}.{column}", "label": label, "kind": "number", "related": item}
        for item, column, label in entries
    ]
