"""Users, departments, roles, per-form permissions and the audit log (administrators)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body

from meridian.access import manage, organisation, permissions
from meridian.api.schemas import DepartmentCreate, RoleCreate, RoleRename, UserCreate
from meridian.core.ids import Id
from meridian.events import audit
from meridian.http.deps import ActorDep, WorkspaceDep
from meridian.http.routing import ApiRoute
from meridian.schema.catalog import get_form

router = APIRouter(route_class=ApiRoute, tags=["organisation"])


@router.get("/roles")
def list_roles(workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    with workspace.read() as conn:
        return {"items": organisation.list_roles(conn)}


@router.post("/roles", status_code=201)
def create_role(body: RoleCreate, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    with workspace.transaction() as conn:
        return manage.create_role(conn, actor, body.key, body.label)


@router.patch("/roles/{role}")
def rename_role(
    role: str, workspace: WorkspaceDep, actor: ActorDep, body: Annotated[RoleRename, Body()]
) -> dict[str, Any]:
    with workspace.transaction() as conn:
        return manage.rename_role(conn, actor, role, body.label)


@router.delete("/roles/{role}", status_code=204)
def delete_role(role: str, workspace: WorkspaceDep, actor: ActorDep) -> None:
    with workspace.transaction() as conn:
        manage.delete_role(conn, actor, role)


@router.get("/roles/{role}/forms/{form_key}")
def get_permissions(
    role: str, form_key: str, workspace: WorkspaceDep, actor: ActorDep
) -> dict[str, Any]:
    manage.require_admin(actor)
    with workspace.read() as conn:
        return permissions.form_rules(conn, role, get_form(conn, form_key))


@router.put("/roles/{role}/forms/{form_key}")
def set_permissions(
    role: str,
    form_key: str,
    workspace: WorkspaceDep,
    actor: ActorDep,
    document: Annotated[Any, Body()],
) -> dict[str, Any]:
    with workspace.transaction() as conn:
        return manage.set_form_permissions(conn, actor, role, get_form(conn, form_key), document)


@router.get("/departments")
def list_departments(workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    with workspace.read() as conn:
        return {"items": organisation.list_departments(conn)}


@router.post("/departments", status_code=201)
def create_department(
    body: DepartmentCreate, workspace: WorkspaceDep, actor: ActorDep
) -> dict[str, Any]:
    with workspace.transaction() as conn:
        return manage.create_department(conn, actor, body.name, body.parent_id, body.manager_id)


@router.patch("/departments/{department_id}")
def update_department(
    department_id: Id, workspace: WorkspaceDep, actor: ActorDep, changes: Annotated[Any, Body()]
) -> dict[str, Any]:
    with workspace.transaction() as conn:
        return manage.update_department(conn, actor, department_id, changes)


@router.delete("/departments/{department_id}", status_code=204)
def delete_department(department_id: Id, workspace: WorkspaceDep, actor: ActorDep) -> None:
    with workspace.transaction() as conn:
        manage.delete_department(conn, actor, department_id)


@router.get("/users")
def list_users(workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    with workspace.read() as conn:
        return {"items": manage.list_users(conn, actor)}


@router.post("/users", status_code=201)
def create_user(body: UserCreate, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    with workspace.transaction() as conn:
        return manage.add_user(conn, actor, passwords=workspace.passwords, **body.model_dump())


@router.patch("/users/{user_id}")
def update_user(
    user_id: Id, workspace: WorkspaceDep, actor: ActorDep, changes: Annotated[Any, Body()]
) -> dict[str, Any]:
    with workspace.transaction() as conn:
        return manage.update_user(conn, actor, user_id, changes)


@router.post("/users/import", status_code=201)
def import_users(
    workspace: WorkspaceDep, actor: ActorDep, csv: Annotated[str, Body(media_type="text/csv")]
) -> dict[str, Any]:
    with workspace.transaction() as conn:
        return {"items": manage.import_users(conn, actor, csv, passwords=workspace.passwords)}


@router.get("/audit")
def search_audit(
    workspace: WorkspaceDep,
    actor: ActorDep,
    actor_id: Id | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: Id | None = None,
    limit: int = 100,
) -> dict[str, Any]:
    manage.require_admin(actor)
    with workspace.read() as conn:
        items = audit.search_audit(
            conn,
            actor_id=actor_id,
            object_type=object_type,
            object_id=object_id,
            action=action,
            since=since,
            until=until,
            before_id=before_id,
            limit=limit,
        )
    return {"items": items, "next_before_id": items[-1]["id"] if len(items) == limit else None}
