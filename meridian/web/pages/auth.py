"""Signing in and out, the language and the password."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from meridian.access import sessions
from meridian.access.users import set_locale
from meridian.errors import MeridianError, ValidationFailed
from meridian.http.deps import (
    SESSION_COOKIE,
    WorkspaceDep,
    client_ip,
    session_policy,
    set_session_cookie,
)
from meridian.web.i18n import supported
from meridian.web.messages import localized
from meridian.web.pages.common import page
from meridian.web.routing import PageRoute
from meridian.web.session import ViewerDep, translator_for
from meridian.web.templating import render

router = APIRouter(route_class=PageRoute)


def _safe_next(target: str | None) -> str:
    """Only paths of this site, so the login page cannot send anyone elsewhere."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    _ = translator_for(request)
    return render(request, "login.html", _, viewer=None, nav=None, next=_safe_next(next), error="")


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    workspace: WorkspaceDep,
    email: str = Form(""),
    password: str = Form(""),
    next: str = Form("/"),
) -> Response:
    _ = translator_for(request)
    with workspace.transaction() as conn:
        outcome = sessions.attempt_login(
            conn,
            email=email,
            password=password,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent", ""),
            policy=session_policy(workspace.settings),
            passwords=workspace.passwords,
        )
    if not isinstance(outcome, sessions.IssuedSession):
        refused_page = render(
            request,
            "login.html",
            _,
            status_code=outcome.status,
            viewer=None,
            nav=None,
            next=_safe_next(next),
            email=email,
            error=localized(outcome.detail, _.locale),
        )
        if "retry_after" in outcome.extra:
            refused_page.headers["Retry-After"] = str(outcome.extra["retry_after"])
        return refused_page
    target = "/password" if outcome.must_change_password else _safe_next(next)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, request, outcome.token, workspace.settings)
    return response


@router.post("/logout")
def logout(request: Request, viewer: ViewerDep) -> Response:
    with viewer.workspace.transaction() as conn:
        sessions.logout(conn, request.cookies.get(SESSION_COOKIE, ""), ip=client_ip(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/logout-everywhere")
def logout_everywhere(request: Request, viewer: ViewerDep) -> Response:
    assert viewer.actor.user_id is not None
    with viewer.workspace.transaction() as conn:
        sessions.logout_everywhere(
            conn,
            viewer.actor.user_id,
            session_policy(viewer.workspace.settings),
            ip=client_ip(request),
        )
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/preferences/language")
def set_language(request: Request, viewer: ViewerDep, locale: str = Form(...)) -> Response:
    chosen = supported(locale)
    if chosen is not None:
        with viewer.workspace.transaction() as conn:
            set_locale(conn=conn, user_id=viewer.actor.user_id, locale=chosen)
    back = _safe_next(request.headers.get("referer", "/").split(str(request.base_url)[:-1], 1)[-1])
    response = RedirectResponse(back, status_code=303)
    if chosen is not None:
        response.set_cookie("meridian_lang", chosen, samesite="lax", path="/")
    return response


@router.get("/password", response_class=HTMLResponse)
def password_page(request: Request, viewer: ViewerDep) -> HTMLResponse:
    return page(request, viewer, "password.html", errors=[], done=False)


@router.post("/password", response_class=HTMLResponse)
def change_password(
    request: Request,
    viewer: ViewerDep,
    old_password: str = Form(""),
    new_password: str = Form(""),
) -> HTMLResponse:
    assert viewer.actor.user_id is not None
    try:
        with viewer.workspace.transaction() as conn:
            sessions.change_password(
                conn,
                user_id=viewer.actor.user_id,
                old=old_password,
                new=new_password,
                passwords=viewer.workspace.passwords,
                keep_session=viewer.session_id,
            )
    except ValidationFailed as exc:
        problems = [localized(e.message, viewer.locale) for e in exc.errors]
        return page(request, viewer, "password.html", status_code=422, errors=problems, done=False)
    except MeridianError as exc:
        problems = [localized(exc.detail, viewer.locale)]
        return page(
            request, viewer, "password.html", status_code=exc.status, errors=problems, done=False
        )
    return page(request, viewer, "password.html", errors=[], done=True)


def login_redirect(next_path: str) -> str:
    return f"/login?next={quote(next_path)}"
