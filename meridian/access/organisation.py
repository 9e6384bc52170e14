"""Departments (a tree), roles, and which users belong to which.

A user has one main department and may belong to others; a department may have a manager.
Roles are keys with labels; five presets exist from the first migration and cannot be removed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.clock import utcnow
from meridian.core.i18n import N_, Text
from meridian.db import revisions
from meridian.db.locks import serialize
from meridian.db.tables import (
    departments,
    record_shares,
    role_forms,
    roles,
    user_departments,
    user_roles,
    users,
)
from meridian.errors import Conflict, ErrorCollector, FieldError, NotFound, ValidationFailed

PRESET_ROLES = ("administrator", "builder", "manager", "member", "read_only")
_PRESET_NAMES = {
    "administrator": ("管理员 Administrator", N_("Administrator")),
    "builder": ("搭建者 Builder", N_("Builder")),
    "manager": ("经理 Manager", N_("Manager")),
    "member": ("成员 Member", N_("Member")),
    "read_only": ("只读 Read-only", N_("Read-only")),
}
"""Preset role → (the label it shipped with, in both languages; its name in the catalog)."""
ORGANISATION = "organisation"
"""The lock every change to the department tree, to who belongs where, to roles and their
assignments takes (see :func:`serialize`): a move must not race another move into a cycle, nor
a removal a new member or role holder. One lock for all of it, so none can wait on another."""
_ROLE_KEY = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_NAME_RULE = Text('give a name of 1 to 200 characters without "/"')
_HELD_ZH = {
    "sub-departments": "个下级部门",
    "members": "名成员",
    "shared records": "条共享给它的记录",
}


def _invalid(field: str, code: str, message: str, value: Any) -> ValidationFailed:
    return ValidationFailed([FieldError(field, code, message, value)])


# ---- departments ---------------------------------------------------------------------------


def create_department(
    *, conn: Connection, name: str, parent_id: int | None = None, manager_id: int | None = None
) -> int:
    """A department under ``parent_id`` (a root when None); names are unique among siblings."""
    serialize(conn, ORGANISATION)
    name = (name or "").strip()
    if not name or len(name) > 200 or "/" in name:
        raise _invalid("name", "invalid_name", _NAME_RULE, name)
    if parent_id is not None and not _exists(conn, departments.c.id, parent_id):
        raise _invalid("parent", "unknown_department", f"no department {parent_id}", parent_id)
    if manager_id is not None and not _exists(conn, users.c.id, manager_id):
        raise _invalid("manager", "unknown_user", f"no user {manager_id}", manager_id)
    _require_unique_name(conn, name, parent_id, None)
    result = conn.execute(
        departments.insert().values(
            name=name, parent_id=parent_id, manager_id=manager_id, created_at=utcnow(conn)
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


DEPARTMENT_CHANGES = ("name", "parent_id", "manager_id")


def describe_department(conn: Connection, department_id: int) -> dict[str, Any]:
    row = conn.execute(sa.select(departments).where(departments.c.id == department_id)).first()
    if row is None:
        raise NotFound(
            Text("department {department_id} does not exist", department_id=department_id),
            id=department_id,
        )
    return {
        "id": row.id,
        "name": row.name,
        "parent_id": row.parent_id,
        "manager_id": row.manager_id,
    }


def update_department(
    conn: Connection, department_id: int, changes: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Rename a department, move it under another (or to the top) or change its manager;
    every problem is named at once and then nothing changes. Returns before and after.

    A department cannot move under itself or anything below it, and names stay unique among
    siblings. Members keep their department; what its managers see follows the tree at once.
    """
    serialize(conn, ORGANISATION)
    before = describe_department(conn, department_id)
    if not isinstance(changes, Mapping):
        raise _invalid("body", "invalid_changes", "expected a JSON object", changes)
    errors = ErrorCollector()
    for key in changes:
        if key not in DEPARTMENT_CHANGES:
            message = Text("choose among {value}", value=", ".join(DEPARTMENT_CHANGES))
            errors.add(key, "unknown_field", message, changes[key])
    after = dict(before)
    if "name" in changes:
        name = changes["name"]
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= 200 or "/" in name:
            errors.add("name", "invalid_name", _NAME_RULE, name)
        else:
            after["name"] = name.strip()
    if "parent_id" in changes:
        parent = changes["parent_id"]
        if parent is not None and (isinstance(parent, bool) or not isinstance(parent, int)):
            errors.add("parent_id", "invalid_department", Text("a department id or null"), parent)
        elif parent is not None and not _exists(conn, departments.c.id, parent):
            errors.add(
                "parent_id",
                "unknown_department",
                Text("no department {parent}", parent=parent),
                parent,
            )
        elif parent is not None and parent in subtree(conn, [department_id]):
            message = Text("a department cannot move under itself or a department below it")
            errors.add("parent_id", "cycle", message, parent)
        else:
            after["parent_id"] = parent
    if "manager_id" in changes:
        manager = changes["manager_id"]
        if manager is not None and (
            isinstance(manager, bool)
            or not isinstance(manager, int)
            or not _exists(conn, users.c.id, manager)
        ):
            message = Text("an existing user id or null")
            errors.add("manager_id", "unknown_user", message, manager)
        else:
            after["manager_id"] = manager
    errors.raise_if_any()
    if after == before:
        return before, after
    if (after["name"], after["parent_id"]) != (before["name"], before["parent_id"]):
        _require_unique_name(conn, after["name"], after["parent_id"], department_id)
    conn.execute(
        departments.update()
        .where(departments.c.id == department_id)
        .values(name=after["name"], parent_id=after["parent_id"], manager_id=after["manager_id"])
    )
    return before, after


