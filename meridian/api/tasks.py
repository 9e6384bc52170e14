"""Tasks (待办): list with filters, create, change, and complete or cancel many at once."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from meridian.core.ids import Id
from meridian.flows.tasks import service
from meridian.http.deps import ActorDep, WorkspaceDep
from meridian.http.routing import ApiRoute

router = APIRouter(route_class=ApiRoute, prefix="/tasks", tags=["tasks"])

State = Literal["open", "done", "cancelled"]


class TaskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(examples=["回访 ACME 机柜需求"])
    notes: str = ""
    assignee_id: Id | None = None
    due_at: str | None = Field(
        default=None,
        examples=["2026-12-08T18:00:00+08:00"],
        description="An ISO date-time (naive: the company's time zone), or a date: the end of"
        " that day's work",
    )
    form_key: str | None = Field(default=None, examples=["lead"])
    record_id: Id | None = None


class TaskUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = None
    notes: str | None = None
    assignee_id: Id | None = None
    due_at: str | None = None
    state: State | None = None


class TaskIds(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[Id] = Field(min_length=1, max_length=service.MAX_BULK, examples=[[1, 2, 3]])


@router.get("")
def list_tasks(
    workspace: WorkspaceDep,
    actor: ActorDep,
    mine: bool = True,
    overdue: bool = False,
    state: State | None = None,
    form: Annotated[str | None, Query(max_length=63)] = None,
    record_id: Id | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    """Tasks by due time. ``form`` and ``record_id``: every task about that record; otherwise
    ``mine`` (the default) lists the caller's assigned tasks, and ``mine=false`` every task
    the caller sees (an administrator's: all)."""
    with workspace.read() as conn:
        return service.list_tasks(
            conn=conn,
            actor=actor,
            tz=workspace.tz,
            mine=mine,
            overdue=overdue,
            state=state,
            form_key=form,
            record_id=record_id,
            limit=limit,
            offset=offset,
        )


@router.post("", status_code=201)
def create_task(body: TaskCreate, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    with workspace.transaction() as conn:
        return service.create_task(conn=conn, actor=actor, tz=workspace.tz, **body.model_dump())


@router.post("/complete")
def complete_tasks(body: TaskIds, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    """Mark open tasks done (done or cancelled ones stay as they are); all or nothing."""
    with workspace.transaction() as conn:
        return service.complete_tasks(conn=conn, actor=actor, task_ids=body.ids, tz=workspace.tz)


@router.post("/cancel")
def cancel_tasks(body: TaskIds, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    with workspace.transaction() as conn:
        return service.cancel_tasks(conn=conn, actor=actor, task_ids=body.ids, tz=workspace.tz)


@router.get("/{task_id}")
def get_task(task_id: Id, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    with workspace.read() as conn:
        return service.get_task(conn=conn, actor=actor, task_id=task_id, tz=workspace.tz)


@router.patch("/{task_id}")
def update_task(
    task_id: Id, body: TaskUpdate, workspace: WorkspaceDep, actor: ActorDep
) -> dict[str, Any]:
    """Change only what the body names; ``state`` open, done or cancelled."""
    with workspace.transaction() as conn:
        return service.update_task(
            conn=conn,
            actor=actor,
            task_id=task_id,
            changes=body.model_dump(exclude_unset=True),
            tz=workspace.tz,
        )
