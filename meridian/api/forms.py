"""Form definitions and field changes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from meridian.access.metadata import list_visible_changes
from meridian.access.permissions import visible_form
from meridian.api.schemas import FieldUpdate
from meridian.http.deps import ActorDep, WorkspaceDep
from meridian.http.routing import ApiRoute
from meridian.schema import catalog, changes

router = APIRouter(route_class=ApiRoute, tags=["forms"])


@router.get("/forms/{form_key}")
def get_form(form_key: str, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    with workspace.read() as conn:
        form = visible_form(conn, actor, catalog.get_form(conn, form_key))
        return form.model_dump(mode="json")


@router.get("/forms/{form_key}/changes")
def list_changes(form_key: str, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    """The schema change log; without the fields hidden from the caller."""
    with workspace.read() as conn:
        return {"items": list_visible_changes(conn=conn, actor=actor, form_key=form_key)}


@router.post("/forms/{form_key}/fields", status_code=201)
def add_field(
    form_key: str, body: dict[str, Any], workspace: WorkspaceDep, actor: ActorDep
) -> dict[str, Any]:
    with workspace.transaction() as conn:
        field = changes.field_from_draft(conn, form_key, body)
        form = changes.add_field(
            conn=conn, actor=actor, form_key=form_key, field=field, tz=workspace.tz
        )
    return form.model_dump(mode="json")


@router.patch("/forms/{form_key}/fields/{field_key}")
def update_field(
    form_key: str, field_key: str, body: FieldUpdate, workspace: WorkspaceDep, actor: ActorDep
) -> dict[str, Any]:
    settings = body.model_dump(exclude={"fill_value"})
    with workspace.transaction() as conn:
        form = changes.update_field(
            conn=conn,
            actor=actor,
            form_key=form_key,
            field_key=field_key,
            changes=settings,
            fill_value=body.fill_value,
            tz=workspace.tz,
        )
    return form.model_dump(mode="json")


@router.delete("/forms/{form_key}/fields/{field_key}")
def archive_field(
    form_key: str,
    field_key: str,
    workspace: WorkspaceDep,
    actor: ActorDep,
    purge: bool = False,
) -> dict[str, Any]:
    """Archive a field (data kept, restorable); ``?purge=true`` drops an archived one for good."""
    operation = changes.purge_field if purge else changes.archive_field
    with workspace.transaction() as conn:
        form = operation(conn=conn, actor=actor, form_key=form_key, field_key=field_key)
    return form.model_dump(mode="json")


@router.post("/forms/{form_key}/fields/{field_key}/restore")
def restore_field(
    form_key: str, field_key: str, workspace: WorkspaceDep, actor: ActorDep
) -> dict[str, Any]:
    with workspace.transaction() as conn:
        form = changes.restore_field(conn=conn, actor=actor, form_key=form_key, field_key=field_key)
    return form.model_dump(mode="json")
