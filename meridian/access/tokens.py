"""API tokens: random, shown once, stored as a SHA-256 hash, expiring and revocable."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access.actors import USER_COLUMNS, actor_of
from meridian.core.actor import Actor, TokenScope
from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.db.tables import api_tokens, users
from meridian.errors import FieldError, Unauthenticated, ValidationFailed
from meridian.events.audit import audit

TOKEN_PREFIX = "mer_"
LAST_USED_RESOLUTION = timedelta(minutes=5)


def token_digest(token: str) -> str:
    # A token has 256 bits of entropy, so a fast hash is enough (unlike passwords).
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    *,
    conn: Connection,
    user_id: int,
    name: str,
    expires_at: datetime | None = None,
    scope: str = "write",
    app_key: str | None = None,
    form_key: str | None = None,
) -> str:
    """Create a token and return it; this is the only time the plain token exists.

    ``scope`` "read" makes a token that can only read; ``app_key`` or ``form_key`` limits it to
    one app or form. A token never grants more than its user has.
    """
    if scope not in ("read", "write"):
        raise ValidationFailed([FieldError("scope", "invalid_scope", Text("read or write"), scope)])
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    created = conn.execute(
        api_tokens.insert().values(
            user_id=user_id,
            name=name,
            token_hash=token_digest(token),
            prefix=token[:12],
            scope=scope,
            app_key=app_key,
            form_key=form_key,
            expires_at=expires_at,
            created_at=utcnow(conn),
        )
    )
    audit(
        conn,
        actor_id=user_id,
        action="token_created",
        object_type="token",
        object_id=int(created.inserted_primary_key[0]),  # type: ignore[index]
        detail={"name": name, "scope": scope, "app": app_key, "form": form_key},
    )
    return token


@dataclass(frozen=True)
class Credential:
    """What a bearer token's check found: who it stands for, and what lets a process keep that.

    :ivar access: the ``access`` revision token read in the same statement; while the database
        still shows it, no user, role, department, permission or API token has changed.
    :ivar last_used_at: when the token's use was last recorded.
    :ivar stale: the token's last use should be recorded now (:func:`touch_token`).
    """

    actor: Actor
    token_id: int
    access: str | None
    expires_at: datetime | None
    last_used_at: datetime | None
    stale: bool


def check_token(conn: Connection, token: str) -> Credential:
    """The credential a bearer token is, or ``Unauthenticated``; one statement (two more when
    the user's roles and departments are not kept in this process)."""
    row = conn.execute(_BY_DIGEST, {"digest": token_digest(token)}).first()
    now = utcnow(conn)
    if row is None or row.revoked_at is not None or not row.is_active:
        raise Unauthenticated(Text("the API token is unknown or revoked"))
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthenticated(Text("the API token has expired"))
    # Last use is recorded coarsely: a write per request would serialise readers on SQLite.
    stale = row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION
    scope = None
    if row.scope != "write" or row.app_key is not None or row.form_key is not None:
        scope = TokenScope(write=row.scope == "write", app_key=row.app_key, form_key=row.form_key)
    return Credential(
        actor=actor_of(conn, row, scope),
        token_id=row.id,
        access=row.access_token,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        stale=stale,
    )


def authenticate_token(conn: Connection, token: str) -> tuple[Actor, int | None]:
    """The actor a bearer token stands for, or ``Unauthenticated``.

    Also returns the token's id when its last use should be recorded (see ``touch_token``),
    so that checking a token stays a read.
    """
    found = check_token(conn, token)
    return found.actor, found.token_id if found.stale else None


_BY_DIGEST = (
    sa.select(
        api_tokens.c.id,
        api_tokens.c.expires_at,
        api_tokens.c.revoked_at,
        api_tokens.c.last_used_at,
        api_tokens.c.scope,
        api_tokens.c.app_key,
        api_tokens.c.form_key,
        *USER_COLUMNS,
    )
    .join(users, users.c.id == api_tokens.c.user_id)
    .where(api_tokens.c.token_hash == sa.bindparam("digest"))
)
"""The token, its user and the access revision in one statement, built once."""


def touch_token(conn: Connection, token_id: int) -> None:
    conn.execute(
        api_tokens.update().where(api_tokens.c.id == token_id).values(last_used_at=utcnow(conn))
    )


def revoke_token(*, conn: Connection, token_id: int, actor_id: int | None = None) -> None:
    conn.execute(
        api_tokens.update().where(api_tokens.c.id == token_id).values(revoked_at=utcnow(conn))
    )
    audit(conn, actor_id=actor_id, action="token_revoked", object_type="token", object_id=token_id)


def list_tokens(conn: Connection) -> list[dict[str, Any]]:
    """Every token with its owner's email; never the token itself, which is not stored."""
    rows = conn.execute(
        sa.select(api_tokens, users.c.email)
        .join(users, users.c.id == api_tokens.c.user_id)
        .order_by(api_tokens.c.id.desc())
    )
    return [
        {key: value for key, value in row._mapping.items() if key != "token_hash"} for row in rows
    ]
