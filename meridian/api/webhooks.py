"""Outbound webhook subscriptions, their delivery log and replay (administrators)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from meridian.core.ids import Id
from meridian.http.deps import ActorDep, LocaleDep, WorkspaceDep
from meridian.http.routing import ApiRoute
from meridian.integrations import webhooks

router = APIRouter(route_class=ApiRoute, prefix="/webhooks", tags=["webhooks"])


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    form_key: str
    events: list[str]
    url: str


@router.get("")
def list_webhooks(workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    with workspace.read() as conn:
        return {"items": webhooks.list_webhooks(conn, actor)}


@router.post("", status_code=201)
def create_webhook(body: WebhookCreate, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    with workspace.transaction() as conn:
        return webhooks.create_webhook(conn, actor, **body.model_dump())


@router.get("/{webhook_id}/deliveries")
def list_deliveries(
    webhook_id: Id, workspace: WorkspaceDep, actor: ActorDep, locale: LocaleDep
) -> dict[str, Any]:
    with workspace.read() as conn:
        return {"items": webhooks.deliveries(conn, actor, webhook_id, locale=locale)}


@router.post("/{webhook_id}/deliveries/{delivery_id}/replay", status_code=202)
def replay_delivery(
    webhook_id: Id, delivery_id: Id, workspace: WorkspaceDep, actor: ActorDep
) -> dict[str, Any]:
    with workspace.transaction() as conn:
        return {"job_id": webhooks.replay(conn, actor, webhook_id, delivery_id)}
