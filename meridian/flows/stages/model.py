"""Pipelines as the write path reads them: frozen, loaded with two queries per form.

A pipeline is an ordered list of stages of one select field (the stage field); a stage's key
is one of that field's option values. A form may have several pipelines, chosen per record by
another field's value (``selector_field``/``selector_value``); the one without a selector is
the default.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.db import revisions
from meridian.db.tables import pipelines, stage_criteria, stages

PIPELINES_REVISION = "pipelines"
"""Replaced whenever a pipeline, its stages or its criteria are saved or deleted."""

Category = Literal["open", "won", "lost"]
CATEGORIES: tuple[str, ...] = ("open", "won", "lost")
Phase = Literal["entry", "exit"]


@dataclass(frozen=True)
class Criterion:
    """One gate condition of a stage: ``kind`` is a registered criterion kind and ``config``
    its settings (a field key, an expression, a related form, a checklist item …)."""

    id: int
    phase: Phase
    kind: str
    config: Mapping[str, Any]
    label: str = ""
    label_en: str = ""


@dataclass(frozen=True)
class Stage:
    key: str
    label: str
    label_en: str
    position: int
    category: Category
    probability: int = 0
    forward_to: tuple[str, ...] | None = None
    sla_amount: int | None = None
    sla_unit: str = "hours"
    sla_business: bool = False
    sla_warn_percent: int | None = None
    criteria: tuple[Criterion, ...] = ()

    def gate(self, phase: Phase) -> tuple[Criterion, ...]:
        return tuple(c for c in self.criteria if c.phase == phase)


@dataclass(frozen=True)
class Pipeline:
    id: int
    form_key: str
    key: str
    label: str
    label_en: str
    stage_field: str
    selector_field: str | None
    selector_value: str | None
    position: int
    override_roles: tuple[str, ...]
    stages: tuple[Stage, ...]

    def stage(self, key: Any) -> Stage | None:
        return next((s for s in self.stages if s.key == key), None)

    def index(self, key: str) -> int:
        return next(i for i, s in enumerate(self.stages) if s.key == key)


@dataclass(frozen=True)
class FormPipelines:
    """Every pipeline of one form, and how to find the one a record follows."""

    form_key: str
    pipelines: tuple[Pipeline, ...]

    @property
    def watched(self) -> frozenset[str]:
        """The fields whose change may move a record: stage fields and selectors."""
        keys = {p.stage_field for p in self.pipelines}
        keys |= {p.selector_field for p in self.pipelines if p.selector_field}
        return frozenset(keys)

    def for_row(self, row: Mapping[str, Any]) -> Pipeline | None:
        """The pipeline a record with these values follows: the first whose selector matches,
        else the default one (without a selector)."""
        default = None
        for pipeline in self.pipelines:
            if pipeline.selector_field is None:
                default = default or pipeline
            elif _text(row.get(pipeline.selector_field)) == pipeline.selector_value:
                return pipeline
        return default


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def load_pipelines(conn: Connection, form_key: str) -> FormPipelines:
    """The form's pipelines with their stages and criteria (empty when it has none), kept per
    process under the ``pipelines`` revision: every write asks, and they rarely change."""
    token = revisions.token(conn, PIPELINES_REVISION)
    kept = _kept.get((token, form_key)) if token else None
    if kept is None:
        kept = _read_pipelines(conn, form_key)
        if token:
            if len(_kept) >= 1024:
                _kept.clear()
            _kept[token, form_key] = kept
    return kept


_kept: dict[tuple[str, str], FormPipelines] = {}


def _read_pipelines(conn: Connection, form_key: str) -> FormPipelines:
    """One query for the pipelines, one for stages joined with their criteria."""
    rows = conn.execute(
        sa.select(pipelines).where(pipelines.c.form_key == form_key).order_by(pipelines.c.position)
    ).all()
    if not rows:
        return FormPipelines(form_key, ())
    stage_rows = conn.execute(
        sa.select(
            stages,
            stage_criteria.c.id.label("criterion_id"),
            stage_criteria.c.phase,
            stage_criteria.c.kind,
            stage_criteria.c.config,
            stage_criteria.c.label.label("criterion_label"),
            stage_criteria.c.label_en.label("criterion_label_en"),
        )
        .select_from(stages.outerjoin(stage_criteria, stage_criteria.c.stage_id == stages.c.id))
        .where(stages.c.pipeline_id.in_([row.id for row in rows]))
        .order_by(stages.c.pipeline_id, stages.c.position, stage_criteria.c.position)
    ).mappings()
    by_pipeline: dict[int, dict[str, dict[str, Any]]] = {}
    for row in stage_rows:
        stage = by_pipeline.setdefault(row["pipeline_id"], {}).setdefault(
            row["key"], {"row": row, "criteria": []}
        )
        if row["criterion_id"] is not None:
            stage["criteria"].append(
                Criterion(
                    id=row["criterion_id"],
                    phase=row["phase"],
                    kind=row["kind"],
                    config=row["config"] or {},
                    label=row["criterion_label"],
                    label_en=row["criterion_label_en"],
                )
            )
    return FormPipelines(
        form_key,
        tuple(
            Pipeline(
                id=row.id,
                form_key=row.form_key,
                key=row.key,
                label=row.label,
                label_en=row.label_en,
                stage_field=row.stage_field,
                selector_field=row.selector_field,
                selector_value=row.selector_value,
                position=row.position,
                override_roles=tuple(row.override_roles or ()),
                stages=tuple(
                    _stage(found["row"], found["criteria"])
                    for found in by_pipeline.get(row.id, {}).values()
                ),
            )
            for row in rows
        ),
    )


def _stage(row: Mapping[str, Any], criteria: Sequence[Criterion]) -> Stage:
    forward = row["forward_to"]
    return Stage(
        key=row["key"],
        label=row["label"],
        label_en=row["label_en"],
        position=row["position"],
        category=row["category"],
        probability=row["probability"],
        forward_to=tuple(forward) if forward is not None else None,
        sla_amount=row["sla_amount"],
        sla_unit=row["sla_unit"],
        sla_business=bool(row["sla_business"]),
        sla_warn_percent=row["sla_warn_percent"],
        criteria=tuple(criteria),
    )
