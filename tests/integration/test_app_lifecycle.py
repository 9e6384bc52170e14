"""An application that opened its own database gives its connections back when it stops;
applications made in one process share their analysed routes, each bound to itself."""

from __future__ import annotations

import gc
import threading
import weakref
from pathlib import Path

from fastapi import Request
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from meridian.access.tokens import create_token
from meridian.app import create_app
from meridian.core.actor import Actor
from meridian.http.deps import Workspace, get_workspace
from meridian.http.route_index import RouteIndex
from meridian.settings import Settings


def test_an_app_closes_the_database_it_opened_when_it_stops(
    tmp_path: Path, database_url: str
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        password_hashing="argon2-minimal-for-tests",
        load_plugins="",
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        engine = client.app.state.workspace.engine  # type: ignore[attr-defined]
        with engine.connect():  # a connection back in the pool, as every request leaves one
            pass
        assert engine.pool.checkedin() >= 1
    assert engine.pool.checkedin() == 0


def test_apps_share_the_analysed_routes_and_each_keeps_its_own_overrides(
    settings: Settings, workspace: Workspace, admin: Actor
) -> None:
    """Routes are analysed once per process (FastAPI builds every parameter's validator when
    a route is made: ~0.3 s of CPU per app); each app gets its own copies, bound to it, so an
    override given to one app changes that app alone."""
    first = create_app(settings, workspace=workspace)
    second = create_app(settings, workspace=workspace)
    # Each app's own index of its routes comes first (http.route_index), then the routes.
    assert isinstance(first.routes[0], RouteIndex) and first.routes[0] is not second.routes[0]
    pairs = list(zip(first.routes[1:], second.routes[1:], strict=True))
    assert [one.path for one, _ in pairs] == [other.path for _, other in pairs]
    # All but the app's own few (its API docs and /healthz, made on it) were analysed once.
    own = {"/api/openapi.json", "/api/docs", "/healthz"}
    shared = [
        (one, other)
        for one, other in pairs
        if isinstance(one, APIRoute) and isinstance(other, APIRoute) and one.path not in own
    ]
    assert len(shared) > 200
    for one, other in shared:
        assert one is not other
        assert one.dependant is other.dependant, one.path
        assert one.dependency_overrides_provider is first
        assert other.dependency_overrides_provider is second

    asked: list[str] = []

    async def watched(request: Request) -> Workspace:
        asked.append(request.url.path)
        return await get_workspace(request)

    second.dependency_overrides[get_workspace] = watched
    with workspace.transaction() as conn:
        assert admin.user_id is not None
        token = create_token(conn=conn, user_id=admin.user_id, name="tests")
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(first, headers=headers) as one, TestClient(second, headers=headers) as other:
        assert one.get("/api/v1/apps").status_code == 200
        assert asked == []
        assert other.get("/api/v1/apps").status_code == 200
        assert asked == ["/api/v1/apps"]


def test_an_app_is_freed_once_nothing_uses_it(settings: Settings, workspace: Workspace) -> None:
    """Nothing of the process keeps an app that served its requests: FastAPI caches every
    endpoint it analysed, and an endpoint closing over its app kept each app — its routes,
    its workspace — for as long (a test process makes one app per test).

    The threads that served the requests are waited for first: a thread the thread pool ran
    the refused credential's check in holds its last frames until its interpreter state is
    cleared, after it has left ``threading.enumerate()`` — on a loaded machine for up to a
    second or two, and the app (through the request) with them."""
    before = set(threading.enumerate())
    app = create_app(settings, workspace=workspace)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/api/docs").status_code == 401
        serving = set(threading.enumerate()) - before
    freed = weakref.ref(app)
    del app, client
    for thread in serving:
        thread.join(timeout=30)  # until its interpreter state is gone, not just its run()
    gc.collect()
    assert freed() is None
