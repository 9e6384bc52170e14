"""The actor a request runs as: the user with its roles and departments.

Knowing who asks must cost one cheap step. A credential (a token, a session) is checked in one
statement that also reads the user's columns and the ``access`` revision token
(:data:`meridian.db.revisions.ACCESS`); the roles and departments — the part that takes more
queries — are kept per process under that token. Database triggers replace the token on any
change to a user, their roles or their departments, so the next request of any process sees
the change; whether the credential is revoked or expired and whether the user is active are
read from their rows by that same statement every time, never from the cache.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access.organisation import user_department_ids, user_role_keys
from meridian.core.actor import Actor, TokenScope
from meridian.core.i18n import Text
from meridian.db.revisions import ACCESS, token_of
from meridian.db.tables import users
from meridian.errors import Unauthenticated

USER_COLUMNS = (
    users.c.id.label("user_id"),
    users.c.name.label("user_name"),
    users.c.is_admin,
    users.c.is_active,
    users.c.locale,
    token_of(ACCESS).label("access_token"),
)
"""What a credential's statement reads besides the credential: join ``users`` to it."""

_known: dict[tuple[str, int], Actor] = {}
"""Actors without a token scope, by (access token, user id)."""
_KEPT = 4096


def load_actor(conn: Connection, user_id: int, token: TokenScope | None = None) -> Actor:
    """The actor for an active user; ``Unauthenticated`` for an unknown or deactivated one."""
    row = conn.execute(sa.select(*USER_COLUMNS).where(users.c.id == user_id)).first()
    if row is None:
        raise Unauthenticated(Text("the user is unknown or deactivated"))
    return actor_of(conn, row, token)


def actor_of(conn: Connection, row: Any, token: TokenScope | None = None) -> Actor:
    """The actor for a row holding :data:`USER_COLUMNS`: from this process's cache while the
    access token is the one the row was read with, else read (roles and departments) and kept."""
    if not row.is_active:
        raise Unauthenticated(Text("the user is unknown or deactivated"))
    access = row.access_token
    actor = _known.get((access, row.user_id)) if access else None
    if actor is None:
        roles = user_role_keys(conn, row.user_id)
        is_admin = bool(row.is_admin) or "administrator" in roles
        actor = Actor(
            user_id=row.user_id,
            is_admin=is_admin,
            name=row.user_name,
            roles=roles,
            department_ids=user_department_ids(conn, row.user_id),
            can_build=is_admin or "builder" in roles,
            locale=row.locale,
        )
        if access:
            if len(_known) >= _KEPT:
                _known.clear()
            _known[access, row.user_id] = actor
    return actor if token is None else replace(actor, token=token)
