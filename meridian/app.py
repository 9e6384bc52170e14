"""Composition root: builds the FastAPI application from settings, on the workspace
(``meridian.workspace``, re-exported here) that every entry point shares."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi._body_limit import wrap_app_with_body_limit
from fastapi.routing import APIRoute, request_response
from starlette.responses import Response
from starlette.routing import BaseRoute

from meridian import __version__
from meridian.api.openapi import install_api_docs
from meridian.api.router import install_api
from meridian.core.heap import freeze_started
from meridian.db.checkpoints import checkpoints_instead_of_commits
from meridian.http.deps import Workspace
from meridian.http.guard import RequestGuard
from meridian.http.headers import SecurityHeaders
from meridian.http.problems import install_problem_handlers
from meridian.http.route_index import index_routes
from meridian.http.route_table import add_routes
from meridian.settings import Settings
from meridian.web.router import install_web
from meridian.workspace import DEFAULT_PLUGINS, create_workspace

__all__ = ["DEFAULT_PLUGINS", "create_app", "create_app_from_environment", "create_workspace"]


def create_app(settings: Settings, *, workspace: Workspace | None = None) -> FastAPI:
    """The web application: pages at ``/``, JSON API under ``/api/v1``, OpenAPI at ``/api/docs``,
    and the routes the plugins register."""
    owns_engine = workspace is None
    workspace = workspace or create_workspace(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if not owns_engine:
            yield
            return
        # A server's requests never stop to copy SQLite's log into the database; a thread
        # does (db/checkpoints.py). An app that opened its own database closes it when it
        # stops; pooled connections left to the garbage collector stay open until then.
        with checkpoints_instead_of_commits(workspace.engine):
            yield
        workspace.engine.dispose()

    app = FastAPI(
        title="Meridian",
        version=__version__,
        docs_url=None,
        openapi_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.workspace = workspace
    app.add_middleware(
        RequestGuard,
        body_limit=settings.request_max_bytes,
        upload_limit=settings.max_upload_bytes,
    )
    app.add_middleware(SecurityHeaders)  # outermost: the guard's refusals get them too
    install_problem_handlers(app)
    _install_built(app, ("api",), install_api)
    install_api_docs(app)
    _install_built(app, ("web",), install_web)
    for router in workspace.plugins.listed("register_routes"):  # a few, made per workspace
        add_routes(app, router)

    @app.get("/healthz", include_in_schema=False)
    async def health() -> Response:
        # async and a ready answer: no trip to the thread pool, nothing to validate
        return Response(_HEALTHY, media_type="application/json")

    index_routes(app)
    return app


_HEALTHY = b'{"status":"ok"}'


_BUILT: dict[Hashable, tuple[list[BaseRoute], dict[Any, Any]]] = {}
"""What each installer put on an app of its own, by key (routes, exception handlers added):
built once per process."""


def _install_built(app: FastAPI, key: Hashable, install: Callable[[FastAPI], None]) -> None:
    """What ``install`` puts on an app — routes, mounts, exception handlers — made once per
    process (for ``key``) on an app of its own, then copied into ``app`` in the same order.
    FastAPI analyses a route's parameters and builds their validators when the route is made,
    about 0.3 s of CPU for Meridian's ~300 routes; a server makes one app, a test process one
    per test. The installers depend on no app, workspace or setting, and a copied route is
    bound to ``app`` (its dependency overrides) exactly as one made on it would be. (The
    plugins' few routes are made on each app: a plugin may make its router anew.)"""
    if key not in _BUILT:
        own = FastAPI(docs_url=None, openapi_url=None, redoc_url=None)
        defaults = dict(own.exception_handlers)
        install(own)
        added = {
            kind: handler
            for kind, handler in own.exception_handlers.items()
            if defaults.get(kind) is not handler
        }
        _BUILT[key] = (list(own.router.routes), added)
    routes, handlers = _BUILT[key]
    app.router.routes.extend(_bound(route, app) for route in routes)
    app.router._mark_routes_changed()
    for kind, handler in handlers.items():
        app.add_exception_handler(kind, handler)


def _bound(route: BaseRoute, app: FastAPI) -> BaseRoute:
    """``route`` answering to ``app``'s dependency overrides; its analysed parameters, models
    and validators shared (a mount or a plain route is shared as it is)."""
    if not isinstance(route, APIRoute):
        return route
    bound = copy.copy(route)
    bound.dependency_overrides_provider = app
    bound.app = wrap_app_with_body_limit(
        request_response(bound.get_route_handler()), bound.max_body_size
    )
    return bound


def create_app_from_environment() -> FastAPI:
    """Factory for ``uvicorn --factory``: settings from ``MERIDIAN_*`` variables. A server
    process is started once it has its app: what it holds so far is frozen out of later
    garbage collections (``core/heap.py``)."""
    app = create_app(Settings())
    freeze_started()
    return app
