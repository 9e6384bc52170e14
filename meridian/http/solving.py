"""A route's parameters solved by a plan made once per route, not by FastAPI's general solver.

FastAPI solves a route's parameters anew on every request, and for each one asks again what
its annotation is — a sequence? a model? JSON? — through ``typing`` introspection: about half
of the event loop's CPU for a page of records (ten query parameters), a third for a create.
A :class:`RoutePlan` asks those questions once per route and then, per request, only reads each
parameter from the request and validates it with the validator FastAPI built for it, exactly
as FastAPI would (``_validate_value_with_model_field``: the default when absent, the field's
own validator when given).

Only the plain shapes the API's routes use are planned: path, query and header parameters of
a single value, one JSON body field, ``Request``, and dependencies that are ``async`` functions
of those (the workspace, the caller, the reader's language); and only endpoints that answer
with a ``Response`` of their own (so there is no answer model to validate). Everything else —
another route, a request one of whose parameters does not validate (FastAPI then solves it
again and answers with its own 422, word for word), an app with dependency overrides (tests),
a request FastAPI's telemetry is tracing — goes through FastAPI's own handler.
"""

from __future__ import annotations

import typing
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import params
from fastapi._compat import ModelField, Undefined, field_annotation_is_sequence
from fastapi.dependencies.models import (
    Dependant,
    _is_async_gen_callable,
    _is_coroutine_callable,
    _is_gen_callable,
)
from fastapi.dependencies.utils import (
    _get_param_aliases,
    _get_param_model,
    _is_json_field,
    _validate_value_with_model_field,
)
from fastapi.routing import APIRoute, _effective_route_context_var
from fastapi.telemetry import get_telemetry_data
from starlette.requests import Request
from starlette.responses import Response

from meridian.http.kept_read import release_kept
from meridian.http.threads import in_thread

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
Source = Literal["path", "query", "header"]


_IMMUTABLE = (type(None), bool, int, float, str)
_ASK = object()
"""A parameter's ``absent``: what FastAPI makes of it when the request leaves it out is asked
of FastAPI (it is required, or its default is made or checked anew)."""


@dataclass(frozen=True)
class _Param:
    name: str
    source: Source
    key: str
    loc: tuple[str, str]
    field: ModelField
    absent: Any
    """The value when the request leaves the parameter out: its default, an immutable one
    FastAPI would hand over as it is (a copy of it is itself), else ``_ASK``."""


@dataclass(frozen=True)
class _Dependency:
    name: str | None
    call: Callable[..., Awaitable[Any]]
    request_name: str | None
    dependencies: tuple[_Dependency, ...]


@dataclass(frozen=True)
class RoutePlan:
    """What one route's endpoint is called with, worked out once."""

    call: Callable[..., Any]
    is_coroutine: bool
    request_name: str | None
    dependencies: tuple[_Dependency, ...]
    params: tuple[_Param, ...]
    body: ModelField | None

    async def values(self, request: Request) -> dict[str, Any] | None:
        """The endpoint's arguments, or None when a parameter does not validate."""
        values: dict[str, Any] = {}
        solved: dict[Callable[..., Any], Any] = {}
        for dependency in self.dependencies:
            value = await _solve(dependency, request, solved)
            if dependency.name is not None:
                values[dependency.name] = value
        sources = {
            "path": request.path_params,
            "query": request.query_params,
            "header": request.headers,
        }
        for param in self.params:
            given = sources[param.source].get(param.key)
            if given is None and param.absent is not _ASK:
                values[param.name] = param.absent
                continue
            value, errors = _validate_value_with_model_field(
                field=param.field,
                value=Undefined if given is None else given,
                values=values,
                loc=param.loc,
            )
            if errors:
                return None
            values[param.name] = value
        if self.body is not None:
            body = await request.json() if await request.body() else Undefined
            value, errors = _validate_value_with_model_field(
                field=self.body, value=body, values=values, loc=("body",)
            )
            if errors:
                return None
            values[self.body.name] = value
        if self.request_name is not None:
            values[self.request_name] = request
        return values


async def _solve(
    dependency: _Dependency, request: Request, solved: dict[Callable[..., Any], Any]
) -> Any:
    """A dependency's value, once per request (FastAPI's ``use_cache``)."""
    if dependency.call in solved:
        return solved[dependency.call]
    arguments: dict[str, Any] = {}
    for inner in dependency.dependencies:
        value = await _solve(inner, request, solved)
        if inner.name is not None:
            arguments[inner.name] = value
    if dependency.request_name is not None:
        arguments[dependency.request_name] = request
    value = await dependency.call(**arguments)
    solved[dependency.call] = value
    return value


