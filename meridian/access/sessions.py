"""Password login, server-side sessions, password changes.

A session is a random token in an HttpOnly cookie; the server keeps its SHA-256 with an idle
and an absolute expiry. Failed logins lock the account and slow the client address down
(:mod:`meridian.access.throttle`).

A refused login still has to leave its failure count and audit entry behind, so
:func:`attempt_login` returns the refusal instead of raising it: the caller commits, then raises.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access import throttle
from meridian.access.actors import USER_COLUMNS, actor_of
from meridian.access.passwords import Passwords
from meridian.core import clock
from meridian.core.actor import Actor
from meridian.core.i18n import Text
from meridian.db.tables import sessions, users
from meridian.errors import (
    FieldError,
    MeridianError,
    PermissionDenied,
    Unauthenticated,
    ValidationFailed,
)
from meridian.events.audit import audit

SESSION_PREFIX = "mss_"
_SEEN_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class SessionPolicy:
    """Lifetimes and lockout; built from the workspace settings."""

    idle_minutes: int = 8 * 60
    absolute_hours: int = 7 * 24
    max_failures: int = 20
    lock_minutes: int = 15
    address_max_delay_seconds: int = 60

    @property
    def throttle(self) -> throttle.ThrottlePolicy:
        return throttle.ThrottlePolicy(
            max_failures=self.max_failures,
            lock_minutes=self.lock_minutes,
            address_max_delay_seconds=self.address_max_delay_seconds,
        )


@dataclass(frozen=True)
class IssuedSession:
    token: str
    user_id: int
    must_change_password: bool
    expires_at: datetime

    @property
    def csrf_token(self) -> str:
        return csrf_token_for(self.token)


class LoginLocked(MeridianError):
    code = "login_locked"
    status = 429
    title = "Too many failed logins"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token_for(session_token: str) -> str:
    """The token a cookie-authenticated request must echo in ``X-CSRF-Token``: derived from
    the session, so a page of another site, which cannot read the cookie, cannot know it."""
    return hashlib.sha256(f"csrf:{session_token}".encode()).hexdigest()[:40]


def attempt_login(
    conn: Connection,
    *,
    email: str,
    password: str,
    ip: str,
    user_agent: str,
    policy: SessionPolicy,
    passwords: Passwords,
) -> IssuedSession | MeridianError:
    """A new session, or the error to raise once the failure is committed."""
    email = (email or "").strip().lower()
    address = ip or "unknown"
    now = clock.utcnow(conn)
    refused = throttle.refusal(conn, address=address, account=email, now=now)
    if refused is not None:
        audit(
            conn,
            actor_id=None,
            action="login_locked",
            object_type="user",
            object_id=email,
            detail={"by": refused.scope},
            ip=ip,
        )
        return LoginLocked(
            Text("too many failed logins; try again later"),
            retry_after=max(1, math.ceil((refused.until - now).total_seconds())),
        )
    user = conn.execute(
        sa.select(
            users.c.id, users.c.password_hash, users.c.is_active, users.c.must_change_password
        ).where(users.c.email == email)
    ).first()
    if user is not None and user.password_hash:
        valid = passwords.verify(password or "", user.password_hash)
    else:  # unknown accounts cost as much as known ones
        passwords.verify_for_nobody(password or "")
        valid = False
    if user is None or not user.is_active or not user.password_hash or not valid:
        throttle.count_failure(
            conn, address=address, account=email, now=now, policy=policy.throttle
        )
        audit(
            conn,
            actor_id=user.id if user else None,
            action="login_failed",
            object_type="user",
            object_id=email,
            ip=ip,
        )
        return Unauthenticated(Text("the email or password is wrong"))
    throttle.clear_success(conn, address=address, account=email)
    token = SESSION_PREFIX + secrets.token_urlsafe(32)
    expires = now + timedelta(hours=policy.absolute_hours)
    conn.execute(
        sessions.insert().values(
            token_hash=_digest(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=expires,
            ip=ip[:64],
            user_agent=(user_agent or "")[:400],
        )
    )
    audit(conn, actor_id=user.id, action="login", object_type="user", object_id=user.id, ip=ip)
    return IssuedSession(token, user.id, bool(user.must_change_password), expires)


@dataclass(frozen=True)
class SessionActor:
    """A live session's user; ``seen_due`` when its last-seen time should be written
    (:func:`touch_session`, in a write transaction of its own, so checking stays a read).

    :ivar access: the ``access`` revision token read in the same statement; revoking or
        deleting a session replaces it, as any change to users, roles or tokens does.
    :ivar kept_until: until when a process may take this check's answer without reading the
        session again: its expiry, idle or absolute, or its use falling due to be written.
    """

    actor: Actor
    session_id: int
    must_change_password: bool
    email: str = ""
    seen_due: bool = False
    access: str | None = None
    kept_until: datetime | None = None


def actor_for_session(conn: Connection, token: str, policy: SessionPolicy) -> SessionActor | None:
    """The session's actor, or None when the token is unknown, revoked or expired.

    Idle expiry slides with use; the last-seen time is due for writing at most once a minute
    (``seen_due``), so checking a session is a read: one statement.
    """
    row = conn.execute(_BY_DIGEST, {"digest": _digest(token)}).first()
    now = clock.utcnow(conn)
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    if now - row.last_seen_at > timedelta(minutes=policy.idle_minutes):
        return None
    try:
        actor = actor_of(conn, row)
    except Unauthenticated:
        return None
    due = now - row.last_seen_at > _SEEN_RESOLUTION
    kept_until = min(
        row.expires_at,
        row.last_seen_at + timedelta(minutes=policy.idle_minutes),
        row.last_seen_at + _SEEN_RESOLUTION,
    )
    return SessionActor(
        actor,
        row.id,
        bool(row.must_change_password),
        row.email,
        due,
        access=row.access_token,
        kept_until=kept_until,
    )


def touch_session(conn: Connection, session_id: int) -> None:
    """Record the session's use now (its idle expiry slides)."""
    now = clock.utcnow(conn)
    conn.execute(sessions.update().where(sessions.c.id == session_id).values(last_seen_at=now))


