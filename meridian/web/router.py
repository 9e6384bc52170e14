"""The browser workspace's routes and static files."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from meridian.http.route_table import add_routes
from meridian.web.errors import install_page_errors
from meridian.web.pages import (
    admin,
    approval_designer,
    approval_links,
    approvals,
    auth,
    automation,
    boards,
    calendar_admin,
    dashboards,
    designer,
    documents,
    exports,
    grid,
    home,
    imports,
    integrations,
    merge,
    pipeline_designer,
    record,
    stages,
    tasks,
)

STATIC = Path(__file__).parent / "static"

PAGE_ROUTERS: tuple[APIRouter, ...] = tuple(
    module.router
    for module in (
        auth,
        home,
        grid,
        merge,
        imports,
        exports,
        boards,
        record,
        documents,
        designer,
        admin,
        automation,
        calendar_admin,
        tasks,
        integrations,
        approval_links,
        approvals,
        approval_designer,
        dashboards,
        stages,
        pipeline_designer,
    )
)
"""The pages' routers, in the order their routes are matched."""


def install_web(app: FastAPI) -> None:
    """Pages, their error pages and ``/static`` (front-end packages under ``/static/vendor``)."""
    for router in PAGE_ROUTERS:  # copied into the app's flat route table (http.route_table)
        add_routes(app, router, in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    install_page_errors(app)
