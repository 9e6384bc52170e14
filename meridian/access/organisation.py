"""Departments (a tree), roles, and which users belong to which.

A user has one main department and may belong to others; a department may have a manager.
Roles are keys with labels; five presets exist from the first migration and cannot be removed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.clock import utcnow
from meridian.db.tables import departments, roles, user_departments, user_roles, users
from meridian.errors import Conflict, FieldError, NotFound, ValidationFailed

PRESET_ROLES = ("administrator", "builder", "manager", "member", "read_only")
_ROLE_KEY = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def _invalid(field: str, code: str, message: str, value: Any) -> ValidationFailed:
    return ValidationFailed([FieldError(field, code, message, value)])


# ---- departments ---------------------------------------------------------------------------


def create_department(
    *, conn: Connection, name: str, parent_id: int | None = None, manager_id: int | None = None
) -> int:
    """A department under ``parent_id`` (a root when None); names are unique among siblings."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise _invalid("name", "invalid_name", "give a name of 1 to 200 characters", name)
    if parent_id is not None and not _exists(conn, departments.c.id, parent_id):
        raise _invalid("parent", "unknown_department", f"no department {parent_id}", parent_id)
    if manager_id is not None and not _exists(conn, users.c.id, manager_id):
        raise _invalid("manager", "unknown_user", f"no user {manager_id}", manager_id)
    sibling = sa.select(departments.c.id).where(
        departments.c.name == name,
        departments.c.parent_id.is_(None)
        if parent_id is None
        else departments.c.parent_id == parent_id,
    )
    if conn.execute(sibling).first() is not None:
        raise Conflict(f"a department named {name!r} already exists there", name=name)
    result = conn.execute(
        departments.insert().values(
            name=name, parent_id=parent_id, manager_id=manager_id, created_at=utcnow()
        )
    )
    assert result.inserted_primary_key is not None
    return int(result.inserted_primary_key[0])


def department_id_by_name(conn: Connection, name: str) -> int:
    """The department called ``name``, or the one at a path like ``销售部/华东``."""
    parent: int | None = None
    for depth, part in enumerate(name.strip().split("/")):
        query = sa.select(departments.c.id).where(departments.c.name == part.strip())
        if depth:
            query = query.where(departments.c.parent_id == parent)
        found = conn.scalars(query).all()
        if not found:
            raise _invalid("department", "unknown_department", f"no department {name!r}", name)
        if len(found) > 1:
            raise _invalid(
                "department",
                "ambiguous_department",
                f"several departments are called {part!r}; give its path, e.g. 总部/{part}",
                name,
            )
        parent = found[0]
    assert parent is not None
    return parent


def ensure_department_path(conn: Connection, path: str) -> int:
    """The department at ``path`` (``总部/华东销售``), creating the missing ones along it."""
    parent: int | None = None
    for part in [p.strip() for p in path.split("/") if p.strip()]:
        query = sa.select(departments.c.id).where(departments.c.name == part)
        query = query.where(
            departments.c.parent_id.is_(None)
            if parent is None
            else departments.c.parent_id == parent
        )
        found = conn.scalar(query)
        parent = (
            found
            if found is not None
            else create_department(conn=conn, name=part, parent_id=parent)
        )
    if parent is None:
        raise _invalid("department", "invalid_name", "give a department name", path)
    return parent


def list_departments(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(sa.select(departments).order_by(departments.c.id))
    return [
        {
            "id": row.id,
            "name": row.name,
            "parent_id": row.parent_id,
            "manager_id": row.manager_id,
        }
        for row in rows
    ]


def subtree(conn: Connection, roots: Iterable[int]) -> set[int]:
    """``roots`` and every department below them, by one recursive query."""
    start = sorted(set(roots))
    if not start:
        return set()
    tree = (
        sa.select(departments.c.id).where(departments.c.id.in_(start)).cte("tree", recursive=True)
    )
    tree = tree.union(sa.select(departments.c.id).where(departments.c.parent_id == tree.c.id))
    return set(conn.scalars(sa.select(tree.c.id)))


def set_user_departments(
    conn: Connection, user_id: int, main: int | None, others: Sequence[int] = ()
) -> None:
    """Replace the user's departments: ``main`` on the user, the rest as memberships."""
    wanted = list(dict.fromkeys([*([main] if main is not None else []), *others]))
    known = set(conn.scalars(sa.select(departments.c.id).where(departments.c.id.in_(wanted))))
    unknown = [d for d in wanted if d not in known]
    if unknown:
        raise _invalid("departments", "unknown_department", "no such department", unknown)
    conn.execute(users.update().where(users.c.id == user_id).values(department_id=main))
    conn.execute(user_departments.delete().where(user_departments.c.user_id == user_id))
    extra = [d for d in wanted if d != main]
    if extra:
        conn.execute(
            user_departments.insert(), [{"user_id": user_id, "department_id": d} for d in extra]
        )


def user_department_ids(conn: Connection, user_id: int) -> tuple[int, ...]:
    main = conn.scalar(sa.select(users.c.department_id).where(users.c.id == user_id))
    others = conn.scalars(
        sa.select(user_departments.c.department_id)
        .where(user_departments.c.user_id == user_id)
        .order_by(user_departments.c.department_id)
    ).all()
    return (*([main] if main is not None else []), *(d for d in others if d != main))


# ---- roles ---------------------------------------------------------------------------------


def create_role(*, conn: Connection, key: str, label: str) -> None:
    if not isinstance(key, str) or not _ROLE_KEY.match(key):
        raise _invalid("key", "invalid_key", "a role key is lower-case letters, digits and _", key)
    label = (label or "").strip()
    if not label or len(label) > 200:
        raise _invalid("label", "invalid_label", "give a label of 1 to 200 characters", label)
    if role_exists(conn, key):
        raise Conflict(f"role {key!r} already exists", key=key)
    conn.execute(roles.insert().values(key=key, label=label, preset=False, created_at=utcnow()))


def role_exists(conn: Connection, key: str) -> bool:
    return _exists(conn, roles.c.key, key)


def require_role(conn: Connection, key: str) -> None:
    if not role_exists(conn, key):
        raise NotFound(f"no role {key!r}", role=key)


def list_roles(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(sa.select(roles).order_by(roles.c.preset.desc(), roles.c.key))
    return [{"key": r.key, "label": r.label, "preset": r.preset} for r in rows]


def set_user_roles(conn: Connection, user_id: int, keys: Sequence[str]) -> None:
    wanted = list(dict.fromkeys(keys))
    known = set(conn.scalars(sa.select(roles.c.key).where(roles.c.key.in_(wanted))))
    unknown = [k for k in wanted if k not in known]
    if unknown:
        raise _invalid("roles", "unknown_role", "no such role", unknown)
    conn.execute(user_roles.delete().where(user_roles.c.user_id == user_id))
    if wanted:
        conn.execute(user_roles.insert(), [{"user_id": user_id, "role_key": k} for k in wanted])


def user_role_keys(conn: Connection, user_id: int) -> frozenset[str]:
    return frozenset(
        conn.scalars(sa.select(user_roles.c.role_key).where(user_roles.c.user_id == user_id))
    )


def _exists(conn: Connection, column: sa.Column[Any], value: Any) -> bool:
    return conn.execute(sa.select(column).where(column == value)).first() is not None
