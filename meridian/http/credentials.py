"""An API request is one transaction: who a bearer token stands for is kept per process and
checked inside the transaction the request reads or writes in.

A bearer token's check (``access.tokens.check_token``) reads the ``access`` revision token in
the same statement, and database triggers replace that token whenever a user, their roles or
departments, a role's permissions or an API token (revoked, expired, narrowed, deleted) change.
So a process keeps each token's actor under the revision it was read with (:func:`remember`).

An API request with a token kept here starts with that actor unchecked (:func:`provisional`): no
transaction and no trip to the thread pool of its own. The check happens in the first
transaction the request opens, before anything of it is read or written:
``Workspace.transaction`` and ``Workspace.read`` compare the revision token the request's
transaction reads anyway (``db.revisions.snapshot``, one statement for every cache) with
the kept one; any other transaction the request begins on the same engine is checked as it
begins, by one statement of its own (an engine ``begin`` listener). While the revision is the
same nothing about the credential has changed. When it differs the token is checked afresh in
that transaction: a revoked token or a deactivated user is refused there (401, nothing written);
a caller whose roles changed gets :class:`CredentialChanged`, and the route answers the request
again from the start with the caller read afresh (``http.routing.ApiRoute``). A request that
opened no transaction at all is checked before its answer leaves (:func:`check_unchecked`). A
read checked this way has fixed its SQLite snapshot with the check, as a kept read
(``http.kept_read``) has: it is marked ``db.engine.SNAPSHOT_TAKEN`` alike.

A browser session is kept the same way (:func:`remember_session`, :func:`provisional_session`):
revoking or deleting a session replaces the ``access`` token too (migration 0040), and a kept
session is used only until its use falls due to be recorded (once a minute) or it expires, so
its idle expiry still slides. A page or an API call with a session cookie is then one
transaction, as one with a token is; when the revision differs the session is read again in
that transaction, and a session ended or a caller changed is answered again from the start.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from meridian.access.sessions import SessionActor, SessionPolicy, actor_for_session
from meridian.access.tokens import LAST_USED_RESOLUTION, Credential, check_token, token_digest
from meridian.core.actor import Actor
from meridian.core.clock import clock_of
from meridian.core.i18n import Text
from meridian.db.engine import READ_ONLY, SNAPSHOT_TAKEN, read_transaction
from meridian.db.revisions import ACCESS, current_token, token
from meridian.errors import Unauthenticated


class CredentialChanged(Unauthenticated):
    """Who the caller is changed after the request began; it is answered again from the start.
    Reaching a client (it should not), it is a 401 saying so."""

    def __init__(self) -> None:
        super().__init__(Text("your roles or rights changed during the request; send it again"))


@dataclass(frozen=True)
class _Kept:
    actor: Actor
    access: str
    expires_at: datetime | None
    touch_due: datetime
    """When the token's use should be recorded again: the check then runs on its own."""
    session: SessionActor | None = None
    """For a browser session: what its check found."""


_KEPT_LIMIT = 4096
_kept: dict[tuple[int, str], _Kept] = {}
"""By (engine, token digest) — a session's digest marked as one. A kept entry is only ever used
after its revision is compared in the request's own transaction, so an entry of a disposed
engine whose id was reused is refused there (revision tokens are random per database)."""


def _key(engine: Engine, secret: str, session: bool = False) -> tuple[int, str]:
    digest = token_digest(secret)
    return id(engine), f"session:{digest}" if session else digest


def _keep(key: tuple[int, str], kept: _Kept) -> None:
    if len(_kept) >= _KEPT_LIMIT:
        _kept.clear()
    _kept[key] = kept


def remember(engine: Engine, secret: str, found: Credential) -> None:
    """Keep the actor a token was just checked to be (in any transaction)."""
    if found.access is None:
        return
    used = found.last_used_at
    due = (clock_of(engine).now() if found.stale or used is None else used) + LAST_USED_RESOLUTION
    _keep(
        _key(engine, secret),
        _Kept(actor=found.actor, access=found.access, expires_at=found.expires_at, touch_due=due),
    )


def remember_session(engine: Engine, cookie: str, found: SessionActor) -> None:
    """Keep what a session's check just found, until its use is due to be recorded or it
    expires. A user who must change their password first is never kept: each request of theirs
    is judged afresh."""
    if found.access is None or found.kept_until is None or found.must_change_password:
        return
    _keep(
        _key(engine, cookie, session=True),
        _Kept(
            actor=found.actor,
            access=found.access,
            expires_at=None,
            touch_due=found.kept_until,
            session=found,
        ),
    )


def forget(engine: Engine, secret: str) -> None:
    _kept.pop(_key(engine, secret), None)


def forget_session(engine: Engine, cookie: str) -> None:
    _kept.pop(_key(engine, cookie, session=True), None)


@dataclass
class _Unchecked:
    engine: Engine
    secret: str
    kept: _Kept
    policy: SessionPolicy | None = None
    """A session's lifetimes, to read it again with; None for a token."""
    opening: bool = False
    checked: bool = False


@dataclass
class CheckSlot:
    """One API request's provisional caller, until a transaction of the request checks it."""

    unchecked: _Unchecked | None = None


_SLOT: ContextVar[CheckSlot | None] = ContextVar("meridian_credential_slot", default=None)


