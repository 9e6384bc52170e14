"""The refusals every operation can give, as the API document states them.

FastAPI documents a 422 of its own shape (``HTTPValidationError``) that Meridian never sends:
every refusal is an RFC 9457 problem (``application/problem+json``, :mod:`meridian.http.problems`).
An API document that leaves a status out, or names the wrong content type, lies to the clients
generated from it; the fuzzing test holds the server to this document (issue 13).
"""

from __future__ import annotations

from typing import Any

from meridian.http.problems import PROBLEM_JSON

_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options"})

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details; ``code`` is stable, ``detail`` a sentence.",
    "required": ["type", "title", "status", "code", "detail"],
    "properties": {
        "type": {"type": "string", "examples": ["urn:meridian:problem:validation_failed"]},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "code": {"type": "string", "examples": ["validation_failed"]},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "One entry per problem with one value; ``value`` is cut short.",
            "items": {
                "type": "object",
                "required": ["field", "code", "message"],
                "properties": {
                    "field": {"type": "string", "examples": ["items.2.amount"]},
                    "code": {"type": "string", "examples": ["required"]},
                    "message": {"type": "string"},
                    "value": {},
                },
            },
        },
    },
}

_ALWAYS = {
    "400": "The request cannot be read (e.g. NUL in the address)",
    "401": "Not signed in: send an API token as ``Authorization: Bearer <token>``",
    "403": "Signed in, but not allowed to do this",
    "404": "No such form, record or other object (or none the caller may read)",
    "409": "Conflicts with the current state (e.g. a unique value a restore would take back)",
    "422": "The input breaks a rule; ``errors`` names each field, reason and value",
}
_WITH_BODY = {
    "413": "The body is over the request (or upload) size limit",
    "415": "The body is not in the media type the operation reads",
}
_WITH_IF_MATCH = {"412": "``If-Match`` names a version that is no longer current"}
_THROTTLED = {"429": "Too many failed logins; wait for ``Retry-After`` seconds"}


def document_problems(document: dict[str, Any]) -> None:
    """Give every operation the problem responses it can answer with, in place."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = PROBLEM_SCHEMA
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method in _METHODS:
                operation.setdefault("responses", {}).update(_problems_of(path, operation))


def _problems_of(path: str, operation: dict[str, Any]) -> dict[str, Any]:
    statuses = dict(_ALWAYS)
    if "requestBody" in operation:
        statuses.update(_WITH_BODY)
    headers = {
        str(parameter.get("name", "")).lower()
        for parameter in operation.get("parameters", [])
        if parameter.get("in") == "header"
    }
    if "if-match" in headers:
        statuses.update(_WITH_IF_MATCH)
    if path.endswith("/auth/login"):
        statuses.update(_THROTTLED)
    reference = {"$ref": "#/components/schemas/Problem"}
    return {
        status: {"description": description, "content": {PROBLEM_JSON: {"schema": reference}}}
        for status, description in statuses.items()
    }
