"""Errors as RFC 9457 problem details with a stable ``code``.

:func:`problem_response` is the one place a problem is built, so it is where values are cut
short: an error names the offending value by its first characters, never by all of it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from meridian.errors import MeridianError, short_text, short_value

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


def problem_response(status: int, code: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if isinstance(extra.get("retry_after"), int):
        headers["Retry-After"] = str(extra["retry_after"])
    return JSONResponse(
        problem_body(status, code, title, detail, **extra),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


async def _meridian_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MeridianError)
    return problem_response(exc.status, exc.code, exc.title, exc.detail, **exc.extra)


async def _request_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "field": ".".join(str(part) for part in error["loc"][1:]) or str(error["loc"][0]),
            "code": error["type"],
            "message": error["msg"],
            "value": error.get("input"),
        }
        for error in exc.errors()
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return problem_response(422, "validation_failed", "Validation failed", detail, errors=errors)


_HTTP_CODES = {
    400: ("bad_request", "Bad request"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    413: ("too_large", "Content too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """The framework's own refusals (no such route, wrong method) as problem details too."""
    assert isinstance(exc, HTTPException)
    code, title = _HTTP_CODES.get(exc.status_code, ("error", "Error"))
    response = problem_response(exc.status_code, code, title, str(exc.detail))
    response.headers.update(exc.headers or {})
    return response


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(MeridianError, _meridian_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(HTTPException, _http_error)
