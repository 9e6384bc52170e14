"""Who is looking at a page: the session cookie, its CSRF token and the user's language."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, Request

from meridian.access.sessions import actor_for_session, csrf_token_for
from meridian.core.actor import Actor
from meridian.db.tables import users
from meridian.errors import PermissionDenied
from meridian.http.deps import CSRF_HEADER, SESSION_COOKIE, Workspace, WorkspaceDep, session_policy
from meridian.web.i18n import Translator, negotiate, supported

CSRF_FIELD = "csrf_token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginRequired(Exception):
    """No live session: the browser is sent to the login page and back afterwards."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class PasswordChangeRequired(Exception):
    """The user still has an initial password; nothing else opens until it is changed."""


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of one page request."""

    workspace: Workspace
    actor: Actor
    email: str
    csrf: str
    session_id: int
    _: Translator

    @property
    def locale(self) -> str:
        return self._.locale


def translator_for(request: Request) -> Translator:
    """The language of a visitor who is not signed in: cookie, then Accept-Language."""
    chosen = supported(request.cookies.get("meridian_lang"))
    return Translator(chosen or negotiate(request.headers.get("accept-language", "")))


async def current_viewer(request: Request, workspace: WorkspaceDep) -> Viewer:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise LoginRequired(request.url.path)
    with workspace.transaction() as conn:
        found = actor_for_session(conn, cookie, session_policy(workspace.settings))
        user = (
            conn.execute(
                sa.select(users.c.email, users.c.locale).where(users.c.id == found.actor.user_id)
            ).first()
            if found
            else None
        )
    if found is None or user is None:
        raise LoginRequired(request.url.path)
    csrf = csrf_token_for(cookie)
    if request.method not in _SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            sent = str((await request.form()).get(CSRF_FIELD, ""))
        if not hmac.compare_digest(sent, csrf):
            raise PermissionDenied("the page is out of date; reload it and try again")
    if found.must_change_password and request.url.path != "/password":
        raise PasswordChangeRequired
    locale = supported(user.locale) or negotiate(request.headers.get("accept-language", ""))
    return Viewer(workspace, found.actor, user.email, csrf, found.session_id, Translator(locale))


ViewerDep = Annotated[Viewer, Depends(current_viewer)]
