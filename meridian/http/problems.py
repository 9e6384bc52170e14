"""Errors as RFC 9457 problem details with a stable ``code``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from meridian.errors import MeridianError

PROBLEM_JSON = "application/problem+json"


def problem_response(status: int, code: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {
        "type": f"urn:meridian:problem:{code}",
        "title": title,
        "status": status,
        "code": code,
        "detail": detail,
        **extra,
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if isinstance(extra.get("retry_after"), int):
        headers["Retry-After"] = str(extra["retry_after"])
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


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


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(MeridianError, _meridian_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
