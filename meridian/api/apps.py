"""Apps and forms: create, read, export and import (thin: parse, call one service, render)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from meridian.access.permissions import visible_form
from meridian.api.schemas import AppCreate, FormCreate
from meridian.http.deps import ActorDep, WorkspaceDep
from meridian.http.routing import ApiRoute
from meridian.schema import catalog, changes, packages
from meridian.schema.model import App, parse_model

router = APIRouter(route_class=ApiRoute, tags=["apps"])


@router.get("/apps")
def list_apps(workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    with workspace.read() as conn:
        return {"items": [app.model_dump() for app in catalog.list_apps(conn)]}


@router.post("/apps", status_code=201)
def create_app(body: AppCreate, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    app = parse_model(App, body.model_dump())
    with workspace.transaction() as conn:
        return changes.create_app(conn=conn, actor=actor, app=app).model_dump()


@router.get("/apps/{app_key}")
def get_app(app_key: str, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    with workspace.read() as conn:
        app = catalog.get_app(conn, app_key)
        forms = [visible_form(conn, actor, form) for form in catalog.list_forms(conn, app_key)]
    return {**app.model_dump(), "forms": [form.model_dump(mode="json") for form in forms]}


@router.post("/apps/{app_key}/forms", status_code=201)
def create_form(
    app_key: str, body: FormCreate, workspace: WorkspaceDep, actor: ActorDep
) -> dict[str, Any]:
    with workspace.transaction() as conn:
        form = changes.form_from_draft(conn, app_key, body.model_dump())
        return changes.create_form(conn=conn, actor=actor, form=form).model_dump(mode="json")


@router.get("/apps/{app_key}/export")
def export_app(app_key: str, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    with workspace.transaction() as conn:  # the export is audited
        return packages.export_app(conn=conn, actor=actor, app_key=app_key)


@router.post("/apps/import", status_code=201)
def import_app(package: dict[str, Any], workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    with workspace.transaction() as conn:
        app = packages.import_app(conn=conn, actor=actor, package=package)
    return app.model_dump()