def delete_department(conn: Connection, department_id: int) -> dict[str, Any]:
    """Remove an empty department: one with sub-departments, members or records shared with
    it is refused with what is still there, so nobody silently loses what it gave them."""
    serialize(conn, ORGANISATION)
    before = describe_department(conn, department_id)
    held = {
        "sub-departments": _count(departments, departments.c.parent_id == department_id),
        "members": _count(users, users.c.department_id == department_id)
        + _count(user_departments, user_departments.c.department_id == department_id),
        "shared records": _count(record_shares, record_shares.c.department_id == department_id),
    }
    counts = dict(zip(held, conn.execute(sa.select(*held.values())).one(), strict=True))
    if any(counts.values()):
        still = ", ".join(f"{count} {what}" for what, count in counts.items() if count)
        zh = "、".join(f"{count} {_HELD_ZH[what]}" for what, count in counts.items() if count)
        raise Conflict(
            Text(
                "department {name!r} still has {still}; move or remove them first",
                name=before["name"],
                still=still,
                still_zh=zh,
            ),
            id=department_id,
            **{what.replace(" ", "_"): count for what, count in counts.items()},
        )
    conn.execute(departments.delete().where(departments.c.id == department_id))
    return before


def _count(table: sa.Table, condition: sa.ColumnElement[bool]) -> sa.ScalarSelect[int]:
    return sa.select(sa.func.count()).select_from(table).where(condition).scalar_subquery()


def _require_unique_name(
    conn: Connection, name: str, parent_id: int | None, department_id: int | None
) -> None:
    sibling = sa.select(departments.c.id).where(
        departments.c.name == name,
        departments.c.parent_id.is_(None)
        if parent_id is None
        else departments.c.parent_id == parent_id,
    )
    if department_id is not None:
        sibling = sibling.where(departments.c.id != department_id)
    if conn.execute(sibling).first() is not None:
        raise Conflict(
            Text("a department named {name!r} already exists there", name=name),
            name=name,
        )


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
    serialize(conn, ORGANISATION)
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
    label = _checked_label(label)
    if role_exists(conn, key):
        raise Conflict(Text("role {key!r} already exists", key=key), key=key)
    conn.execute(roles.insert().values(key=key, label=label, preset=False, created_at=utcnow(conn)))


def _checked_label(label: Any) -> str:
    text = label.strip() if isinstance(label, str) else ""
    if not text or len(text) > 200:
        message = Text("give a label of 1 to 200 characters")
        raise _invalid("label", "invalid_label", message, label)
    return text


def describe_role(conn: Connection, key: str) -> dict[str, Any]:
    row = conn.execute(sa.select(roles).where(roles.c.key == key)).first()
    if row is None:
        raise NotFound(Text("no role {key!r}", key=key), role=key)
    return {"key": row.key, "label": row.label, "preset": row.preset}


