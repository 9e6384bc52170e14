"""The approval link's page: an approver opens the link of a card or an e-mail, sees what they
decide on, and approves or rejects — without signing in (see ``flows.approvals.links``).

The token in the address is the credential, so the page never asks who is signed in to decide
who acts: a link acts as its own approver, whoever opens it, and says so on the page (when the
browser is signed in as someone else, that is shown too). Failures of unknown tokens and forged
forms are counted per client address like failed logins, and an address past the limit waits.
"""

from __future__ import annotations

import hmac
import math
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from meridian.access import throttle
from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.errors import MeridianError, NotFound, PermissionDenied
from meridian.flows.approvals import link_acts, links
from meridian.http.deps import WorkspaceDep, client_ip, live_session, session_policy
from meridian.web.display import Presenter
from meridian.web.messages import localized
from meridian.web.routing import PageRoute
from meridian.web.session import translator_for
from meridian.web.templating import render

router = APIRouter(route_class=PageRoute)


class LinkThrottled(MeridianError):
    code = "too_many_attempts"
    status = 429
    title = "Too many attempts"


def _counted(exc: MeridianError) -> bool:
    """Refusals that may be someone guessing: an unknown token, a forged form."""
    return isinstance(exc, NotFound | PermissionDenied)


def _page(
    request: Request,
    workspace: Any,
    token: str,
    *,
    done: str = "",
    refused: MeridianError | None = None,
) -> HTMLResponse:
    _ = translator_for(request)
    shown: dict[str, Any] | None = None
    signed_in: str | None = None
    address = client_ip(request) or "unknown"
    with workspace.transaction() as conn:
        if refused is None and not done:
            wait = throttle.address_wait(
                conn, scope=throttle.LINK, address=address, now=utcnow(conn)
            )
            if wait is not None:
                refused = _throttled(wait.until, utcnow(conn))
            else:
                try:
                    shown = link_acts.link_view(conn, token)
                except MeridianError as exc:
                    refused = exc
                    if _counted(exc):
                        _count(conn, workspace, address)
        session = live_session(conn, request, workspace.settings)
        if session is not None and shown is not None:
            if session[1].actor.user_id != shown["user_id"]:
                signed_in = session[1].actor.name
    presenter = Presenter(_.locale, workspace.tz, shown["names"] if shown else {})
    status = refused.status if refused is not None else 200
    response = render(
        request,
        "approval_link.html",
        _,
        status_code=status,
        viewer=None,
        nav=None,
        token=token,
        shown=shown,
        presenter=presenter,
        signed_in=signed_in,
        done=done,
        refusal=localized(refused.detail, _.locale) if refused is not None else "",
        refusal_reason=(refused.extra.get("reason") or refused.code) if refused else "",
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    if isinstance(refused, LinkThrottled):
        response.headers["Retry-After"] = str(refused.extra["retry_after"])
    return response


def _throttled(until: Any, now: Any) -> LinkThrottled:
    return LinkThrottled(
        Text("too many attempts from this address; try again later"),
        retry_after=max(1, math.ceil((until - now).total_seconds())),
    )


def _count(conn: Any, workspace: Any, address: str) -> None:
    throttle.count_address_failure(
        conn,
        scope=throttle.LINK,
        address=address,
        now=utcnow(conn),
        policy=session_policy(workspace.settings).throttle,
    )


@router.get("/approvals/links/{token}", response_class=HTMLResponse)
def link_page(token: str, request: Request, workspace: WorkspaceDep) -> HTMLResponse:
    """What the approver decides on, and the approve / reject form. Reading never acts: an
    IM's link preview may fetch this page."""
    return _page(request, workspace, token)


@router.post("/approvals/links/{token}", response_class=HTMLResponse)
async def link_act(token: str, request: Request, workspace: WorkspaceDep) -> HTMLResponse:
    """Approve or reject once, as the link's approver; the form must come from the link's page."""
    fields = await request.form()
    act = str(fields.get("act") or "")
    comment = str(fields.get("comment") or "")
    sent = str(fields.get("form_token") or "")
    address = client_ip(request) or "unknown"
    refused: MeridianError | None = None
    with workspace.transaction() as conn:
        wait = throttle.address_wait(conn, scope=throttle.LINK, address=address, now=utcnow(conn))
        if wait is not None:
            refused = _throttled(wait.until, utcnow(conn))
        elif not hmac.compare_digest(sent, links.form_token(token)):
            refused = PermissionDenied(Text("the page is out of date; reload it and try again"))
            _count(conn, workspace, address)
    if refused is None:
        try:
            with workspace.transaction() as conn:
                link_acts.act_by_link(conn=conn, token=token, act=act, comment=comment)
        except MeridianError as exc:
            refused = exc
            if _counted(exc):
                with workspace.transaction() as conn:
                    _count(conn, workspace, address)
    if refused is not None:
        return _page(request, workspace, token, refused=refused)
    return _page(request, workspace, token, done=act)
