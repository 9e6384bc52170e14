"""Automation rules: define, change, remove, switch on and off, try on a record, read the run
log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response

from meridian.access.manage import require_admin
from meridian.core.ids import Id
from meridian.http.deps import ActorDep, LocaleDep, WorkspaceDep
from meridian.http.routing import ApiRoute
from meridian.rules import catchup, definitions, dry_runs, engine

router = APIRouter(route_class=ApiRoute, tags=["rules"])


@router.get("/rules")
def list_rules(
    workspace: WorkspaceDep, actor: ActorDep, form_key: str | None = None
) -> dict[str, Any]:
    require_admin(actor)
    with workspace.read() as conn:
        return {"items": definitions.list_rules(conn, form_key)}


@router.post("/rules", status_code=201)
def create_rule(
    workspace: WorkspaceDep, actor: ActorDep, document: Annotated[Any, Body()]
) -> dict[str, Any]:
    with workspace.transaction() as conn:
        return definitions.create_rule(conn, actor, document)


@router.get("/rules/{rule_id}")
def get_rule(rule_id: Id, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    require_admin(actor)
    with workspace.read() as conn:
        return definitions.get_rule(conn, rule_id)


@router.put("/rules/{rule_id}")
def update_rule(
    rule_id: Id, workspace: WorkspaceDep, actor: ActorDep, document: Annotated[Any, Body()]
) -> dict[str, Any]:
    with workspace.transaction() as conn:
        return definitions.update_rule(conn, actor, rule_id, document)


@router.delete("/rules/{rule_id}", status_code=204)
def delete_rule(rule_id: Id, workspace: WorkspaceDep, actor: ActorDep) -> Response:
    with workspace.transaction() as conn:
        definitions.delete_rule(conn, actor, rule_id)
    return Response(status_code=204)


@router.post("/rules/{rule_id}/enable")
def enable_rule(rule_id: Id, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    with workspace.transaction() as conn:
        return definitions.set_enabled(conn, actor, rule_id, True)


@router.post("/rules/{rule_id}/disable")
def disable_rule(rule_id: Id, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    with workspace.transaction() as conn:
        return definitions.set_enabled(conn, actor, rule_id, False)


@router.post("/rules/{rule_id}/dry-run")
def dry_run(
    rule_id: Id,
    workspace: WorkspaceDep,
    actor: ActorDep,
    record_id: Annotated[int, Body(embed=True)],
) -> dict[str, Any]:
    require_admin(actor)
    with workspace.transaction() as conn:  # the trial's writes are rolled back
        return dry_runs.dry_run(conn, rule_id, record_id, workspace.tz)


@router.get("/rules/{rule_id}/catch-up")
def catch_up_count(rule_id: Id, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    """How many records are already inside the time rule's window and not fired yet."""
    with workspace.read() as conn:
        return {"count": catchup.window_count(conn, actor, rule_id, workspace.tz)}


@router.post("/rules/{rule_id}/catch-up")
def catch_up(rule_id: Id, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    """Fire the time rule now for the records already inside its window (each once)."""
    with workspace.transaction() as conn:
        return {"fired": catchup.catch_up(conn, actor, rule_id, workspace.tz)}


@router.get("/rules/{rule_id}/runs")
def rule_runs(
    rule_id: Id, workspace: WorkspaceDep, actor: ActorDep, locale: LocaleDep
) -> dict[str, Any]:
    require_admin(actor)
    with workspace.read() as conn:
        return {"items": engine.runs(conn, rule_id=rule_id, locale=locale)}


@router.get("/forms/{form_key}/records/{record_id}/rule-runs")
def record_rule_runs(
    form_key: str, record_id: Id, workspace: WorkspaceDep, actor: ActorDep, locale: LocaleDep
) -> dict[str, Any]:
    require_admin(actor)
    with workspace.read() as conn:
        found = engine.runs(conn, form_key=form_key, record_id=record_id, locale=locale)
    return {"items": found}
