"""One flat route table: every route of the application's routers copied into the app's own.

FastAPI's ``include_router`` keeps the included router as a branch that is searched on every
request, twice (once to find the branch, once to find the route in it), and each nesting level
repeats that. With the API's routers under ``/api/v1`` and the pages after them, a request for a
page or for a late API router walked a few hundred routes through that machinery before its
own: 0.4 ms of CPU for ``/healthz`` alone, more than the rest of the request. Routes copied into
the app's table are matched by one pass of regular expressions, as a route declared on the app
itself is; what the copy carries (path, methods, dependencies, tags, responses, OpenAPI
details, the route class) is what the router gave its route, so the routes, their order and the
OpenAPI document are the same.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute


def add_routes(
    app: FastAPI, router: APIRouter, *, prefix: str = "", in_schema: bool = True
) -> None:
    """The routes of ``router`` (declared on it, not included into it) at ``prefix`` in the
    app's own table, left out of the OpenAPI document unless ``in_schema``; a router holding
    anything else (a router included into it, say) is included as FastAPI includes it."""
    if not all(isinstance(route, APIRoute) for route in router.routes):
        app.include_router(router, prefix=prefix, include_in_schema=in_schema)
        return
    for route in router.routes:
        assert isinstance(route, APIRoute)
        app.router.add_api_route(
            prefix + route.path,
            route.endpoint,
            response_model=route.response_model,
            status_code=route.status_code,
            tags=list(route.tags),
            dependencies=list(route.dependencies),
            summary=route.summary,
            description=route.description,
            response_description=route.response_description,
            responses=dict(route.responses),
            deprecated=route.deprecated,
            methods=set(route.methods or ()),
            operation_id=route.operation_id,
            response_model_include=route.response_model_include,
            response_model_exclude=route.response_model_exclude,
            response_model_by_alias=route.response_model_by_alias,
            response_model_exclude_unset=route.response_model_exclude_unset,
            response_model_exclude_defaults=route.response_model_exclude_defaults,
            response_model_exclude_none=route.response_model_exclude_none,
            include_in_schema=route.include_in_schema and in_schema,
            response_class=route.response_class,
            name=route.name,
            route_class_override=type(route),
            callbacks=route.callbacks,
            openapi_extra=route.openapi_extra,
            generate_unique_id_function=route.generate_unique_id_function,
            strict_content_type=route.strict_content_type,
            max_body_size=route.max_body_size,
            form_limits=route.form_limits or None,
        )
