"""Composition root: builds the FastAPI application from settings, on the workspace
(``meridian.workspace``, re-exported here) that every entry point shares."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from meridian import __version__
from meridian.api.openapi import install_api_docs
from meridian.api.router import install_api
from meridian.http.deps import Workspace
from meridian.http.guard import RequestGuard
from meridian.http.headers import SecurityHeaders
from meridian.http.problems import install_problem_handlers
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
        # An app that opened its own database closes it when it stops; pooled connections
        # left to the garbage collector stay open on the server until then.
        yield
        if owns_engine:
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
    install_api(app)
    install_api_docs(app)
    install_web(app)
    for router in workspace.plugins.listed("register_routes"):
        add_routes(app, router)

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def create_app_from_environment() -> FastAPI:
    """Factory for ``uvicorn --factory``: settings from ``MERIDIAN_*`` variables."""
    return create_app(Settings())