def planned_handler(route: APIRoute, handler: Handler) -> Handler:
    """``handler`` (FastAPI's, for ``route``), taking the route's plan when it has one."""
    if _effective_route_context_var.get() is not None:
        return handler
    plan = _plan_of(route)
    if plan is None:
        return handler

    async def handle(request: Request) -> Response:
        overrides = route.dependency_overrides_provider
        if (overrides is not None and overrides.dependency_overrides) or (
            get_telemetry_data() is not None
        ):
            return await handler(request)
        values = await plan.values(request)
        if values is None:  # FastAPI says what is wrong, as it always has
            return await handler(request)
        if plan.is_coroutine:
            answer = await plan.call(**values)
        else:
            answer = await in_thread(_answered, plan.call, values)
        if not isinstance(answer, Response):
            raise TypeError(f"{route.path}: the endpoint must answer with a Response")
        return answer

    return handle


def _answered(call: Callable[..., Any], values: dict[str, Any]) -> Any:
    """A sync endpoint's answer, and the request's kept read (``http.kept_read``) ended in the
    same trip to the thread pool: the answer is rendered by then, and ending the read in a
    trip of its own afterwards cost a thread hand-over on every read request."""
    try:
        return call(**values)
    finally:
        release_kept()


_PLANNED = "_meridian_plan"


def _plan_of(route: APIRoute) -> RoutePlan | None:
    """``plan_route(route)``, kept on the route with the analysed parameters it was made from:
    a copy of the route (each app gets copies of the routes built once per process,
    ``app._install_built``) shares them, and so its plan. Planning asks ``typing`` for the
    endpoint's annotations, which costs more than copying the route: made per copy, the plans
    were most of ``create_app``'s CPU."""
    kept: tuple[Dependant, RoutePlan | None] | None = route.__dict__.get(_PLANNED)
    if kept is not None and kept[0] is route.dependant:
        return kept[1]
    plan = plan_route(route)
    setattr(route, _PLANNED, (route.dependant, plan))
    return plan


def plan_route(route: APIRoute) -> RoutePlan | None:
    """The route's plan, or None when any of its parameters is not a plain one."""
    dependant = route.dependant
    call = dependant.call
    if call is None or not _answers_itself(call) or not _plain_shape(dependant):
        return None
    planned = []
    for source, fields in (
        ("path", dependant.path_params),
        ("query", dependant.query_params),
        ("header", dependant.header_params),
    ):
        for field in fields:
            param = _plain_param(field, typing.cast(Source, source))
            if param is None:
                return None
            planned.append(param)
    body = None
    if dependant.body_params:
        body = route.body_field
        if (
            len(dependant.body_params) != 1
            or route._embed_body_fields
            or body is None
            or isinstance(body.field_info, params.Form)
        ):
            return None
    dependencies = _plain_dependencies(dependant)
    if dependencies is None:
        return None
    return RoutePlan(
        call=call,
        is_coroutine=_is_coroutine_callable(call),
        request_name=dependant.request_param_name,
        dependencies=dependencies,
        params=tuple(planned),
        body=body,
    )


def _answers_itself(call: Callable[..., Any]) -> bool:
    """Whether the endpoint is declared to return a ``Response`` (nothing to validate)."""
    try:
        answer = typing.get_type_hints(call).get("return")
    except Exception:  # an annotation that does not resolve: FastAPI's way
        return False
    return isinstance(answer, type) and issubclass(answer, Response)


def _plain_shape(dependant: Dependant) -> bool:
    return not (
        dependant.cookie_params
        or dependant.websocket_param_name
        or dependant.http_connection_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
        or dependant.own_oauth_scopes
        or dependant.parent_oauth_scopes
    )


def _plain_param(field: ModelField, source: Source) -> _Param | None:
    if (
        _get_param_model(field) is not None
        or _is_json_field(field)
        or field_annotation_is_sequence(field.field_info.annotation)
    ):
        return None
    aliases = _get_param_aliases(field)
    if len(aliases) != 1:
        return None
    key = aliases[0][1]
    info = field.field_info
    plain_default = not (
        info.is_required() or info.validate_default or info.default_factory is not None
    ) and isinstance(info.default, _IMMUTABLE)
    return _Param(
        name=field.name,
        source=source,
        key=key,
        loc=(source, key),
        field=field,
        absent=info.default if plain_default else _ASK,
    )


def _plain_dependencies(dependant: Dependant) -> tuple[_Dependency, ...] | None:
    planned = []
    for sub in dependant.dependencies:
        call = sub.call
        if (
            call is None
            or not sub.use_cache
            or sub.scope is not None
            or sub.concurrency is not None
            or not _is_coroutine_callable(call)
            or _is_gen_callable(call)
            or _is_async_gen_callable(call)
            or sub.path_params
            or sub.query_params
            or sub.header_params
            or sub.body_params
            or not _plain_shape(sub)
        ):
            return None
        inner = _plain_dependencies(sub)
        if inner is None:
            return None
        planned.append(
            _Dependency(
                name=sub.name,
                call=call,
                request_name=sub.request_param_name,
                dependencies=inner,
            )
        )
    return tuple(planned)
