"""Sessions: log in (a cookie), log out, log out everywhere, change the password."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from meridian.access import sessions
from meridian.api.schemas import Login, PasswordChange
from meridian.http.deps import (
    SESSION_COOKIE,
    ActorDep,
    WorkspaceDep,
    client_ip,
    session_policy,
    set_session_cookie,
)
from meridian.http.routing import ApiRoute

router = APIRouter(route_class=ApiRoute, prefix="/auth", tags=["auth"])


@router.post("/login")
def login(
    body: Login, request: Request, response: Response, workspace: WorkspaceDep
) -> dict[str, Any]:
    with workspace.transaction() as conn:
        outcome = sessions.attempt_login(
            conn,
            email=body.email,
            password=body.password,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent", ""),
            policy=session_policy(workspace.settings),
            passwords=workspace.passwords,
        )
    if not isinstance(outcome, sessions.IssuedSession):
        raise outcome
    set_session_cookie(response, request, outcome.token, workspace.settings)
    return {
        "user_id": outcome.user_id,
        "must_change_password": outcome.must_change_password,
        "expires_at": outcome.expires_at.isoformat(),
        "csrf_token": outcome.csrf_token,
    }


@router.post("/logout", status_code=204)
def logout(request: Request, response: Response, workspace: WorkspaceDep, actor: ActorDep) -> None:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with workspace.transaction() as conn:
            sessions.logout(conn, token, ip=client_ip(request))
    response.delete_cookie(SESSION_COOKIE, path="/")


@router.post("/logout-everywhere")
def logout_everywhere(
    request: Request, response: Response, workspace: WorkspaceDep, actor: ActorDep
) -> dict[str, Any]:
    assert actor.user_id is not None
    with workspace.transaction() as conn:
        count = sessions.logout_everywhere(
            conn, actor.user_id, session_policy(workspace.settings), ip=client_ip(request)
        )
    response.delete_cookie(SESSION_COOKIE, path="/")
    return {"sessions_ended": count}


@router.post("/password", status_code=204)
def change_password(
    body: PasswordChange, request: Request, workspace: WorkspaceDep, actor: ActorDep
) -> None:
    assert actor.user_id is not None
    with workspace.transaction() as conn:
        sessions.change_password(
            conn,
            user_id=actor.user_id,
            old=body.old_password,
            new=body.new_password,
            passwords=workspace.passwords,
            keep_session=getattr(request.state, "session_id", None),
        )
