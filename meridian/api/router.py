"""The ``/api/v1`` router: every route but login needs a bearer token or a session."""

from __future__ import annotations

from fastapi import APIRouter

from meridian.api import (
    apps,
    auth,
    files,
    forms,
    jobs,
    notifications,
    organisation,
    records,
    rules,
    webhooks,
)

api_router = APIRouter(prefix="/api/v1")
for module in (
    apps,
    forms,
    records,
    files,
    auth,
    organisation,
    jobs,
    webhooks,
    rules,
    notifications,
):
    api_router.include_router(module.router)
