"""The ``/api/v1`` router: every route but login and inbound hooks needs a token or a session."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from meridian.api import (
    approvals,
    apps,
    auth,
    calendar,
    documents,
    exports,
    files,
    forms,
    hooks,
    imports,
    jobs,
    notifications,
    organisation,
    records,
    reports,
    rules,
    stages,
    tasks,
    webhooks,
)
from meridian.http.route_table import add_routes

API_PREFIX = "/api/v1"
API_ROUTERS: tuple[APIRouter, ...] = tuple(
    module.router
    for module in (
        apps,
        forms,
        records,
        exports,
        imports,
        files,
        documents,
        auth,
        organisation,
        jobs,
        webhooks,
        rules,
        reports,
        notifications,
        hooks,
        calendar,
        approvals,
        stages,
        tasks,
    )
)
"""Every ``/api/v1`` router, in the order their routes are matched (``install_api``)."""


def install_api(app: FastAPI) -> None:
    """The API's routes, copied into the app's own flat route table (``http.route_table``)."""
    for router in API_ROUTERS:
        add_routes(app, router, prefix=API_PREFIX)
