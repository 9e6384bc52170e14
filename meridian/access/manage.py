"""Managing the organisation as a user: checked (administrators only) and audited.

The API and the CLI call these; the functions in ``organisation`` and ``permissions`` beneath
them take no actor and record nothing, so the demo loader and tests can build an organisation
directly.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access import organisation, permissions
from meridian.access.passwords import Passwords
from meridian.access.sessions import password_problems
from meridian.access.users import create_user
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.db.locks import serialize
from meridian.db.tables import departments, sessions, user_departments, user_roles, users
from meridian.errors import (
    ErrorCollector,
    FieldError,
    MeridianError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from meridian.events.audit import audit
from meridian.schema.model import Form

CSV_COLUMNS = ("email", "name", "password", "roles", "department")
MAX_CSV_ROWS = 5000


def require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise PermissionDenied(Text("only administrators manage users, roles and permissions"))


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


def rename_role(conn: Connection, actor: Actor, key: str, label: str) -> dict[str, Any]:
    require_admin(actor)
    before, after = organisation.rename_role(conn=conn, key=key, label=label)
    if after == before:
        return after
    audit(
        conn,
        actor_id=actor.user_id,
        action="role_updated",
        object_type="role",
        object_id=key,
        detail={"before": before, "after": after},
    )
    return after


def delete_role(conn: Connection, actor: Actor, key: str) -> None:
    """Remove a role nobody holds (administrators); its permission documents go with it."""
    require_admin(actor)
    before = organisation.delete_role(conn=conn, key=key)
    audit(
        conn,
        actor_id=actor.user_id,
        action="role_deleted",
        object_type="role",
        object_id=key,
        detail={"before": before},
    )


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


def update_department(
    conn: Connection, actor: Actor, department_id: int, changes: Any
) -> dict[str, Any]:
    """Rename, move or re-manage a department (administrators), audited with before and after."""
    require_admin(actor)
    before, after = organisation.update_department(conn, department_id, changes)
    if after == before:
        return after
    audit(
        conn,
        actor_id=actor.user_id,
        action="department_updated",
        object_type="department",
        object_id=department_id,
        detail={"before": before, "after": after},
    )
    return after


def delete_department(conn: Connection, actor: Actor, department_id: int) -> None:
    """Remove an empty department (administrators), audited with what it was."""
    require_admin(actor)
    before = organisation.delete_department(conn, department_id)
    audit(
        conn,
        actor_id=actor.user_id,
        action="department_deleted",
        object_type="department",
        object_id=department_id,
        detail={"before": before},
    )


def add_user(
    conn: Connection,
    actor: Actor,
    *,
    email: str,
    name: str,
    password: str,
    passwords: Passwords,
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
        conn=conn,
        email=email,
        name=name,
        password=password,
        passwords=passwords,
        is_admin="administrator" in roles,
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


USER_CHANGES = ("name", "roles", "department", "other_departments", "manager_id", "is_active")


def update_user(
    conn: Connection, actor: Actor, user_id: int, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """Change a user's name, roles, departments, manager, or whether they may sign in; every
    problem is named at once and then nothing changes.

    Switching a user off ends their sessions at once, and their tokens stop working with them
    (checked on every use); their records stay theirs until transferred. Nobody can switch
    themselves off or drop their own administrator role, and the last active administrator
    stays one.
    """
    require_admin(actor)
    # Before the user's row is locked by the update: the organisation lock comes first.
    serialize(conn, organisation.ORGANISATION)
    before = describe_user(conn, user_id)
    after = _checked_user_changes(conn, actor, before, changes)
    conn.execute(
        users.update()
        .where(users.c.id == user_id)
        .values(
            name=after["name"],
            manager_id=after["manager_id"],
            is_active=after["is_active"],
            is_admin=after["is_admin"],
        )
    )
    if "roles" in changes:
        organisation.set_user_roles(conn, user_id, after["roles"])
    main, *others = after["department_ids"] or [None]
    organisation.set_user_departments(conn, user_id, main, others)
    if before["is_active"] and not after["is_active"]:
        conn.execute(
            sessions.update()
            .where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
            .values(revoked_at=utcnow(conn))
        )
    result = describe_user(conn, user_id)
    audit(
        conn,
        actor_id=actor.user_id,
        action="user_updated",
        object_type="user",
        object_id=user_id,
        detail={"before": before, "after": result},
    )
    return result


def _checked_user_changes(
    conn: Connection, actor: Actor, before: Mapping[str, Any], changes: Any
) -> dict[str, Any]:
    if not isinstance(changes, Mapping):
        raise ValidationFailed(
            [FieldError("body", "invalid_changes", Text("expected a JSON object"), changes)]
        )
    errors = ErrorCollector()
    for key in changes:
        if key not in USER_CHANGES:
            errors.add(
                key,
                "unknown_field",
                Text("choose among {value}", value=", ".join(USER_CHANGES)),
                changes[key],
            )
    after = dict(before)
    name = changes.get("name", before["name"])
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 200:
        errors.add("name", "invalid_name", Text("give a name of 1 to 200 characters"), name)
    else:
        after["name"] = name.strip()
    if "roles" in changes:
        roles = changes["roles"]
        if not isinstance(roles, list) or not roles or not all(isinstance(r, str) for r in roles):
            errors.add("roles", "invalid_roles", Text("give at least one role"), roles)
        else:
            unknown = [r for r in roles if not organisation.role_exists(conn, r)]
            if unknown:
                errors.add("roles", "unknown_role", Text("no such role"), unknown)
            after["roles"] = sorted(set(roles))
            after["is_admin"] = "administrator" in roles
    main = changes.get("department", (before["department_ids"] or [None])[0])
    others = changes.get("other_departments", before["department_ids"][1:])
    if (main is not None and not isinstance(main, int)) or not (
        isinstance(others, list) and all(isinstance(d, int) for d in others)
    ):
        errors.add("department", "invalid_department", Text("department ids"), [main, others])
    else:
        wanted = [d for d in dict.fromkeys([main, *others]) if d is not None]
        known = set(conn.scalars(sa.select(departments.c.id).where(departments.c.id.in_(wanted))))
        if unknown_departments := [d for d in wanted if d not in known]:
            errors.add(
                "department", "unknown_department", Text("no such department"), unknown_departments
            )
        after["department_ids"] = wanted
    manager = changes.get("manager_id", before["manager_id"])
    if manager is not None and (
        not isinstance(manager, int)
        or manager == before["id"]
        or conn.scalar(sa.select(users.c.id).where(users.c.id == manager)) is None
    ):
        errors.add("manager_id", "invalid_manager", Text("another existing user"), manager)
    else:
        after["manager_id"] = manager
    active = changes.get("is_active", before["is_active"])
    if not isinstance(active, bool):
        errors.add("is_active", "invalid_flag", Text("true or false"), active)
    else:
        after["is_active"] = active
    was_admin = before["is_active"] and before["is_admin"]
    stays_admin = after["is_active"] and after["is_admin"]
    if was_admin and not stays_admin:
        if before["id"] == actor.user_id:
            errors.add(
                "is_active",
                "self",
                Text("you cannot switch yourself off or drop your own administrator role"),
                before["id"],
            )
        elif _other_active_admins(conn, before["id"]) == 0:
            errors.add(
                "roles",
                "last_administrator",
                Text("the last active administrator stays one"),
                before["id"],
            )
    errors.raise_if_any()
    return after


def _other_active_admins(conn: Connection, user_id: int) -> int:
    return int(
        conn.scalar(
            sa.select(sa.func.count())
            .select_from(users)
            .where(users.c.is_admin, users.c.is_active, users.c.id != user_id)
        )
        or 0
    )


def describe_user(conn: Connection, user_id: int) -> dict[str, Any]:
    row = conn.execute(sa.select(users).where(users.c.id == user_id)).first()
    if row is None:
        raise NotFound(Text("user {user_id} does not exist", user_id=user_id), id=user_id)
    return _described(
        row,
        organisation.user_role_keys(conn, user_id),
        organisation.user_department_ids(conn, user_id),
    )


def list_users(conn: Connection, actor: Actor) -> list[dict[str, Any]]:
    """Every user, read in three queries whatever their number."""
    require_admin(actor)
    roles: dict[int, set[str]] = {}
    for user_id, role in conn.execute(sa.select(user_roles.c.user_id, user_roles.c.role_key)):
        roles.setdefault(user_id, set()).add(role)
    others: dict[int, list[int]] = {}
    memberships = sa.select(user_departments.c.user_id, user_departments.c.department_id)
    for user_id, department in conn.execute(memberships.order_by(user_departments.c.department_id)):
        others.setdefault(user_id, []).append(department)
    rows = conn.execute(sa.select(users).order_by(users.c.id))
    return [
        _described(
            row,
            roles.get(row.id, set()),
            [
                *([row.department_id] if row.department_id is not None else []),
                *(d for d in others.get(row.id, []) if d != row.department_id),
            ],
        )
        for row in rows
    ]


def _described(row: Any, roles: Iterable[str], department_ids: Iterable[int]) -> dict[str, Any]:
    return {
        "id": row.id,
        "email": row.email,
        "name": row.name,
        "is_active": row.is_active,
        "is_admin": row.is_admin,
        "roles": sorted(roles),
        "department_ids": list(department_ids),
        "manager_id": row.manager_id,
        "must_change_password": row.must_change_password,
    }


def import_users(
    conn: Connection, actor: Actor, text: str, *, passwords: Passwords
) -> list[dict[str, Any]]:
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
                    Text("the header needs {value}", value=", ".join(missing)),
                    reader.fieldnames,
                )
            ]
        )
    rows = list(reader)
    if not rows or len(rows) > MAX_CSV_ROWS:
        raise ValidationFailed(
            [
                FieldError(
                    "csv",
                    "invalid_size",
                    Text("give 1 to {limit} users", limit=MAX_CSV_ROWS),
                    len(rows),
                )
            ]
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
                        passwords=passwords,
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
