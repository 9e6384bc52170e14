"""Background jobs for administrators: what is queued, what died, retry or discard."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from meridian.access.manage import require_admin
from meridian.core.ids import Id
from meridian.http.deps import ActorDep, LocaleDep, WorkspaceDep
from meridian.http.routing import ApiRoute
from meridian.jobs import queue

router = APIRouter(route_class=ApiRoute, prefix="/jobs", tags=["jobs"])


@router.get("")
def list_jobs(
    workspace: WorkspaceDep,
    actor: ActorDep,
    locale: LocaleDep,
    state: str | None = None,
    kind: str | None = None,
    limit: int = 100,
) -> dict[str, Any]:
    require_admin(actor)
    with workspace.read() as conn:
        found = queue.list_jobs(conn, state=state, kind=kind, limit=limit, locale=locale)
    return {"items": found}


@router.post("/{job_id}/retry")
def retry_job(job_id: Id, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    require_admin(actor)
    with workspace.transaction() as conn:
        return queue.retry_dead(conn, job_id)


@router.post("/{job_id}/discard")
def discard_job(job_id: Id, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    require_admin(actor)
    with workspace.transaction() as conn:
        return queue.discard_dead(conn, job_id)
