"""Managing the organisation as a user: checked (administrators only) and audited.

The API and the CLI call these; the functions in ``organisation`` and ``permissions`` beneath
them take no actor and record nothing, so the demo loader and tests can build an organisation
directly.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access import organisation, permissions
from meridian.access.sessions import password_problems
from meridian.access.users import create_user
from meridian.core.actor import Actor
from meridian.db.tables import users
from meridian.errors import FieldError, MeridianError, PermissionDenied, ValidationFailed
from meridian.events.audit import audit
from meridian.schema.model import Form

CSV_COLUMNS = ("email", "name", "password", "roles", "department")
MAX_CSV_ROWS = 5000


def require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise PermissionDenied("only administrators manage users, roles and permissions")


def create_role(conn: Connection, actor: Actor, key: str, label: str) -> dict[str, Any]:
    require_admin(actor)
    organisation.create_role(conn=conn, key=key, label=label)
    audit(
        conn,
        actor_id=actor.user_id,
        action="role_created",
        object_type="role",
        object_id=key,
        detail={"label": label},
    )
    return {"key": key, "label": label, "preset": False}


def set_form_permissions(
    conn: Connection, actor: Actor, role: str, form: Form, document: Any
) -> dict[str, Any]:
    require_admin(actor)
    before = permissions.form_rules(conn, role, form)
    rules = permissions.set_form_rules(conn, role, form, document)
    audit(
        conn,
        actor_id=actor.user_id,
        action="permissions_changed",
        object_type="role",
        object_id=role,
        detail={"form": form.key, "before": before, "after": rules},
    )
    return rules


def create_department(
    conn: Connection, actor: Actor, name: str, parent_id: int | None, manager_id: int | None
) -> dict[str, Any]:
    require_admin(actor)
    department_id = organisation.create_department(
        conn=conn, name=name, parent_id=parent_id, manager_id=manager_id
    )
    audit(
        conn,
        actor_id=actor.user_id,
        action="department_created",
        object_type="department",
        object_id=department_id,
        detail={"name": name, "parent_id": parent_id},
    )
    return {"id": department_id, "name": name, "parent_id": parent_id, "manager_id": manager_id}


def add_user(
    conn: Connection,
    actor: Actor,
    *,
    email: str,
    name: str,
    password: str,
    roles: Sequence[str] = ("member",),
    department: str | int | None = None,
    other_departments: Sequence[int] = (),
    manager_id: int | None = None,
    must_change_password: bool = True,
) -> dict[str, Any]:
    """A user with roles and departments; the initial password must be changed at first login
    unless ``must_change_password`` is False (the CLI's bootstrap)."""
    require_admin(actor)
    problems = password_problems(password or "", email)
    if problems:
        raise ValidationFailed(
            [FieldError("password", "weak_password", problem, None) for problem in problems]
        )
    department_id = (
        organisation.department_id_by_name(conn, department)
        if isinstance(department, str)
        else department
    )
    user_id = create_user(
        conn=conn, email=email, name=name, password=password, is_admin="administrator" in roles
    )
    organisation.set_user_roles(conn, user_id, roles)
    organisation.set_user_departments(conn, user_id, department_id, other_departments)
    conn.execute(
        users.update()
        .where(users.c.id == user_id)
        .values(manager_id=manager_id, must_change_password=must_change_password)
    )
    audit(
        conn,
        actor_id=actor.user_id,
        action="user_created",
        object_type="user",
        object_id=user_id,
        detail={"email": email, "roles": list(roles)},
    )
    return describe_user(conn, user_id)


def describe_user(conn: Connection, user_id: int) -> dict[str, Any]:
    row = conn.execute(sa.select(users).where(users.c.id == user_id)).one()
    return {
        "id": row.id,
        "email": row.email,
        "name": row.name,
        "is_active": row.is_active,
        "roles": sorted(organisation.user_role_keys(conn, user_id)),
        "department_ids": list(organisation.user_department_ids(conn, user_id)),
        "manager_id": row.manager_id,
        "must_change_password": row.must_change_password,
    }


def list_users(conn: Connection, actor: Actor) -> list[dict[str, Any]]:
    require_admin(actor)
    ids = conn.scalars(sa.select(users.c.id).order_by(users.c.id)).all()
    return [describe_user(conn, user_id) for user_id in ids]


def import_users(conn: Connection, actor: Actor, text: str) -> list[dict[str, Any]]:
    """Users from CSV (email,name,password,roles,department; roles separated by ``|``).

    All or nothing: every bad row is reported with its line number, and then nothing is kept.
    """
    require_admin(actor)
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("email", "password") if c not in (reader.fieldnames or [])]
    if missing:
        raise ValidationFailed(
            [
                FieldError(
                    "csv",
                    "missing_columns",
                    f"the header needs {', '.join(missing)}",
                    reader.fieldnames,
                )
            ]
        )
    rows = list(reader)
    if not rows or len(rows) > MAX_CSV_ROWS:
        raise ValidationFailed(
            [FieldError("csv", "invalid_size", f"give 1 to {MAX_CSV_ROWS} users", len(rows))]
        )
    created: list[dict[str, Any]] = []
    problems: list[FieldError] = []
    for line, row in enumerate(rows, start=2):
        roles = [r.strip() for r in (row.get("roles") or "member").split("|") if r.strip()]
        try:
            with conn.begin_nested():
                created.append(
                    add_user(
                        conn,
                        actor,
                        email=row.get("email") or "",
                        name=row.get("name") or "",
                        password=row.get("password") or "",
                        roles=roles,
                        department=(row.get("department") or "").strip() or None,
                    )
                )
        except ValidationFailed as exc:
            problems.extend(
                FieldError(f"line {line}.{e.field}", e.code, e.message, e.value) for e in exc.errors
            )
        except MeridianError as exc:  # a duplicate email, an unknown department …
            problems.append(FieldError(f"line {line}", exc.code, exc.detail, row.get("email")))
    if problems:
        raise ValidationFailed(problems)
    return created
