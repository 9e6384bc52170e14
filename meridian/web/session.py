"""Who is looking at a page: the session cookie, its CSRF token and the user's language."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from meridian.access.sessions import csrf_token_for
from meridian.core.actor import Actor
from meridian.core.i18n import Text
from meridian.errors import PermissionDenied
from meridian.http.deps import (
    CSRF_HEADER,
    SAFE_METHODS,
    Workspace,
    WorkspaceDep,
    csrf_holds,
    kept_session,
    session_of,
)
from meridian.web.i18n import Translator, negotiate, supported

CSRF_FIELD = "csrf_token"


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
    """The language of the page's reader: a signed-in viewer's (kept on the request), else a
    visitor's cookie, then Accept-Language."""
    chosen = supported(getattr(request.state, "locale", None)) or supported(
        request.cookies.get("meridian_lang")
    )
    return Translator(chosen or negotiate(request.headers.get("accept-language", "")))


async def current_viewer(request: Request, workspace: WorkspaceDep) -> Viewer:
    """The page's viewer: as this process last found the session, checked in the page's own
    transaction (``http.credentials``), else read (and its use written, which may wait for the
    write lock) in the thread pool, never on the event loop that serves every request."""
    session = kept_session(workspace, request) or await run_in_threadpool(
        session_of, workspace, request
    )
    if session is None:
        raise LoginRequired(request.url.path)
    cookie, found = session
    email, chosen = found.email, found.actor.locale
    sent = request.headers.get(CSRF_HEADER, "")
    if (
        not sent
        and request.method not in SAFE_METHODS
        and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        )
    ):
        sent = str((await request.form()).get(CSRF_FIELD, ""))
    if not csrf_holds(request, cookie, sent):
        raise PermissionDenied(Text("the page is out of date; reload it and try again"))
    csrf = csrf_token_for(cookie)
    if found.must_change_password and request.url.path != "/password":
        raise PasswordChangeRequired
    locale = supported(chosen) or negotiate(request.headers.get("accept-language", ""))
    request.state.locale = locale
    return Viewer(workspace, found.actor, email, csrf, found.session_id, Translator(locale))


ViewerDep = Annotated[Viewer, Depends(current_viewer)]
