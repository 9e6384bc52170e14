"""Users: creation and lookup (roles and departments build on these)."""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access.passwords import Passwords
from meridian.core.clock import utcnow
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
        problems.append(FieldError("email", "invalid_email", "not an email address", email))
    if password is not None and len(password) < MIN_PASSWORD:
        problems.append(
            FieldError("password", "too_short", f"use at least {MIN_PASSWORD} characters", None)
        )
    if problems:
        raise ValidationFailed(problems)
    if find_user_id(conn, email) is not None:
        raise Conflict(f"a user with email {email!r} already exists", email=email)
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
        raise NotFound(f"no user with email {email!r}", email=email)
    return user_id