_BY_DIGEST = (
    sa.select(
        sessions.c.id,
        sessions.c.revoked_at,
        sessions.c.expires_at,
        sessions.c.last_seen_at,
        users.c.must_change_password,
        users.c.email,
        *USER_COLUMNS,
    )
    .join(users, users.c.id == sessions.c.user_id)
    .where(sessions.c.token_hash == sa.bindparam("digest"))
)
"""The session, its user and the access revision in one statement, built once."""


def logout(conn: Connection, token: str, *, ip: str = "") -> None:
    row = conn.execute(
        sessions.update()
        .where(sessions.c.token_hash == _digest(token), sessions.c.revoked_at.is_(None))
        .values(revoked_at=clock.utcnow(conn))
        .returning(sessions.c.user_id)
    ).first()
    if row is not None:
        audit(
            conn,
            actor_id=row.user_id,
            action="logout",
            object_type="user",
            object_id=row.user_id,
            ip=ip,
        )


def logout_everywhere(
    conn: Connection, user_id: int, policy: SessionPolicy, *, ip: str = ""
) -> int:
    """Revoke every session of the user; returns how many were still live."""
    now = clock.utcnow(conn)
    open_sessions = sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None)
    live = conn.scalar(
        sa.select(sa.func.count())
        .select_from(sessions)
        .where(
            *open_sessions,
            sessions.c.expires_at > now,
            sessions.c.last_seen_at > now - timedelta(minutes=policy.idle_minutes),
        )
    )
    conn.execute(sessions.update().where(*open_sessions).values(revoked_at=now))
    audit(
        conn,
        actor_id=user_id,
        action="logout_everywhere",
        object_type="user",
        object_id=user_id,
        detail={"sessions": live},
        ip=ip,
    )
    return int(live or 0)


_LETTER = re.compile(r"[A-Za-z]")
_DIGIT = re.compile(r"[0-9]")
MIN_LENGTH = 8


def password_problems(password: str, email: str = "") -> list[Text]:
    """Why ``password`` is not good enough, in words a user can act on; empty when it is."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(Text("use at least {count} characters", count=MIN_LENGTH))
    if not (_LETTER.search(password) and _DIGIT.search(password)):
        problems.append(Text("mix letters and digits"))
    if email and email.split("@")[0].lower() in password.lower():
        problems.append(Text("do not include your email name"))
    return problems


def change_password(
    conn: Connection,
    *,
    user_id: int,
    old: str,
    new: str,
    passwords: Passwords,
    keep_session: int | None = None,
) -> None:
    """Set a new password after checking the old one; every other session is signed out."""
    row = conn.execute(
        sa.select(users.c.email, users.c.password_hash).where(users.c.id == user_id)
    ).one()
    if not row.password_hash or not passwords.verify(old or "", row.password_hash):
        raise PermissionDenied(Text("the current password is wrong"))
    problems = password_problems(new or "", row.email)
    if problems:
        raise ValidationFailed(
            [FieldError("new_password", "weak_password", problem, None) for problem in problems]
        )
    conn.execute(
        users.update()
        .where(users.c.id == user_id)
        .values(password_hash=passwords.hash(new), must_change_password=False)
    )
    others = sessions.update().where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
    if keep_session is not None:
        others = others.where(sessions.c.id != keep_session)
    conn.execute(others.values(revoked_at=clock.utcnow(conn)))
    audit(conn, actor_id=user_id, action="password_changed", object_type="user", object_id=user_id)
