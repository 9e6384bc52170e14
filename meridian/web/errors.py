"""Errors on pages: a login redirect, or a page in the viewer's language instead of JSON.

Calls from the pages' own scripts (``Accept: application/json``) and the API keep RFC 9457
problem details.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from meridian.errors import MeridianError
from meridian.http.problems import localized_problem, request_locale
from meridian.web.i18n import N_
from meridian.web.messages import problems_of
from meridian.web.session import LoginRequired, PasswordChangeRequired, translator_for
from meridian.web.templating import render

_TITLES = {
    401: N_("Please log in"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    409: N_("Conflict"),
    412: N_("Changed by someone else"),
    422: N_("Check the input"),
}
_OTHER_TITLE = N_("Something went wrong")


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get(
        "accept", ""
    )


def _redirect(request: Request, target: str) -> Response:
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return _redirect(request, f"/login?next={quote(exc.next_path)}")


async def _password_change_required(request: Request, exc: Exception) -> Response:
    return _redirect(request, "/password")


async def _meridian_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MeridianError)
    if _wants_json(request):
        return localized_problem(exc, request_locale(request))
    _ = translator_for(request)
    return render(
        request,
        "error.html",
        _,
        status_code=exc.status,
        viewer=None,
        nav=None,
        title=_(_TITLES.get(exc.status, _OTHER_TITLE)),
        detail="; ".join(problems_of(exc, _.locale)),
    )


def install_page_errors(app: FastAPI) -> None:
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(PasswordChangeRequired, _password_change_required)
    app.add_exception_handler(MeridianError, _meridian_error)
