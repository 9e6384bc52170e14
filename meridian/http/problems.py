"""Errors as RFC 9457 problem details with a stable ``code``, in the caller's language.

:func:`problem_response` is the one place a problem is built, so it is where values are cut
short: an error names the offending value by its first characters, never by all of it.
:func:`localized_problem` is the one place an error's words are put in the reader's language
(:func:`request_locale`: their setting, else ``Accept-Language``, else English for a program
that said nothing); ``code``, ``field``, ``value`` and the rest stay as they are, machine-
readable, and the response says its ``Content-Language``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from meridian.core.i18n import N_, Translator, negotiate, supported
from meridian.errors import MeridianError, ValidationFailed, short_text, short_value
from meridian.http.request_words import said

PROBLEM_JSON = "application/problem+json"
_MAX_DEPTH = 8


def problem_body(status: int, code: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    """The problem as JSON: every ``value`` cut to a short prefix, every other text to a
    paragraph, and anything JSON cannot hold (``NaN``, bytes, lone surrogates) made text."""
    body = {
        "type": f"urn:meridian:problem:{code}",
        "title": title,
        "status": status,
        "code": code,
        "detail": detail,
        **extra,
    }
    safe: dict[str, Any] = _safe(body, 0)
    return safe


def _safe(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return short_text(value)
    if depth > _MAX_DEPTH:
        return short_value(value)
    if isinstance(value, dict):
        return {
            short_text(str(key)): short_value(item) if key == "value" else _safe(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_safe(item, depth + 1) for item in value]
    return short_value(value)


def problem_response(
    status: int, code: str, title: str, detail: str, locale: str | None = None, **extra: Any
) -> JSONResponse:
    """The problem as a response: ``title`` and ``detail`` already in ``locale``'s words."""
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if locale is not None:
        headers["Content-Language"] = locale
    if isinstance(extra.get("retry_after"), int):
        headers["Retry-After"] = str(extra["retry_after"])
    return JSONResponse(
        problem_body(status, code, title, detail, **extra),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


_LOCALIZED_KEYS = frozenset({"message", "detail", "title"})


def request_locale(request: Request) -> str:
    """The caller's language: the one they chose (kept on the request once the caller is
    known), else their ``Accept-Language``, else English — a program that names no language
    reads the catalog's own sentences."""
    chosen = supported(getattr(request.state, "locale", None))
    header = request.headers.get("accept-language", "").strip()
    return chosen or (negotiate(header) if header else "en")


def _localize(value: Any, _: Translator, depth: int = 0) -> Any:
    if depth > _MAX_DEPTH:
        return value
    if isinstance(value, dict):
        return {
            key: _.text(item)
            if key in _LOCALIZED_KEYS and isinstance(item, str)
            else _localize(item, _, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_localize(item, _, depth + 1) for item in value]
    return value


def localized_problem(exc: MeridianError, locale: str) -> JSONResponse:
    """``exc`` as problem details whose words are in ``locale``. A refused input's detail is
    its errors' messages once each, without the fields' internal paths (the errors carry
    those in ``field``)."""
    _ = Translator(locale)
    extra = _localize(exc.extra, _)
    detail = "; ".join(error_messages(exc, _)[:5])
    return problem_response(exc.status, exc.code, _(exc.title), detail, locale=locale, **extra)


def error_messages(exc: MeridianError, _: Translator) -> list[str]:
    """What an error says to its reader, one sentence per problem, each once: a refused
    input's messages (not its summary, which repeats them), else its detail.

    The messages about one plain input (``name``, ``new_password``) share a line led by that
    input's name; a dotted path (``fields.total.expression``, ``actions.0.form``) is an
    internal address that the message names in words instead, so it is not shown.
    """
    errors = exc.errors if isinstance(exc, ValidationFailed) else []
    if not errors:
        return [_.text(exc.detail)]
    by_input: dict[str, list[str]] = {}
    for error in errors:
        where = "" if "." in error.field else error.field
        said = by_input.setdefault(where, [])
        text = _.text(error.message)
        if text not in said:
            said.append(text)
    lines = by_input.pop("", [])
    return lines + [f"{where}: {'; '.join(said)}" for where, said in by_input.items()]


async def _meridian_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MeridianError)
    return localized_problem(exc, request_locale(request))


async def _request_validation_error(request: Request, exc: Exception) -> JSONResponse:
    """A request the framework refused by its shape (a missing parameter, text where a number
    goes), said in the caller's language like Meridian's own refusals."""
    assert isinstance(exc, RequestValidationError)
    _ = Translator(request_locale(request))
    errors = [
        {
            "field": ".".join(str(part) for part in error["loc"][1:]) or str(error["loc"][0]),
            "code": error["type"],
            "message": _.text(said(error)),
            "value": error.get("input"),
        }
        for error in exc.errors()
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    title = _(N_("Validation failed"))
    return problem_response(422, "validation_failed", title, detail, locale=_.locale, errors=errors)


_HTTP_CODES = {
    400: ("bad_request", N_("Bad request")),
    404: ("not_found", N_("Not found")),
    405: ("method_not_allowed", N_("Method not allowed")),
    413: ("too_large", N_("Content too large")),
    415: ("unsupported_media_type", N_("Unsupported media type")),
}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """The framework's own refusals (no such route, wrong method) as problem details too."""
    assert isinstance(exc, HTTPException)
    code, title = _HTTP_CODES.get(exc.status_code, ("error", N_("Error")))
    locale = request_locale(request)
    _ = Translator(locale)
    detail = _(title) if exc.detail == title else _.text(str(exc.detail))
    response = problem_response(exc.status_code, code, _(title), detail, locale=locale)
    response.headers.update(exc.headers or {})
    return response


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(MeridianError, _meridian_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(HTTPException, _http_error)
