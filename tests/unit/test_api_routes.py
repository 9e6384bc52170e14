"""Every JSON API route authenticates before it reads a body and reads JSON strictly."""

from __future__ import annotations

import importlib
import pkgutil

import meridian.api
from meridian.http.routing import ApiRoute


def test_every_api_router_uses_the_api_route_class() -> None:
    routers = []
    for module_info in pkgutil.iter_modules(meridian.api.__path__):
        module = importlib.import_module(f"meridian.api.{module_info.name}")
        router = getattr(module, "router", None)
        if router is not None:
            routers.append(module_info.name)
            assert router.route_class is ApiRoute, module_info.name
    assert {"records", "forms", "files", "auth"} <= set(routers)
