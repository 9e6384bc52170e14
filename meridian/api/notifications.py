"""The caller's notification inbox, its email preference, and group-robot channels."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from meridian.core.ids import Id
from meridian.http.deps import ActorDep, LocaleDep, WorkspaceDep
from meridian.http.routing import ApiRoute
from meridian.notify import inbox

router = APIRouter(route_class=ApiRoute, tags=["notifications"])


class Preferences(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: bool


class BotChannel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str
    name: str
    webhook_url: str
    secret: str | None = None


@router.get("/notifications")
def my_notifications(
    workspace: WorkspaceDep,
    actor: ActorDep,
    locale: LocaleDep,
    unread: bool = False,
    limit: int = 50,
) -> dict[str, Any]:
    with workspace.read() as conn:
        return inbox.inbox(conn, actor, unread_only=unread, limit=limit, locale=locale)


@router.post("/notifications/{notification_id}/read")
def mark_read(notification_id: Id, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    with workspace.transaction() as conn:
        return {"marked": inbox.mark_read(conn, actor, notification_id)}


@router.post("/notifications/read-all")
def mark_all_read(workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    with workspace.transaction() as conn:
        return {"marked": inbox.mark_read(conn, actor)}


@router.put("/notifications/preferences")
def set_preferences(body: Preferences, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    with workspace.transaction() as conn:
        return inbox.set_preferences(conn, actor, email=body.email)


@router.post("/bot-channels", status_code=201)
def create_bot_channel(
    body: BotChannel, workspace: WorkspaceDep, actor: ActorDep
) -> dict[str, Any]:
    with workspace.transaction() as conn:
        return inbox.create_bot_channel(conn, actor, **body.model_dump())
