"""FastAPI dependencies shared by the web and API routers: the workspace and the actor."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from sqlalchemy.engine import Connection, Engine

from meridian.access.tokens import authenticate_token, touch_token
from meridian.core.actor import Actor
from meridian.db.engine import read_transaction, transaction
from meridian.errors import Unauthenticated
from meridian.settings import Settings


@dataclass(frozen=True)
class Workspace:
    """What every request needs: settings, the engine, the workspace time zone."""

    settings: Settings
    engine: Engine
    tz: ZoneInfo

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction; committed before the response is written."""
        with transaction(self.engine) as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction: a consistent snapshot that never blocks writers."""
        with read_transaction(self.engine) as conn:
            yield conn


def get_workspace(request: Request) -> Workspace:
    workspace: Workspace = request.app.state.workspace
    return workspace


WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]


def get_actor(request: Request, workspace: WorkspaceDep) -> Actor:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send an API token as 'Authorization: Bearer <token>'")
    with workspace.read() as conn:
        actor, stale_token_id = authenticate_token(conn, token.strip())
    if stale_token_id is not None:
        with workspace.transaction() as conn:
            touch_token(conn, stale_token_id)
    return actor


ActorDep = Annotated[Actor, Depends(get_actor)]
