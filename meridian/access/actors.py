"""The actor a request runs as: the user with its roles and departments."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access.organisation import user_department_ids, user_role_keys
from meridian.core.actor import Actor, TokenScope
from meridian.core.i18n import Text
from meridian.db.tables import users
from meridian.errors import Unauthenticated


def load_actor(conn: Connection, user_id: int, token: TokenScope | None = None) -> Actor:
    """The actor for an active user; ``Unauthenticated`` for an unknown or deactivated one."""
    row = conn.execute(
        sa.select(users.c.name, users.c.is_admin, users.c.is_active, users.c.locale).where(
            users.c.id == user_id
        )
    ).first()
    if row is None or not row.is_active:
        raise Unauthenticated(Text("the user is unknown or deactivated"))
    roles = user_role_keys(conn, user_id)
    is_admin = bool(row.is_admin) or "administrator" in roles
    return Actor(
        user_id=user_id,
        is_admin=is_admin,
        name=row.name,
        roles=roles,
        department_ids=user_department_ids(conn, user_id),
        can_build=is_admin or "builder" in roles,
        token=token,
        locale=row.locale,
    )
