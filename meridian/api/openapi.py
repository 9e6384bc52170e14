"""OpenAPI with a typed schema per form, generated from the forms' metadata on each request."""

from __future__ import annotations

import html
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse

from meridian.access.permissions import form_access, visible_form
from meridian.api.openapi_problems import document_problems
from meridian.core.actor import Actor
from meridian.http.deps import ActorDep, Workspace
from meridian.schema.catalog import list_forms
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Field, Form

# Swagger UI, started by a script file rather than inline, as the pages' CSP requires.
_DOCS_PAGE = """<!doctype html>
<html>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/vendor/swagger-ui.css">
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<title>{title}</title>
</head>
<body>
<div id="swagger-ui" data-openapi-url="/api/openapi.json"></div>
<script src="/static/vendor/swagger-ui-bundle.js"></script>
<script src="/static/api-docs.js"></script>
</body>
</html>
"""

_EXPANDED = {
    "type": "object",
    "description": "with ``expand``: the linked record's id and title",
    "required": ["id", "title"],
    "properties": {"id": {"type": "integer"}, "title": {"type": "string"}},
}


def field_schema(field: Field) -> dict[str, Any]:
    """JSON Schema of one field's API value, as its field type (a plugin's too) gives it."""
    schema = dict(field_type(field).json_schema(field, field_schema))
    schema["title"] = field.label
    if field.help:
        schema["description"] = field.help
    return schema


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """A value that may also be null: a blank field reads as null."""
    return {"anyOf": [schema, {"type": "null"}], "title": schema.get("title", "")}


def _as_read(field: Field) -> dict[str, Any]:
    """A field's value in a record: null when blank, and a link with ``expand`` is an object."""
    schema = field_schema(field)
    if field_type(field).links_records:
        target = schema["items"] if field.many else schema
        read = {"anyOf": [target, _EXPANDED]}
        schema = {**schema, "items": read} if field.many else {**read, "title": field.label}
    return _nullable(schema)


def form_schemas(form: Form) -> dict[str, dict[str, Any]]:
    """``<Form>Input`` (what a client sends) and ``<Form>Record`` (what it gets back)."""
    fields = form.active_fields
    writable = {f.key: field_schema(f) for f in fields if not field_type(f).computed}
    writable["owner_id"] = {"type": "integer", "minimum": 1, "description": "the owner's user id"}
    required = [f.key for f in fields if f.required and not field_type(f).computed]
    system = {
        "id": {"type": "integer"},
        "_version": {"type": "integer"},
        "owner_id": {"type": ["integer", "null"]},
        "created_at": {"type": "string", "format": "date-time"},
        "created_by": {"type": ["integer", "null"]},
        "updated_at": {"type": "string", "format": "date-time"},
        "updated_by": {"type": ["integer", "null"]},
        "deleted_at": {"type": ["string", "null"], "format": "date-time"},
    }
    name = "".join(part.title() for part in form.key.split("_"))
    return {
        f"{name}Input": {
            "type": "object",
            "title": form.label,
            "properties": writable,
            "required": required,
            "additionalProperties": False,
        },
        f"{name}Record": {
            "type": "object",
            "title": form.label,
            "required": ["id", "_version", "created_at", "updated_at"],
            "properties": {**system, **{f.key: _as_read(f) for f in fields}},
        },
    }


def _form_paths(form: Form, name: str) -> dict[str, Any]:
    record = {"$ref": f"#/components/schemas/{name}Record"}
    body = {
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}Input"}}}
    }
    listed = {"type": "object", "properties": {"items": {"type": "array", "items": record}}}
    ok = {"description": "OK", "content": {"application/json": {"schema": record}}}
    return {
        f"/api/v1/forms/{form.key}/records": {
            "get": {
                "tags": [f"form: {form.label}"],
                "summary": f"List {form.label}",
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {"application/json": {"schema": listed}},
                    }
                },
            },
            "post": {
                "tags": [f"form: {form.label}"],
                "summary": f"Create {form.label}",
                "requestBody": body,
                "responses": {"201": ok},
            },
        }
    }


def openapi_for(app: FastAPI, actor: Actor) -> dict[str, Any]:
    """The API document as ``actor`` may see it: a typed schema for each form it may read,
    without the fields hidden from it (their names would give them away)."""
    document = get_openapi(title=app.title, version=app.version, routes=app.routes)
    workspace: Workspace = app.state.workspace
    with workspace.read() as conn:
        forms = [
            visible_form(conn, actor, form)
            for form in list_forms(conn)
            if form_access(conn, actor, form).may("read")
        ]
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for form in forms:
        schemas.update(form_schemas(form))
        name = "".join(part.title() for part in form.key.split("_"))
        document["paths"].update(_form_paths(form, name))
    document["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    document["security"] = [{"bearer": []}]
    for path in _PUBLIC:
        for operation in document["paths"].get(path, {}).values():
            operation["security"] = []
    document_problems(document)
    return document


_PUBLIC = ("/api/v1/auth/login", "/api/v1/hooks/{token}")
"""Operations a client calls without a token: logging in, and inbound hooks (the secret token
is in the address)."""


def _openapi(request: Request, actor: ActorDep) -> dict[str, Any]:
    return openapi_for(request.app, actor)


def _docs(request: Request, actor: ActorDep) -> HTMLResponse:
    return HTMLResponse(_DOCS_PAGE.format(title=html.escape(f"{request.app.title} API")))


def install_api_docs(app: FastAPI) -> None:
    """``/api/openapi.json`` and ``/api/docs`` for signed-in callers only (a token or a
    session): the document names every form and field the caller may read. The endpoints
    find their app in the request: FastAPI keeps every endpoint it has analysed in a cache of
    its own for the process, and one closing over its app would keep the app (its routes, its
    workspace) alive as long."""
    app.add_api_route("/api/openapi.json", _openapi, methods=["GET"], include_in_schema=False)
    app.add_api_route("/api/docs", _docs, methods=["GET"], include_in_schema=False)
    app.openapi = lambda: openapi_for(app, Actor.system())  # type: ignore[method-assign]
