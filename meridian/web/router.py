"""The browser workspace's routes and static files."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

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

web_router = APIRouter(include_in_schema=False)
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
):
    web_router.include_router(module.router)


def install_web(app: FastAPI) -> None:
    """Pages, their error pages and ``/static`` (front-end packages under ``/static/vendor``)."""
    app.include_router(web_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    install_page_errors(app)
