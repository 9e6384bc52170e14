"""Users: creation and lookup (roles and departments build on these)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access.passwords import Passwords
from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.db.tables import users
from meridian.errors import Conflict, FieldError, NotFound, ValidationFailed

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 8


def create_user(
    *,
    conn: Connection,
    email: str,
    name: str,
    password: str | None,
    passwords: Passwords,
    is_admin: bool = False,
) -> int:
    """Create a user; emails are unique regardless of case."""
    email = email.strip().lower()
    problems = []
    if not _EMAIL.match(email):
        problems.append(FieldError("email", "invalid_email", Text("not an email address"), email))
    if password is not None and len(password) < MIN_PASSWORD:
        problems.append(
            FieldError(
                "password",
                "too_short",
                Text("use at least {limit} characters", limit=MIN_PASSWORD),
                None,
            )
        )
    if problems:
        raise ValidationFailed(problems)
    if find_user_id(conn, email) is not None:
        raise Conflict(Text("a user with email {email!r} already exists", email=email), email=email)
    result = conn.execute(
        users.insert().values(
            email=email,
            name=name or email.split("@")[0],
            password_hash=passwords.hash(password) if password else None,
            is_admin=is_admin,
            created_at=utcnow(conn),
        )
    )
    assert result.inserted_primary_key is not None
    return int(result.inserted_primary_key[0])


def find_user_id(conn: Connection, email: str) -> int | None:
    found = conn.execute(
        sa.select(users.c.id).where(users.c.email == email.strip().lower())
    ).scalar_one_or_none()
    return int(found) if found is not None else None


def get_user_id(conn: Connection, email: str) -> int:
    user_id = find_user_id(conn, email)
    if user_id is None:
        raise NotFound(Text("no user with email {email!r}", email=email), email=email)
    return user_id


def user_names(conn: Connection, ids: Iterable[Any]) -> dict[int, str]:
    """Names of the users a page mentions, in one query."""
    wanted = {i for i in ids if isinstance(i, int)}
    if not wanted:
        return {}
    rows = conn.execute(sa.select(users.c.id, users.c.name).where(users.c.id.in_(wanted)))
    return {row.id: row.name for row in rows}


def active_users(conn: Connection) -> list[dict[str, Any]]:
    """Every active user's id and name, by name: the choices of a user picker."""
    rows = conn.execute(
        sa.select(users.c.id, users.c.name)
        .where(users.c.is_active.is_(True))
        .order_by(users.c.name)
    )
    return [dict(row._mapping) for row in rows]


def user_preferences(conn: Connection, user_id: int | None) -> tuple[str, str | None] | None:
    """A user's email and chosen language (None: none chosen); None when there is no user."""
    row = conn.execute(
        sa.select(users.c.email, users.c.locale).where(users.c.id == user_id)
    ).first()
    return (row.email, row.locale) if row is not None else None


def set_locale(*, conn: Connection, user_id: int | None, locale: str) -> None:
    """Remember the language a user chose for the pages."""
    conn.execute(sa.update(users).where(users.c.id == user_id).values(locale=locale))