def rename_role(*, conn: Connection, key: str, label: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Give a role (presets too) another label; its key, which scripts use, stays."""
    before = describe_role(conn, key)
    label = _checked_label(label)
    conn.execute(roles.update().where(roles.c.key == key).values(label=label))
    return before, {**before, "label": label}


def delete_role(*, conn: Connection, key: str) -> dict[str, Any]:
    """Remove a role that nobody holds, with its permissions; presets stay."""
    serialize(conn, ORGANISATION)
    before = describe_role(conn, key)
    if before["preset"]:
        raise Conflict(
            Text("the preset role {label!r} cannot be removed", key=key, label=before["label"]),
            role=key,
        )
    holders = conn.scalar(
        sa.select(sa.func.count()).select_from(user_roles).where(user_roles.c.role_key == key)
    )
    if holders:
        raise Conflict(
            Text(
                "role {label!r} is held by {holders} users; take it from them first",
                key=key,
                holders=holders,
                label=before["label"],
            ),
            role=key,
            users=holders,
        )
    revisions.bump(conn, revisions.ACCESS)
    conn.execute(role_forms.delete().where(role_forms.c.role_key == key))
    conn.execute(roles.delete().where(roles.c.key == key))
    return before


def role_exists(conn: Connection, key: str) -> bool:
    return _exists(conn, roles.c.key, key)


def require_role(conn: Connection, key: str) -> None:
    if not role_exists(conn, key):
        raise NotFound(Text("no role {key!r}", key=key), role=key)


def list_roles(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(sa.select(roles).order_by(roles.c.preset.desc(), roles.c.key))
    return [{"key": r.key, "label": r.label, "preset": r.preset} for r in rows]


def role_name(role: Mapping[str, Any]) -> str:
    """What a page calls a role: a preset that still has the label it shipped with
    ("管理员 Administrator") by its name in the reader's language; any other by its label."""
    shipped = _PRESET_NAMES.get(role["key"])
    if role["preset"] and shipped is not None and role["label"] == shipped[0]:
        return Text(shipped[1])
    return str(role["label"])


def named_roles(conn: Connection) -> list[dict[str, Any]]:
    """:func:`list_roles`, each with its ``name`` for pages (:func:`role_name`)."""
    return [{**role, "name": role_name(role)} for role in list_roles(conn)]


def set_user_roles(conn: Connection, user_id: int, keys: Sequence[str]) -> None:
    serialize(conn, ORGANISATION)
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


# ---- who is above whom ---------------------------------------------------------------------


def department_head_above(conn: Connection, user_id: int, levels: int = 1) -> int | None:
    """The head (负责人) ``levels`` up from the user's main department: 1 is the head of their
    own department, 2 the next head above that one, and so on. A department without a head
    is passed over, and so is the user themself (the head of a department reports to the head
    above it). None when the tree ends first."""
    start = sa.select(users.c.department_id).where(users.c.id == user_id).scalar_subquery()
    chain = (
        sa.select(
            departments.c.id,
            departments.c.parent_id,
            departments.c.manager_id,
            sa.literal(0).label("depth"),
        )
        .where(departments.c.id == start)
        .cte("chain", recursive=True)
    )
    chain = chain.union_all(
        sa.select(
            departments.c.id,
            departments.c.parent_id,
            departments.c.manager_id,
            (chain.c.depth + 1).label("depth"),
        ).where(departments.c.id == chain.c.parent_id, chain.c.depth < 64)
    )
    heads = conn.scalars(
        sa.select(chain.c.manager_id)
        .where(chain.c.manager_id.is_not(None), chain.c.manager_id != user_id)
        .order_by(chain.c.depth)
    ).all()
    distinct = [head for i, head in enumerate(heads) if i == 0 or heads[i - 1] != head]
    return distinct[levels - 1] if 0 < levels <= len(distinct) else None


def reports_to(conn: Connection, user_id: int) -> int | None:
    """The user's reports-to manager, as set on the user."""
    return conn.scalar(sa.select(users.c.manager_id).where(users.c.id == user_id))


def active_members(
    conn: Connection, *, department_id: int | None = None, role: str | None = None
) -> list[int]:
    """Active users of a department (its main members and those who also belong to it) or of
    a role, by id: the people an assignment strategy chooses among."""
    query = sa.select(users.c.id).where(users.c.is_active.is_(True)).order_by(users.c.id)
    if department_id is not None:
        others = sa.select(user_departments.c.user_id).where(
            user_departments.c.department_id == department_id
        )
        query = query.where(sa.or_(users.c.department_id == department_id, users.c.id.in_(others)))
    if role is not None:
        holders = sa.select(user_roles.c.user_id).where(user_roles.c.role_key == role)
        query = query.where(users.c.id.in_(holders))
    return list(conn.scalars(query))
