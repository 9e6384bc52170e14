"""Administration: users, departments, roles and their permissions, API tokens, the audit log,
and dead jobs. Every change goes through ``meridian.access`` (which audits it)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.engine import Connection
from starlette.datastructures import UploadFile

from meridian.access import manage, organisation, permissions
from meridian.access.tokens import create_token, list_tokens, revoke_token
from meridian.access.users import user_names
from meridian.core.i18n import Text
from meridian.core.ids import Id
from meridian.errors import FieldError, MeridianError, ValidationFailed
from meridian.events.audit import search_audit
from meridian.jobs import queue as jobs
from meridian.schema.catalog import find_form, get_form, list_forms
from meridian.web.display import Presenter
from meridian.web.inputs import posted_id
from meridian.web.messages import problems_of
from meridian.web.pages.common import page
from meridian.web.routing import PageRoute
from meridian.web.session import Viewer, ViewerDep

router = APIRouter(route_class=PageRoute, prefix="/admin")
T = TypeVar("T")

OPERATIONS = ("create", "read", "update", "delete", "export", "import", "manage")
SCOPED = ("read", "update", "delete", "export")
SCOPES = ("", "own", "department", "subtree", "all")


def admin_page(
    request: Request, viewer: Viewer, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """An administration page; every one gets the viewer's presenter (dates and values in
    their language and zone), so a page never passes its own."""
    manage.require_admin(viewer.actor)
    context.setdefault("presenter", Presenter(viewer.locale, viewer.workspace.tz, {}))
    context.setdefault("problems", [])
    context.setdefault("notice", "")
    return page(request, viewer, template, status_code=status_code, **context)


def changed(
    viewer: Viewer,
    change: Callable[[Connection], T],
    show: Callable[..., HTMLResponse],
    shown: Callable[[T], dict[str, Any]],
) -> HTMLResponse:
    """Make one change in its own transaction and show the page again: with what ``shown``
    makes of the result, or with the problems that refused it (nothing is kept then)."""
    try:
        with viewer.workspace.transaction() as conn:
            result = change(conn)
    except MeridianError as exc:
        return show(status_code=exc.status, problems=problems_of(exc, viewer.locale))
    return show(**shown(result))


def removed(
    viewer: Viewer,
    remove: Callable[[Connection], None],
    show: Callable[..., HTMLResponse],
    to: str,
) -> Response:
    """Remove something in its own transaction and go to ``to``; when refused, show its page
    again with the reasons (nothing is removed then)."""
    try:
        with viewer.workspace.transaction() as conn:
            remove(conn)
    except MeridianError as exc:
        return show(status_code=exc.status, problems=problems_of(exc, viewer.locale))
    return RedirectResponse(to, status_code=303)


# Users ------------------------------------------------------------------------------------


def _users_page(request: Request, viewer: Viewer, **context: Any) -> HTMLResponse:
    with viewer.workspace.read() as conn:
        manage.require_admin(viewer.actor)
        people = manage.list_users(conn, viewer.actor)
        departments = organisation.list_departments(conn)
        roles = organisation.named_roles(conn)
    names = {d["id"]: d["name"] for d in departments}
    return admin_page(
        request,
        viewer,
        "admin_users.html",
        users=people,
        departments=departments,
        department_names=names,
        roles=roles,
        role_names={role["key"]: role["name"] for role in roles},
        **context,
    )


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, viewer: ViewerDep) -> HTMLResponse:
    return _users_page(request, viewer)


@router.post("/users", response_class=HTMLResponse)
async def add_user(request: Request, viewer: ViewerDep) -> HTMLResponse:
    posted = await request.form()
    department = str(posted.get("department", ""))
    return changed(
        viewer,
        lambda conn: manage.add_user(
            conn,
            viewer.actor,
            email=str(posted.get("email", "")),
            name=str(posted.get("name", "")),
            password=str(posted.get("password", "")),
            passwords=viewer.workspace.passwords,
            roles=[str(role) for role in posted.getlist("roles")] or ["member"],
            department=int(department) if department.isdecimal() else None,
        ),
        functools.partial(_users_page, request, viewer),
        lambda _: {"notice": viewer._("The user was created.")},
    )


def _user_page(request: Request, viewer: Viewer, user_id: int, **context: Any) -> HTMLResponse:
    manage.require_admin(viewer.actor)
    with viewer.workspace.read() as conn:
        person = manage.describe_user(conn, user_id)
        people = manage.list_users(conn, viewer.actor)
        departments = organisation.list_departments(conn)
        roles = organisation.named_roles(conn)
    return admin_page(
        request,
        viewer,
        "admin_user.html",
        person=person,
        people=[p for p in people if p["id"] != user_id],
        departments=departments,
        roles=roles,
        **context,
    )


@router.get("/users/{user_id}", response_class=HTMLResponse)
def user_page(user_id: Id, request: Request, viewer: ViewerDep) -> HTMLResponse:
    return _user_page(request, viewer, user_id)


@router.post("/users/{user_id}", response_class=HTMLResponse)
async def update_user(user_id: Id, request: Request, viewer: ViewerDep) -> HTMLResponse:
    posted = await request.form()
    changes = {
        "name": str(posted.get("name", "")),
        "roles": [str(role) for role in posted.getlist("roles")],
        "department": posted_id(str(posted.get("department", ""))),
        "manager_id": posted_id(str(posted.get("manager_id", ""))),
        "is_active": posted.get("is_active") == "on",
    }
    return changed(
        viewer,
        lambda conn: manage.update_user(conn, viewer.actor, user_id, changes),
        functools.partial(_user_page, request, viewer, user_id),
        lambda _: {"notice": viewer._("The user was saved.")},
    )


@router.post("/users/import", response_class=HTMLResponse)
async def import_users(request: Request, viewer: ViewerDep) -> HTMLResponse:
    posted = await request.form()
    upload = posted.get("file")
    text = (await upload.read()).decode("utf-8-sig") if isinstance(upload, UploadFile) else ""
    return changed(
        viewer,
        lambda conn: manage.import_users(
            conn, viewer.actor, text, passwords=viewer.workspace.passwords
        ),
        functools.partial(_users_page, request, viewer),
        lambda created: {
            "notice": viewer._.ngettext(
                "{count} user imported.", "{count} users imported.", len(created)
            )
        },
    )


# Departments --------------------------------------------------------------------------------


def _departments_page(request: Request, viewer: Viewer, **context: Any) -> HTMLResponse:
    with viewer.workspace.read() as conn:
        departments = organisation.list_departments(conn)
        names = user_names(conn, [d["manager_id"] for d in departments])
    children: dict[int | None, list[dict[str, Any]]] = {}
    for department in departments:
        children.setdefault(department["parent_id"], []).append(department)
    tree: list[tuple[int, dict[str, Any]]] = []

    def walk(parent: int | None, depth: int) -> None:
        for department in children.get(parent, []):
            tree.append((depth, department))
            walk(department["id"], depth + 1)

    walk(None, 0)
    return admin_page(
        request,
        viewer,
        "admin_departments.html",
        tree=tree,
        departments=departments,
        managers=names,
        **context,
    )


@router.get("/departments", response_class=HTMLResponse)
def departments_page(request: Request, viewer: ViewerDep) -> HTMLResponse:
    return _departments_page(request, viewer)


@router.post("/departments", response_class=HTMLResponse)
async def add_department(request: Request, viewer: ViewerDep) -> HTMLResponse:
    posted = await request.form()
    parent = str(posted.get("parent_id", ""))
    return changed(
        viewer,
        lambda conn: manage.create_department(
            conn,
            viewer.actor,
            str(posted.get("name", "")).strip(),
            int(parent) if parent.isdecimal() else None,
            None,
        ),
        functools.partial(_departments_page, request, viewer),
        lambda _: {"notice": viewer._("The department was created.")},
    )


def _department_page(
    request: Request, viewer: Viewer, department_id: int, **context: Any
) -> HTMLResponse:
    manage.require_admin(viewer.actor)
    with viewer.workspace.read() as conn:
        department = organisation.describe_department(conn, department_id)
        below = organisation.subtree(conn, [department_id])
        departments = organisation.list_departments(conn)
        people = manage.list_users(conn, viewer.actor)
    return admin_page(
        request,
        viewer,
        "admin_department.html",
        department=department,
        parents=[d for d in departments if d["id"] not in below],
        people=[p for p in people if p["is_active"] or p["id"] == department["manager_id"]],
        **context,
    )


@router.get("/departments/{department_id}", response_class=HTMLResponse)
def department_page(department_id: Id, request: Request, viewer: ViewerDep) -> HTMLResponse:
    return _department_page(request, viewer, department_id)


@router.post("/departments/{department_id}", response_class=HTMLResponse)
async def update_department(department_id: Id, request: Request, viewer: ViewerDep) -> HTMLResponse:
    posted = await request.form()
    changes = {
        "name": str(posted.get("name", "")),
        "parent_id": posted_id(str(posted.get("parent_id", ""))),
        "manager_id": posted_id(str(posted.get("manager_id", ""))),
    }
    return changed(
        viewer,
        lambda conn: manage.update_department(conn, viewer.actor, department_id, changes),
        functools.partial(_department_page, request, viewer, department_id),
        lambda _: {"notice": viewer._("The department was saved.")},
    )


@router.post("/departments/{department_id}/delete", response_class=HTMLResponse)
def delete_department(department_id: Id, request: Request, viewer: ViewerDep) -> Response:
    return removed(
        viewer,
        lambda conn: manage.delete_department(conn, viewer.actor, department_id),
        functools.partial(_department_page, request, viewer, department_id),
        "/admin/departments",
    )


# Roles and permissions ----------------------------------------------------------------------


def _roles_page(request: Request, viewer: Viewer, **context: Any) -> HTMLResponse:
    with viewer.workspace.read() as conn:
        roles = organisation.named_roles(conn)
        forms = list_forms(conn)
    return admin_page(request, viewer, "admin_roles.html", roles=roles, forms=forms, **context)


@router.get("/roles", response_class=HTMLResponse)
def roles_page(request: Request, viewer: ViewerDep) -> HTMLResponse:
    return _roles_page(request, viewer)


@router.post("/roles", response_class=HTMLResponse)
async def add_role(request: Request, viewer: ViewerDep) -> Response:
    posted = await request.form()
    key = str(posted.get("key", "")).strip()
    try:
        with viewer.workspace.transaction() as conn:
            manage.create_role(conn, viewer.actor, key, str(posted.get("label", "")).strip())
    except MeridianError as exc:
        return _roles_page(
            request, viewer, status_code=exc.status, problems=problems_of(exc, viewer.locale)
        )
    return RedirectResponse(f"/admin/roles/{key}", status_code=303)


def _permissions_page(request: Request, viewer: Viewer, role: str, **context: Any) -> HTMLResponse:
    with viewer.workspace.read() as conn:
        about = organisation.describe_role(conn, role)
        forms = list_forms(conn)
        rules = {form.key: permissions.form_rules(conn, role, form) for form in forms}
    return admin_page(
        request,
        viewer,
        "admin_permissions.html",
        role=role,
        role_name=organisation.role_name(about),
        about=about,
        forms=forms,
        rules=rules,
        operations=OPERATIONS,
        scoped=SCOPED,
        scopes=SCOPES,
        **context,
    )


@router.get("/roles/{role}", response_class=HTMLResponse)
def permissions_page(role: str, request: Request, viewer: ViewerDep) -> HTMLResponse:
    return _permissions_page(request, viewer, role)


@router.post("/roles/{role}/rename", response_class=HTMLResponse)
async def rename_role(role: str, request: Request, viewer: ViewerDep) -> HTMLResponse:
    posted = await request.form()
    return changed(
        viewer,
        lambda conn: manage.rename_role(conn, viewer.actor, role, str(posted.get("label", ""))),
        functools.partial(_permissions_page, request, viewer, role),
        lambda _: {"notice": viewer._("The role was saved.")},
    )


@router.post("/roles/{role}/delete", response_class=HTMLResponse)
def delete_role(role: str, request: Request, viewer: ViewerDep) -> Response:
    return removed(
        viewer,
        lambda conn: manage.delete_role(conn, viewer.actor, role),
        functools.partial(_permissions_page, request, viewer, role),
        "/admin/roles",
    )


def rules_from_form(posted: Any, form_key: str, field_keys: list[str]) -> dict[str, Any]:
    """The permission document the role page posted for one form."""
    document: dict[str, Any] = {}
    for operation in OPERATIONS:
        value = str(posted.get(f"{form_key}.{operation}", ""))
        if operation in SCOPED:
            expression = str(posted.get(f"{form_key}.{operation}.expr", "")).strip()
            document[operation] = {"expr": expression} if value == "expr" else (value or False)
        else:
            document[operation] = value == "true"
    document["fields"] = {
        key: level
        for key in field_keys
        if (level := str(posted.get(f"{form_key}.fields.{key}", ""))) in ("hidden", "read_only")
    }
    return document


@router.post("/roles/{role}/forms/{form_key}", response_class=HTMLResponse)
async def save_permissions(
    role: str, form_key: str, request: Request, viewer: ViewerDep
) -> HTMLResponse:
    posted = await request.form()

    def save(conn: Connection) -> None:
        form = get_form(conn, form_key)
        document = rules_from_form(posted, form_key, [f.key for f in form.active_fields])
        manage.set_form_permissions(conn, viewer.actor, role, form, document)

    return changed(
        viewer,
        save,
        functools.partial(_permissions_page, request, viewer, role),
        lambda _: {"notice": viewer._("Permissions saved.")},
    )


# API tokens -------------------------------------------------------------------------------------


def _tokens_page(request: Request, viewer: Viewer, **context: Any) -> HTMLResponse:
    with viewer.workspace.read() as conn:
        tokens = list_tokens(conn)
    return admin_page(request, viewer, "admin_tokens.html", tokens=tokens, **context)


@router.get("/tokens", response_class=HTMLResponse)
def tokens_page(request: Request, viewer: ViewerDep) -> HTMLResponse:
    return _tokens_page(request, viewer, created="")


@router.post("/tokens", response_class=HTMLResponse)
async def add_token(request: Request, viewer: ViewerDep) -> HTMLResponse:
    """The token is shown on this one response and never again."""
    manage.require_admin(viewer.actor)
    posted = await request.form()
    name = str(posted.get("name", "")).strip()
    expires = str(posted.get("expires", ""))
    form_key = str(posted.get("form_key", "")).strip() or None

    def create(conn: Connection) -> str:
        problems = []
        if not name:
            problems.append(FieldError("name", "required", Text("a token needs a name"), name))
        try:
            until = datetime.fromisoformat(f"{expires}T23:59:59") if expires else None
        except ValueError:
            until = None
            problems.append(
                FieldError("expires", "invalid_date", Text("a date like 2027-01-31"), expires)
            )
        if form_key is not None and find_form(conn, form_key) is None:
            problems.append(FieldError("form_key", "unknown_form", Text("no such form"), form_key))
        if problems:
            raise ValidationFailed(problems)
        assert viewer.actor.user_id is not None
        return create_token(
            conn=conn,
            user_id=viewer.actor.user_id,
            name=name,
            scope=str(posted.get("scope", "write")),
            form_key=form_key,
            expires_at=until.replace(tzinfo=viewer.workspace.tz) if until else None,
        )

    return changed(
        viewer,
        create,
        functools.partial(_tokens_page, request, viewer, created=""),
        lambda token: {"created": token},
    )


@router.post("/tokens/{token_id}/revoke")
def revoke(token_id: Id, viewer: ViewerDep) -> Response:
    manage.require_admin(viewer.actor)
    with viewer.workspace.transaction() as conn:
        revoke_token(conn=conn, token_id=token_id, actor_id=viewer.actor.user_id)
    return RedirectResponse("/admin/tokens", status_code=303)


# Audit log and jobs ---------------------------------------------------------------------------


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    viewer: ViewerDep,
    actor: str = "",
    object_type: str = "",
    object_id: str = "",
    action: str = "",
    since: str = "",
    until: str = "",
    before: str = "",
) -> HTMLResponse:
    manage.require_admin(viewer.actor)
    tz = viewer.workspace.tz

    def day(text: str) -> datetime | None:
        try:
            return datetime.fromisoformat(text).replace(tzinfo=tz) if text else None
        except ValueError:
            return None

    with viewer.workspace.read() as conn:
        entries = search_audit(
            conn,
            actor_id=int(actor) if actor.isdecimal() else None,
            object_type=object_type or None,
            object_id=object_id or None,
            action=action or None,
            since=day(since),
            until=day(until),
            before_id=int(before) if before.isdecimal() else None,
            limit=100,
        )
        names = user_names(conn, [e["actor_id"] for e in entries])
    query = {
        "actor": actor,
        "object_type": object_type,
        "object_id": object_id,
        "action": action,
        "since": since,
        "until": until,
    }
    return admin_page(
        request,
        viewer,
        "admin_audit.html",
        entries=entries,
        names=names,
        query=query,
        more=entries[-1]["id"] if len(entries) == 100 else None,
    )


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request, viewer: ViewerDep, state: str = "dead") -> HTMLResponse:
    manage.require_admin(viewer.actor)
    with viewer.workspace.read() as conn:
        found = jobs.list_jobs(conn, state=state, limit=200, locale=viewer.locale)
    return admin_page(
        request,
        viewer,
        "admin_jobs.html",
        jobs=found,
        state=state,
        state_names=jobs.STATE_NAMES,
        kind_names=jobs.KIND_NAMES,
    )


@router.post("/jobs/{job_id}/{operation}")
def job_action(job_id: Id, operation: str, viewer: ViewerDep) -> Response:
    manage.require_admin(viewer.actor)
    with viewer.workspace.transaction() as conn:
        if operation == "retry":
            jobs.retry_dead(conn, job_id)
        elif operation == "discard":
            jobs.discard_dead(conn, job_id)
        else:
            raise ValidationFailed(
                [FieldError("operation", "unknown", Text("retry or discard"), operation)]
            )
    return RedirectResponse("/admin/jobs", status_code=303)
