"""FastAPI dependencies shared by the web and API routers: the workspace and the actor."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, Request, Response
from sqlalchemy.engine import Connection, Engine
from starlette.concurrency import run_in_threadpool

from meridian.access.passwords import Passwords
from meridian.access.sessions import (
    SessionActor,
    SessionPolicy,
    actor_for_session,
    csrf_token_for,
    touch_session,
)
from meridian.access.tokens import check_token, touch_token
from meridian.core.actor import Actor
from meridian.core.clock import SYSTEM_CLOCK, Clock
from meridian.core.i18n import Text
from meridian.db.engine import transaction
from meridian.errors import PermissionDenied, Unauthenticated
from meridian.events.audit import audit
from meridian.http.credentials import (
    checked,
    provisional,
    provisional_session,
    remember,
    remember_session,
)
from meridian.http.kept_read import credential_read, release_kept, request_read
from meridian.http.problems import request_locale
from meridian.plugins.manager import Plugins
from meridian.settings import Settings


@dataclass(frozen=True)
class Workspace:
    """What every request needs: settings, the engine, the workspace time zone, the password
    hasher at the cost the settings chose, and the plugins.

    :ivar plugins: the registry built from Meridian's own plugins and the installed ones; the
        engine carries it too, for services that hold only a connection.
    :ivar clock: the time every part of the workspace reads (the engine carries it too).
    """

    settings: Settings
    engine: Engine
    tz: ZoneInfo
    passwords: Passwords
    plugins: Plugins
    clock: Clock = SYSTEM_CLOCK

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction; committed before the response is written. A read the request kept
        open is closed first (``http.kept_read``)."""
        release_kept()
        with checked(self.engine, transaction) as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction: a consistent snapshot that never blocks writers; the first
        read of a request that only reads is the one its credential was checked in
        (``http.kept_read``)."""
        with checked(self.engine, request_read) as conn:
            yield conn


async def get_workspace(request: Request) -> Workspace:
    """The app's workspace. ``async`` though it waits for nothing: FastAPI runs a plain ``def``
    dependency in the thread pool, and a hop there and back costs more than this does."""
    workspace: Workspace = request.app.state.workspace
    return workspace


WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]


SESSION_COOKIE = "meridian_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_PASSWORD_PATHS = ("/api/v1/auth/",)


def session_policy(settings: Settings) -> SessionPolicy:
    return SessionPolicy(
        idle_minutes=settings.session_idle_minutes,
        absolute_hours=settings.session_absolute_hours,
        max_failures=settings.login_max_failures,
        lock_minutes=settings.login_lock_minutes,
        address_max_delay_seconds=settings.login_address_max_delay_seconds,
    )


def set_session_cookie(
    response: Response, request: Request, token: str, settings: Settings
) -> None:
    """HttpOnly and SameSite=Lax; Secure whenever the request came over https."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        max_age=settings.session_absolute_hours * 3600,
        path="/",
    )


def client_ip(request: Request) -> str:
    """The address logins are throttled and audited by.

    ``X-Forwarded-For`` is believed only when the connection comes from a proxy named in
    ``MERIDIAN_TRUSTED_PROXIES``: the header is read right to left, past every trusted proxy,
    and the first address not trusted is the client. Anyone else's header is ignored, so a
    client cannot pick a fresh address for each guess (issue 13).
    """
    peer = request.client.host if request.client else ""
    trusted = request.app.state.workspace.settings.trusted_proxy_networks
    if not trusted or not _within(peer, trusted):
        return peer
    hops = [
        hop.strip()
        for header in request.headers.getlist("x-forwarded-for")
        for hop in header.split(",")
    ]
    for hop in reversed(hops):
        if not _within(hop, trusted):
            return hop[:64] if _parses(hop) else peer
    return peer


def _parses(address: str) -> bool:
    try:
        ip_address(address)
    except ValueError:
        return False
    return True


def _within(address: str, networks: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    try:
        parsed = ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in networks)


