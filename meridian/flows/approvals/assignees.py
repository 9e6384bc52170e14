"""Who approves: an approver node's specifications resolved to users, in one place.

- ``{"type": "user", "ids": [...]}``: those users;
- ``{"type": "role", "role": key}``: every active holder of the role;
- ``{"type": "manager", "levels": n}``: the submitter's manager, n levels up the
  manager chain (``sys_user.manager_id``);
- ``{"type": "department_head", "levels": n}``: the head of the submitter's main department
  (n = 1), of its parent (n = 2) …;
- ``{"type": "field", "field": key}``: the user in a user field of the record (or its owner);
- ``{"type": "record_department_head", "levels": n}``: the head of the record's department —
  its owner's main department — or n - 1 departments above it.

Inactive users are left out; a user named twice approves once. While a user is away their
delegate (``sys_approval_delegation``) gets the task instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.db.tables import approval_delegations, departments, user_roles, users


def resolve(
    conn: Connection,
    specs: Sequence[Mapping[str, Any]],
    *,
    submitter_id: int | None,
    record: Mapping[str, Any],
) -> list[int]:
    """The active users ``specs`` name, in the order named, each once."""
    found: list[int] = []
    for spec in specs:
        found.extend(_one(conn, spec, submitter_id, record))
    wanted = list(dict.fromkeys(found))
    if not wanted:
        return []
    active = set(
        conn.scalars(sa.select(users.c.id).where(users.c.id.in_(wanted), users.c.is_active))
    )
    return [user for user in wanted if user in active]


def _one(
    conn: Connection, spec: Mapping[str, Any], submitter_id: int | None, record: Mapping[str, Any]
) -> list[int]:
    kind = spec["type"]
    levels = int(spec.get("levels", 1))
    if kind == "user":
        return [int(i) for i in spec["ids"]]
    if kind == "role":
        return list(
            conn.scalars(
                sa.select(user_roles.c.user_id)
                .where(user_roles.c.role_key == spec["role"])
                .order_by(user_roles.c.user_id)
            )
        )
    if kind == "manager":
        person = submitter_id
        for _ in range(levels):
            if person is None:
                return []
            person = conn.scalar(sa.select(users.c.manager_id).where(users.c.id == person))
        return [person] if person is not None else []
    if kind == "field":
        value = record.get(spec["field"])
        return [int(value)] if isinstance(value, int) else []
    if kind == "department_head":
        start = _main_department(conn, submitter_id)
    else:
        start = _main_department(conn, record.get("owner_id"))
    return _head(conn, start, levels)


def _main_department(conn: Connection, user_id: Any) -> int | None:
    if not isinstance(user_id, int):
        return None
    found: int | None = conn.scalar(sa.select(users.c.department_id).where(users.c.id == user_id))
    return found


def _head(conn: Connection, department_id: int | None, levels: int) -> list[int]:
    """The manager of the department ``levels - 1`` steps above ``department_id``."""
    for step in range(levels):
        if department_id is None:
            return []
        row = conn.execute(
            sa.select(departments.c.parent_id, departments.c.manager_id).where(
                departments.c.id == department_id
            )
        ).first()
        if row is None:
            return []
        if step == levels - 1:
            return [row.manager_id] if row.manager_id is not None else []
        department_id = row.parent_id
    return []


def delegates(conn: Connection, user_ids: Sequence[int], now: datetime) -> dict[int, int]:
    """``{user: delegate}`` for those of ``user_ids`` away at ``now``."""
    if not user_ids:
        return {}
    rows = conn.execute(
        sa.select(approval_delegations.c.user_id, approval_delegations.c.delegate_id).where(
            approval_delegations.c.user_id.in_(sorted(set(user_ids))),
            approval_delegations.c.starts_at <= now,
            approval_delegations.c.ends_at > now,
        )
    )
    return {row.user_id: row.delegate_id for row in rows}
