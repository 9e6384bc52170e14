"""Inbound webhooks: manage them (administrators), and the public URL other systems call."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict

from meridian.http.deps import ActorDep, WorkspaceDep
from meridian.http.routing import ApiRoute
from meridian.integrations import inbound

router = APIRouter(route_class=ApiRoute, tags=["inbound hooks"])


class HookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    form_key: str
    mapping: dict[str, Any]


@router.post("/inbound-hooks", status_code=201)
def create_hook(body: HookCreate, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    with workspace.transaction() as conn:
        return inbound.create_hook(conn, actor, **body.model_dump())


@router.post("/hooks/{token}")
def receive(token: str, workspace: WorkspaceDep, payload: Annotated[Any, Body()]) -> dict[str, Any]:
    """Called by other systems: the secret token in the URL is the credential."""
    with workspace.transaction() as conn:
        return inbound.receive(conn, token, payload, workspace.tz)
