"""Pipelines as the designer and the API write and read them: one JSON document per pipeline,
checked whole, stored as rows (pipeline, stages, criteria).

A pipeline document::

    {"key": "sales", "label": "销售流程", "label_en": "Sales", "stage_field": "stage",
     "selector_field": null, "selector_value": null, "override_roles": ["manager"],
     "stages": [{"key": "lead", "label": "线索", "label_en": "Lead", "category": "open",
                 "probability": 10, "forward_to": null,
                 "sla": {"amount": 10, "unit": "days", "business": false, "warn_percent": 80},
                 "entry": [{"kind": "required_field", "config": {"field": "customer"}}],
                 "exit": []}]}

Saving replaces the pipeline's stages and criteria in one transaction. A stage key must be an
option of the stage field. Checklist ticks and stage history are kept: they name stage and
item keys, not rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.db import revisions
from meridian.db.tables import pipelines, stage_criteria, stages
from meridian.errors import ErrorCollector, NotFound, PermissionDenied
from meridian.events.audit import audit
from meridian.flows.stages.criteria import criterion_kinds, describe
from meridian.flows.stages.history import refresh_advanced
from meridian.flows.stages.model import (
    CATEGORIES,
    PIPELINES_REVISION,
    Phase,
    Pipeline,
    Stage,
    load_pipelines,
)
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import KEY_PATTERN, Form

MAX_STAGES = 30
PHASES: tuple[Phase, ...] = ("entry", "exit")
MAX_CRITERIA = 30


def save_pipeline(
    conn: Connection, *, actor: Actor, form: Form, document: Mapping[str, Any]
) -> dict[str, Any]:
    """Create or replace the pipeline ``document["key"]`` of ``form``; builders only."""
    if not (actor.can_build or actor.is_admin):
        raise PermissionDenied(Text("only builders may design pipelines"), form=form.key)
    errors = ErrorCollector()
    checked = _check(conn, form, document, errors)
    errors.raise_if_any()
    now = utcnow(conn)
    existing = conn.execute(
        sa.select(pipelines.c.id).where(
            pipelines.c.form_key == form.key, pipelines.c.key == checked["key"]
        )
    ).scalar()
    header = {
        "form_key": form.key,
        "key": checked["key"],
        "label": checked["label"],
        "label_en": checked["label_en"],
        "stage_field": checked["stage_field"],
        "selector_field": checked["selector_field"],
        "selector_value": checked["selector_value"],
        "override_roles": checked["override_roles"],
        "updated_at": now,
    }
    revisions.bump(conn, PIPELINES_REVISION)
    order_before: list[str] = []
    if existing is None:
        position = conn.execute(
            sa.select(sa.func.count())
            .select_from(pipelines)
            .where(pipelines.c.form_key == form.key)
        ).scalar_one()
        pipeline_id = conn.execute(
            pipelines.insert().values({**header, "position": position}).returning(pipelines.c.id)
        ).scalar_one()
    else:
        pipeline_id = existing
        order_before = list(
            conn.scalars(
                sa.select(stages.c.key)
                .where(stages.c.pipeline_id == existing)
                .order_by(stages.c.position)
            )
        )
        conn.execute(pipelines.update().where(pipelines.c.id == existing).values(header))
        old_stages = sa.select(stages.c.id).where(stages.c.pipeline_id == existing)
        conn.execute(stage_criteria.delete().where(stage_criteria.c.stage_id.in_(old_stages)))
        conn.execute(stages.delete().where(stages.c.pipeline_id == existing))
    for position, stage in enumerate(checked["stages"]):
        sla = stage["sla"] or {}
        stage_id = conn.execute(
            stages.insert()
            .values(
                pipeline_id=pipeline_id,
                key=stage["key"],
                label=stage["label"],
                label_en=stage["label_en"],
                position=position,
                category=stage["category"],
                probability=stage["probability"],
                forward_to=stage["forward_to"],
                sla_amount=sla.get("amount"),
                sla_unit=sla.get("unit", "hours"),
                sla_business=bool(sla.get("business", False)),
                sla_warn_percent=sla.get("warn_percent"),
            )
            .returning(stages.c.id)
        ).scalar_one()
        rows = [
            {
                "stage_id": stage_id,
                "phase": phase,
                "position": index,
                "kind": criterion["kind"],
                "config": dict(criterion["config"]),
                "label": criterion.get("label") or "",
                "label_en": criterion.get("label_en") or "",
            }
            for phase in ("entry", "exit")
            for index, criterion in enumerate(stage[phase])
        ]
        if rows:
            conn.execute(stage_criteria.insert(), rows)
    if existing is None or order_before != [s["key"] for s in checked["stages"]]:
        # Which visits went on to a stage further on depends on the stages' order.
        refresh_advanced(conn, form.key, pipeline_key=checked["key"])
    audit(
        conn,
        actor_id=actor.user_id,
        action="pipeline.save",
        object_type=form.key,
        object_id=checked["key"],
        detail={"stages": [s["key"] for s in checked["stages"]]},
    )
    return describe_pipeline(conn, form, checked["key"])


def delete_pipeline(conn: Connection, *, actor: Actor, form: Form, key: str) -> None:
    if not (actor.can_build or actor.is_admin):
        raise PermissionDenied(Text("only builders may design pipelines"), form=form.key)
    found = conn.execute(
        sa.select(pipelines.c.id).where(pipelines.c.form_key == form.key, pipelines.c.key == key)
    ).scalar()
    if found is None:
        raise NotFound(
            Text("form {form_key!r} has no pipeline {key!r}", form_key=form.key, key=key)
        )
    revisions.bump(conn, PIPELINES_REVISION)
    old_stages = sa.select(stages.c.id).where(stages.c.pipeline_id == found)
    conn.execute(stage_criteria.delete().where(stage_criteria.c.stage_id.in_(old_stages)))
    conn.execute(stages.delete().where(stages.c.pipeline_id == found))
    conn.execute(pipelines.delete().where(pipelines.c.id == found))
    refresh_advanced(conn, form.key, pipeline_key=key)  # its visits went on to no stage now
    audit(
        conn, actor_id=actor.user_id, action="pipeline.delete", object_type=form.key, object_id=key
    )


def describe_pipelines(conn: Connection, form: Form) -> list[dict[str, Any]]:
    """Every pipeline of ``form`` as a document, with each criterion's sentence in both
    languages (what ``GET /api/v1/forms/{form}/pipelines`` answers)."""
    return [_document(conn, form, p) for p in load_pipelines(conn, form.key).pipelines]


def describe_pipeline(conn: Connection, form: Form, key: str) -> dict[str, Any]:
    for pipeline in load_pipelines(conn, form.key).pipelines:
        if pipeline.key == key:
            return _document(conn, form, pipeline)
    raise NotFound(Text("form {form_key!r} has no pipeline {key!r}", form_key=form.key, key=key))


def _document(conn: Connection, form: Form, pipeline: Pipeline) -> dict[str, Any]:
    return {
        "key": pipeline.key,
        "label": pipeline.label,
        "label_en": pipeline.label_en,
        "stage_field": pipeline.stage_field,
        "selector_field": pipeline.selector_field,
        "selector_value": pipeline.selector_value,
        "override_roles": list(pipeline.override_roles),
        "stages": [_stage_document(conn, form, s) for s in pipeline.stages],
    }


def _stage_document(conn: Connection, form: Form, stage: Stage) -> dict[str, Any]:
    sla = None
    if stage.sla_amount:
        sla = {
            "amount": stage.sla_amount,
            "unit": stage.sla_unit,
            "business": stage.sla_business,
            "warn_percent": stage.sla_warn_percent,
        }
    return {
        "key": stage.key,
        "label": stage.label,
        "label_en": stage.label_en,
        "category": stage.category,
        "probability": stage.probability,
        "forward_to": list(stage.forward_to) if stage.forward_to is not None else None,
        "sla": sla,
        **{
            phase: [
                {
                    "kind": c.kind,
                    "config": dict(c.config),
                    "label": c.label,
                    "label_en": c.label_en,
                    **describe(conn, form, c),
                }
                for c in stage.gate(phase)
            ]
            for phase in PHASES
        },
    }


def _text(
    document: Mapping[str, Any], key: str, prefix: str, errors: ErrorCollector, *, required: bool
) -> str:
    value = document.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > 200:
        errors.add(f"{prefix}{key}", "invalid", Text("give a text of 1 to 200 characters"), value)
        return ""
    return value.strip()


def _key(document: Mapping[str, Any], key: str, prefix: str, errors: ErrorCollector) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not KEY_PATTERN.match(value):
        message = Text("give a key of lower-case letters, digits and _ starting with a letter")
        errors.add(f"{prefix}{key}", "invalid_key", message, value)
        return ""
    return value


def _check(
    conn: Connection, form: Form, document: Mapping[str, Any], errors: ErrorCollector
) -> dict[str, Any]:
    if not isinstance(document, Mapping):
        errors.add("", "invalid", Text("give the pipeline as an object"), None)
        return {}
    checked: dict[str, Any] = {
        "key": _key(document, "key", "", errors),
        "label": _text(document, "label", "", errors, required=True),
        "label_en": _text(document, "label_en", "", errors, required=False),
    }
    stage_field = form.get_field(document.get("stage_field") or "")
    if stage_field is None or not field_type(stage_field).board_grouping:
        message = Text(
            "the stage field must be a single select field of {form_key}", form_key=form.key
        )
        errors.add("stage_field", "invalid_field", message, document.get("stage_field"))
        options: set[str] = set()
    else:
        options = set(stage_field.option_values())
    checked["stage_field"] = document.get("stage_field")
    selector = document.get("selector_field")
    checked["selector_field"] = selector
    checked["selector_value"] = document.get("selector_value")
    if selector is not None and form.get_field(selector) is None:
        errors.add(
            "selector_field", "unknown_field", Text("no field {key!r}", key=selector), selector
        )
    if selector is not None and not isinstance(document.get("selector_value"), str):
        errors.add("selector_value", "required", Text("give the selector's value"), None)
    roles = document.get("override_roles") or []
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        errors.add("override_roles", "invalid", Text("give a list of role keys"), roles)
        roles = []
    checked["override_roles"] = roles
    raw_stages = document.get("stages")
    if not isinstance(raw_stages, list) or not 1 <= len(raw_stages) <= MAX_STAGES:
        errors.add("stages", "invalid", Text("give 1 to {limit} stages", limit=MAX_STAGES), None)
        checked["stages"] = []
        return checked
    kinds = criterion_kinds(conn)
    seen: set[str] = set()
    checked_stages = []
    for index, raw in enumerate(raw_stages):
        prefix = f"stages.{index}."
        if not isinstance(raw, Mapping):
            errors.add(f"stages.{index}", "invalid", Text("give the stage as an object"), None)
            continue
        key = _key(raw, "key", prefix, errors)
        if key and options and key not in options:
            message = Text(
                "{key!r} is not an option of {field}", key=key, field=checked["stage_field"]
            )
            errors.add(f"{prefix}key", "unknown_option", message, key)
        if key in seen:
            errors.add(
                f"{prefix}key", "duplicate", Text("stage {key!r} is listed twice", key=key), key
            )
        seen.add(key)
        category = raw.get("category", "open")
        if category not in CATEGORIES:
            errors.add(f"{prefix}category", "invalid", Text("open, won or lost"), category)
        probability = raw.get("probability", 0)
        if (
            not isinstance(probability, int)
            or isinstance(probability, bool)
            or not 0 <= probability <= 100
        ):
            errors.add(
                f"{prefix}probability", "invalid", Text("a whole percentage 0–100"), probability
            )
        forward = raw.get("forward_to")
        if forward is not None and (
            not isinstance(forward, list) or not all(isinstance(k, str) for k in forward)
        ):
            errors.add(f"{prefix}forward_to", "invalid", Text("give a list of stage keys"), forward)
            forward = None
        sla = _check_sla(raw.get("sla"), prefix, errors)
        phases = {}
        for phase in ("entry", "exit"):
            criteria = raw.get(phase) or []
            if not isinstance(criteria, list) or len(criteria) > MAX_CRITERIA:
                errors.add(
                    f"{prefix}{phase}",
                    "invalid",
                    Text("give up to {limit} criteria", limit=MAX_CRITERIA),
                    None,
                )
                criteria = []
            for position, criterion in enumerate(criteria):
                where = f"{prefix}{phase}.{position}."
                kind = (
                    kinds.get(str(criterion.get("kind")))
                    if isinstance(criterion, Mapping)
                    else None
                )
                if kind is None:
                    found = criterion.get("kind") if isinstance(criterion, Mapping) else criterion
                    errors.add(
                        f"{where}kind",
                        "unknown_kind",
                        Text("kinds: {kinds}", kinds=", ".join(kinds)),
                        found,
                    )
                    continue
                config = criterion.get("config")
                if not isinstance(config, Mapping):
                    errors.add(
                        f"{where}config", "invalid", Text("give the settings as an object"), config
                    )
                    continue
                kind.check(conn, form, config, f"{where}config.", errors)
                _text(criterion, "label", where, errors, required=False)
                _text(criterion, "label_en", where, errors, required=False)
            phases[phase] = criteria
        checked_stages.append(
            {
                "key": key,
                "label": _text(raw, "label", prefix, errors, required=True),
                "label_en": _text(raw, "label_en", prefix, errors, required=False),
                "category": category,
                "probability": probability,
                "forward_to": forward,
                "sla": sla,
                **phases,
            }
        )
    for index, stage in enumerate(checked_stages):
        for target in stage["forward_to"] or []:
            if target not in seen:
                errors.add(
                    f"stages.{index}.forward_to",
                    "unknown_stage",
                    Text("no stage {key!r}", key=target),
                    target,
                )
    checked["stages"] = checked_stages
    return checked


def _check_sla(sla: Any, prefix: str, errors: ErrorCollector) -> dict[str, Any] | None:
    if sla is None:
        return None
    if not isinstance(sla, Mapping):
        errors.add(f"{prefix}sla", "invalid", Text("give the SLA as an object"), sla)
        return None
    amount = sla.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool) or not 1 <= amount <= 10000:
        errors.add(f"{prefix}sla.amount", "invalid", Text("a whole number 1–10000"), amount)
    unit = sla.get("unit", "hours")
    if unit not in ("hours", "days"):
        errors.add(f"{prefix}sla.unit", "invalid", Text("hours or days"), unit)
    warn = sla.get("warn_percent")
    if warn is not None and (
        not isinstance(warn, int) or isinstance(warn, bool) or not 1 <= warn <= 99
    ):
        errors.add(f"{prefix}sla.warn_percent", "invalid", Text("a whole percentage 1–99"), warn)
    business = sla.get("business", False)
    if not isinstance(business, bool):
        errors.add(f"{prefix}sla.business", "invalid", Text("true or false"), business)
    return {"amount": amount, "unit": unit, "business": business, "warn_percent": warn}


def stage_keys(pipeline: Pipeline) -> Sequence[str]:
    return [s.key for s in pipeline.stages]
