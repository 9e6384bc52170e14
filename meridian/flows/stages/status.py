"""Where a record stands in its pipeline: the stage, time in it, its SLA state, its checklist,
its visits, and for each stage it may move to, what is still missing (the path bar's data).

What is missing is judged by the gate itself (``flows.stages.gates``), over the record as
stored with only its stage changed — the same answer a move would get.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.timezones import DEFAULT_TIME_ZONE
from meridian.flows.stages.checklist import ticks_of
from meridian.flows.stages.gates import GATE, stage_moves, unmet_conditions
from meridian.flows.stages.history import visits_of
from meridian.flows.stages.model import Pipeline, Stage, load_pipelines
from meridian.flows.stages.moves import allowed_targets, next_stage
from meridian.records.guards import ProposedWrite, WriteBatch, WriteIntent
from meridian.records.plan import plan_for
from meridian.records.reads import load_row
from meridian.schema.model import Form


def sla_state(visit: Mapping[str, Any] | None, now: datetime) -> str | None:
    """``ok``, ``warning`` or ``breached`` for an open visit with a limit; None without one."""
    if visit is None or visit.get("due_at") is None or visit.get("left_at") is not None:
        return None
    if visit["due_at"] <= now:
        return "breached"
    if visit.get("warn_at") is not None and visit["warn_at"] <= now:
        return "warning"
    return "ok"


def stage_status(
    conn: Connection,
    *,
    actor: Actor,
    form: Form,
    record_id: int,
    tz: ZoneInfo = DEFAULT_TIME_ZONE,
    locale: str = "en",
) -> dict[str, Any] | None:
    """The record's place in its pipeline, as the actor may read it; None when the form has
    no pipeline the record follows. What is missing for a move is said in ``locale`` (the
    reader's), and in both languages beside it."""
    table = plan_for(form).tables.main
    access = form_access(conn, actor, form)
    row = dict(
        load_row(conn, table, record_id, visible_to=access.rows(conn, table, "read", tz))._mapping
    )
    form_pipelines = load_pipelines(conn, form.key)
    pipeline = form_pipelines.for_row(row)
    if pipeline is None:
        return None
    now = utcnow(conn)
    stage = pipeline.stage(row.get(pipeline.stage_field))
    visits = visits_of(conn, form.key, record_id)
    current = visits[-1] if visits and visits[-1]["left_at"] is None else None
    ticks = ticks_of(conn, form.key, record_id)
    targets = allowed_targets(pipeline, stage) if stage else list(pipeline.stages)
    return {
        "pipeline": {"key": pipeline.key, "label": pipeline.label, "label_en": pipeline.label_en},
        "stage_field": pipeline.stage_field,
        "stages": [_stage_summary(s) for s in pipeline.stages],
        "stage": stage.key if stage else None,
        "entered_at": current["entered_at"] if current else None,
        "seconds_in_stage": int((now - current["entered_at"]).total_seconds()) if current else None,
        "sla": {
            "state": sla_state(current, now),
            "warn_at": current["warn_at"] if current else None,
            "due_at": current["due_at"] if current else None,
        },
        "next": next_stage(pipeline, stage) if stage else None,
        "moves": [
            {
                "stage": target.key,
                "missing": _missing(conn, actor, form, pipeline, row, target, locale),
            }
            for target in targets
        ],
        "checklist": _checklist(pipeline, ticks),
        "visits": visits,
    }


def _stage_summary(stage: Stage) -> dict[str, Any]:
    return {
        "key": stage.key,
        "label": stage.label,
        "label_en": stage.label_en,
        "category": stage.category,
        "probability": stage.probability,
    }


def _missing(
    conn: Connection,
    actor: Actor,
    form: Form,
    pipeline: Pipeline,
    row: Mapping[str, Any],
    target: Stage,
    locale: str,
) -> list[dict[str, Any]]:
    proposed = {**row, pipeline.stage_field: target.key}
    write = ProposedWrite(row["id"], "", row, proposed, frozenset({pipeline.stage_field}))
    batch = WriteBatch(form, actor, "update", [write], WriteIntent(reason="—"))
    moves = stage_moves(load_pipelines(conn, form.key), [write])
    found = unmet_conditions(conn, batch, moves)
    key = "message_en" if locale == "en" else "message_zh"
    return [
        {"criterion": criterion, "field": field, "message": texts[key], **texts, "guard": GATE}
        for _, field, criterion, texts, _ in found
    ]


def _checklist(pipeline: Pipeline, ticks: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every checklist item any stage of the pipeline asks for, with its tick."""
    items: dict[str, dict[str, Any]] = {}
    for stage in pipeline.stages:
        for criterion in stage.criteria:
            if criterion.kind != "checklist":
                continue
            item = str(criterion.config["item"])
            items.setdefault(
                item,
                {
                    "item": item,
                    "label": criterion.config.get("label") or criterion.label or item,
                    "label_en": criterion.config.get("label_en") or criterion.label_en or item,
                    "stage": stage.key,
                    "ticked": ticks.get(item),
                },
            )
    return list(items.values())
