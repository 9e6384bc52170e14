"""The ``/api/v1`` router: every route but login and inbound hooks needs a token or a session."""

from __future__ import annotations

from fastapi import APIRouter

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

api_router = APIRouter(prefix="/api/v1")
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
):
    api_router.include_router(module.router)