def live_session(
    conn: Connection, request: Request, settings: Settings
) -> tuple[str, SessionActor] | None:
    """The session the request's cookie names and its user, renewed by this use; None when
    there is no cookie or the session is over. Pages and the API both ask here."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    found = actor_for_session(conn, cookie, session_policy(settings))
    return (cookie, found) if found is not None else None


def session_of(workspace: Workspace, request: Request) -> tuple[str, SessionActor] | None:
    """:func:`live_session` in a read transaction (kept for the request's first read when the
    request only reads); the session's use is written in a short write transaction of its own
    when due (once a minute at most). What it found is kept in this process until then
    (``http.credentials``)."""
    with credential_read(workspace.engine) as conn:
        session = live_session(conn, request, workspace.settings)
    if session is None:
        return None
    if session[1].seen_due:
        with workspace.transaction() as conn:
            touch_session(conn, session[1].session_id)
    else:
        remember_session(workspace.engine, *session)
    return session


def kept_session(workspace: Workspace, request: Request) -> tuple[str, SessionActor] | None:
    """The request's session as this process last found it, to be checked in the request's
    own transaction (``http.credentials``); None when there is none to take so, and the
    caller reads it with :func:`session_of`."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    found = provisional_session(workspace.engine, cookie, session_policy(workspace.settings))
    return (cookie, found) if found is not None else None


def csrf_holds(request: Request, cookie: str, sent: str) -> bool:
    """Whether a cookie-authenticated request may go on: reading needs no token; a change must
    echo the session's CSRF token (``sent``: from the header, or a page's form field)."""
    return request.method in SAFE_METHODS or hmac.compare_digest(sent, csrf_token_for(cookie))


async def get_actor(request: Request, workspace: WorkspaceDep) -> Actor:
    """The caller, from ``Authorization: Bearer <token>`` or the session cookie.

    A cookie-authenticated request that changes something must echo the session's CSRF token
    in ``X-CSRF-Token``; a user who must change an initial password may do nothing else first.
    An API route settles this before it reads the body (``http.routing``), and the answer is
    kept on the request, so it is worked out once: the database is asked in the thread pool
    (it may wait), and a caller already known costs no trip there.
    """
    known = getattr(request.state, "actor", None)
    if isinstance(known, Actor):
        return known
    bearer = _bearer(request)
    kept = provisional(workspace.engine, bearer)
    if kept is None and not bearer:
        session = kept_session(workspace, request)
        kept = _session_actor(request, *session) if session is not None else None
    if kept is not None:  # checked in the request's own transaction (http.credentials)
        request.state.actor = kept
        request.state.locale = kept.locale
        return kept
    return await run_in_threadpool(_settle_actor, request, workspace)


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _settle_actor(request: Request, workspace: Workspace) -> Actor:
    actor = _authenticate(request, workspace)
    request.state.actor = actor
    request.state.locale = actor.locale
    return actor


def _authenticate(request: Request, workspace: Workspace) -> Actor:
    token = _bearer(request)
    if token:
        with credential_read(workspace.engine) as conn:
            credential = check_token(conn, token)
        if credential.stale:
            with workspace.transaction() as conn:
                touch_token(conn, credential.token_id)
                audit(
                    conn,
                    actor_id=credential.actor.user_id,
                    action="token_used",
                    object_type="token",
                    object_id=credential.token_id,
                    ip=client_ip(request),
                )
        remember(workspace.engine, token, credential)
        return credential.actor
    if not request.cookies.get(SESSION_COOKIE):
        raise Unauthenticated(
            Text("log in, or send an API token as 'Authorization: Bearer <token>'")
        )
    session = session_of(workspace, request)
    if session is None:
        raise Unauthenticated(Text("the session has expired; log in again"))
    return _session_actor(request, *session)


def _session_actor(request: Request, cookie: str, found: SessionActor) -> Actor:
    """A live session's caller, if the request may go on: a change must echo the session's
    CSRF token, and a user with an initial password may only change it."""
    if not csrf_holds(request, cookie, request.headers.get(CSRF_HEADER, "")):
        raise PermissionDenied(
            Text("send the session's CSRF token in {header}", header=CSRF_HEADER)
        )
    if found.must_change_password and not request.url.path.startswith(_PASSWORD_PATHS):
        raise PermissionDenied(
            Text("change your initial password first"),
            reason="password_change_required",
        )
    request.state.session_id = found.session_id
    return found.actor


ActorDep = Annotated[Actor, Depends(get_actor)]


async def reader_locale(request: Request, actor: ActorDep) -> str:
    """The caller's language for what a route returns (kept messages said in their words):
    their setting, else ``Accept-Language``, else English, as problem details are."""
    return request_locale(request)


LocaleDep = Annotated[str, Depends(reader_locale)]
