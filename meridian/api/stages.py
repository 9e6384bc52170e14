"""Lifecycle stages: pipelines (describe, design), a record's place in its pipeline, and its
SOP checklist. A stage itself moves by writing the stage field (``PATCH`` a record)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from meridian.core.ids import Id
from meridian.flows.stages import checklist, pipelines, status
from meridian.http.deps import ActorDep, LocaleDep, WorkspaceDep
from meridian.http.routing import ApiRoute
from meridian.schema.catalog import get_form

router = APIRouter(route_class=ApiRoute, tags=["stages"])


@router.get("/forms/{form_key}/pipelines")
def list_pipelines(form_key: str, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    """The form's pipelines: stages in order (category open/won/lost, win probability, SLA,
    allowed forward moves) and each stage's entry and exit criteria, described in both
    languages."""
    with workspace.read() as conn:
        form = get_form(conn, form_key)
        return {"items": pipelines.describe_pipelines(conn, form)}


@router.put("/forms/{form_key}/pipelines/{pipeline_key}")
def save_pipeline(
    form_key: str,
    pipeline_key: str,
    document: dict[str, Any],
    workspace: WorkspaceDep,
    actor: ActorDep,
) -> dict[str, Any]:
    """Create or replace a pipeline (builders only)."""
    with workspace.transaction() as conn:
        form = get_form(conn, form_key)
        return pipelines.save_pipeline(
            conn, actor=actor, form=form, document={**document, "key": pipeline_key}
        )


@router.delete("/forms/{form_key}/pipelines/{pipeline_key}", status_code=204)
def delete_pipeline(
    form_key: str, pipeline_key: str, workspace: WorkspaceDep, actor: ActorDep
) -> Response:
    with workspace.transaction() as conn:
        form = get_form(conn, form_key)
        pipelines.delete_pipeline(conn, actor=actor, form=form, key=pipeline_key)
    return Response(status_code=204)


@router.get("/forms/{form_key}/records/{record_id}/stage")
def record_stage(
    form_key: str, record_id: Id, workspace: WorkspaceDep, actor: ActorDep, locale: LocaleDep
) -> dict[str, Any]:
    """Where the record is: its stage, time in it, SLA state, checklist, visits, and for each
    stage it may move to what is still missing (in the caller's language)."""
    with workspace.read() as conn:
        form = get_form(conn, form_key)
        found = status.stage_status(
            conn, actor=actor, form=form, record_id=record_id, tz=workspace.tz, locale=locale
        )
    return found or {"pipeline": None}


@router.put("/forms/{form_key}/records/{record_id}/checklist/{item}", status_code=204)
def tick_item(
    form_key: str, record_id: Id, item: str, workspace: WorkspaceDep, actor: ActorDep
) -> Response:
    """Tick an SOP checklist item (who and when are kept)."""
    with workspace.transaction() as conn:
        form = get_form(conn, form_key)
        checklist.set_tick(
            conn, actor=actor, form=form, record_id=record_id, item=item, ticked=True
        )
    return Response(status_code=204)


@router.delete("/forms/{form_key}/records/{record_id}/checklist/{item}", status_code=204)
def untick_item(
    form_key: str, record_id: Id, item: str, workspace: WorkspaceDep, actor: ActorDep
) -> Response:
    with workspace.transaction() as conn:
        form = get_form(conn, form_key)
        checklist.set_tick(
            conn, actor=actor, form=form, record_id=record_id, item=item, ticked=False
        )
    return Response(status_code=204)