@contextmanager
def checking_in_transaction() -> Iterator[CheckSlot]:
    """For the API request running in this context: its caller may be taken from this
    process's cache and checked in the request's first transaction."""
    slot = CheckSlot()
    reset = _SLOT.set(slot)
    try:
        yield slot
    finally:
        _SLOT.reset(reset)


def provisional(engine: Engine, secret: str) -> Actor | None:
    """The actor a token stands for, from this process's cache, checked later in the request's
    own transaction; None outside an API request, or when the token is not kept, has expired,
    or its use is due to be recorded."""
    kept = _provisional(engine, secret, None)
    return kept.actor if kept is not None else None


def provisional_session(engine: Engine, cookie: str, policy: SessionPolicy) -> SessionActor | None:
    """What a session cookie was last found to be, from this process's cache, checked later in
    the request's own transaction (as :func:`provisional`); None outside a request that checks
    so, or when the session is not kept or its use is due to be recorded."""
    kept = _provisional(engine, cookie, policy)
    return kept.session if kept is not None else None


def _provisional(engine: Engine, secret: str, policy: SessionPolicy | None) -> _Kept | None:
    slot = _SLOT.get()
    if slot is None or not secret:
        return None
    kept = _kept.get(_key(engine, secret, session=policy is not None))
    if kept is None:
        return None
    now = clock_of(engine).now()
    if now >= kept.touch_due or (kept.expires_at is not None and kept.expires_at <= now):
        return None
    _listen(engine)
    slot.unchecked = _Unchecked(engine=engine, secret=secret, kept=kept, policy=policy)
    return kept


def _pending(engine: Engine) -> _Unchecked | None:
    slot = _SLOT.get()
    unchecked = slot.unchecked if slot is not None else None
    if unchecked is None or unchecked.checked or unchecked.engine is not engine:
        return None
    return unchecked


@contextmanager
def checked(
    engine: Engine, opener: Callable[[Engine], AbstractContextManager[Connection]]
) -> Iterator[Connection]:
    """The transaction ``opener`` begins, in which a provisional caller is checked first by the
    revision token the transaction reads for its caches anyway."""
    unchecked = _pending(engine)
    if unchecked is None:
        with opener(engine) as conn:
            yield conn
        return
    with ExitStack() as stack:
        unchecked.opening = True
        try:
            conn = stack.enter_context(opener(engine))
        finally:
            unchecked.opening = False
        _settle(conn, unchecked, token(conn, ACCESS))
        yield conn


def check_unchecked() -> None:
    """Check a provisional caller the request never opened a transaction for (its answer has
    not left yet). Runs in the thread pool: it may wait for the database."""
    slot = _SLOT.get()
    unchecked = slot.unchecked if slot is not None else None
    if unchecked is None or unchecked.checked:
        return
    with read_transaction(unchecked.engine) as conn:
        if not unchecked.checked:  # the begin listener may have checked it already
            _settle(conn, unchecked, current_token(conn, ACCESS))


def drop_unchecked() -> None:
    """The request starts over with its caller read afresh: nothing provisional is left."""
    slot = _SLOT.get()
    if slot is not None:
        slot.unchecked = None


def unchecked_pending() -> bool:
    slot = _SLOT.get()
    return slot is not None and slot.unchecked is not None and not slot.unchecked.checked


def _settle(conn: Connection, unchecked: _Unchecked, access: str | None) -> None:
    if conn.get_execution_options().get(READ_ONLY, False):
        # SQLite fixes a read's snapshot with the check: a data revision read from now on may
        # be newer than what it sees (``reports.cache``), as for a kept read.
        conn.execution_options(**{SNAPSHOT_TAKEN: True})
    if access is not None and access == unchecked.kept.access:
        unchecked.checked = True
        return
    engine = unchecked.engine
    if unchecked.policy is not None:
        _settle_session(conn, unchecked, unchecked.policy)
        return
    forget(engine, unchecked.secret)
    found = check_token(conn, unchecked.secret)  # Unauthenticated: revoked, expired, inactive
    remember(engine, unchecked.secret, found)
    if found.actor != unchecked.kept.actor:
        raise CredentialChanged()
    unchecked.checked = True


def _settle_session(conn: Connection, unchecked: _Unchecked, policy: SessionPolicy) -> None:
    """A kept session whose revision changed, read again in the request's transaction: a
    session ended, or a caller who changed or must now change their password first, is
    answered again from the start, where the refusal (or the page asking to log in) is made."""
    forget_session(unchecked.engine, unchecked.secret)
    found = actor_for_session(conn, unchecked.secret, policy)
    if found is None or found.must_change_password or found.actor != unchecked.kept.actor:
        raise CredentialChanged()
    remember_session(unchecked.engine, unchecked.secret, found)
    unchecked.checked = True


_LISTENING: weakref.WeakSet[Engine] = weakref.WeakSet()
"""Engines the begin listener is on: asking SQLAlchemy (``event.contains``) on every request
cost more than the rest of :func:`provisional`."""


def _listen(engine: Engine) -> None:
    if engine not in _LISTENING:
        if not event.contains(engine, "begin", _check_as_it_begins):
            event.listen(engine, "begin", _check_as_it_begins)
        _LISTENING.add(engine)


def _check_as_it_begins(conn: Connection) -> None:
    """Any transaction an API request begins outside ``checked`` (a service opening its own)
    checks a provisional caller first, by one statement of its own."""
    unchecked = _pending(conn.engine)
    if unchecked is None or unchecked.opening:
        return
    _settle(conn, unchecked, current_token(conn, ACCESS))
