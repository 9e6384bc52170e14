"""The ``/api/v1`` router: every route needs a bearer token."""

from __future__ import annotations

from fastapi import APIRouter

from meridian.api import apps, files, forms, records

api_router = APIRouter(prefix="/api/v1")
for module in (apps, forms, records, files):
    api_router.include_router(module.router)
