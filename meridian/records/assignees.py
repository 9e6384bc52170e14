"""Whom an actor may give records of a form to: the users whose records the actor may update.

Handing a record over moves it into the new owner's hands; an actor whose update scope is
their own records, or their department's, may only hand records to people inside that scope
(themselves, their department, the departments below) — never to someone whose records they
could not touch again. An actor who may update every record (or whose scope is a condition
on the record, not on its owner) may give them to any active user.

The list is searched by name, email and the name's pinyin (``zw`` and ``zhangwei`` find 张伟).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from meridian.access.organisation import subtree
from meridian.access.permissions import FormAccess, form_access
from meridian.core.actor import Actor
from meridian.core.pinyin import search_text
from meridian.db.tables import user_departments, users
from meridian.schema.model import Form

PICKER_LIMIT = 20


def assignable_users(
    *, conn: Connection, actor: Actor, form: Form, search: str = "", limit: int = PICKER_LIMIT
) -> list[dict[str, Any]]:
    """Active users ``actor`` may give records of ``form`` to, matching ``search``; none when
    the actor may not change owners at all."""
    access = form_access(conn, actor, form)
    if not access.may("update") or "owner_id" in access.read_only:
        return []
    query = sa.select(users.c.id, users.c.name, users.c.email).where(users.c.is_active.is_(True))
    within = _within_scope(conn, access)
    if within is not None:
        query = query.where(within)
    rows = conn.execute(query.order_by(users.c.name, users.c.id)).all()
    wanted = search.strip().lower()[:100]
    if wanted:
        # The organisation's people, not records: at most a few thousand names, and pinyin
        # exists only in Python (search_text caches each name's).
        rows = [
            row for row in rows if wanted in search_text(row.name) or wanted in row.email.lower()
        ]
    return [{"id": row.id, "name": row.name, "email": row.email} for row in rows[:limit]]


def may_assign(conn: Connection, access: FormAccess, user_id: int) -> bool:
    """Whether the actor of ``access`` may give records to ``user_id`` (an active user)."""
    within = _within_scope(conn, access)
    if within is None:
        return True
    return conn.scalar(sa.select(users.c.id).where(users.c.id == user_id, within)) is not None


def _within_scope(conn: Connection, access: FormAccess) -> ColumnElement[bool] | None:
    """The users whose records the actor's update scope reaches; None for everyone."""
    scopes = access.scopes.get("update", ())
    if access.every_row("update") or any(isinstance(scope, dict) for scope in scopes):
        return None
    actor = access.actor
    conditions: list[ColumnElement[bool]] = []
    if "own" in scopes and actor.user_id is not None:
        conditions.append(users.c.id == actor.user_id)
    departments = set(actor.department_ids)
    if "subtree" in scopes and departments:
        departments = subtree(conn, departments)
    elif "department" not in scopes:
        departments = set()
    if departments:
        ids = sorted(departments)
        members = sa.select(user_departments.c.user_id).where(
            user_departments.c.department_id.in_(ids)
        )
        conditions.append(sa.or_(users.c.department_id.in_(ids), users.c.id.in_(members)))
    return sa.or_(*conditions) if conditions else sa.false()
