"""The work calendar: the working week, holidays and 调休 days (everyone reads, admins edit)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from meridian.flows.calendar import seed, store
from meridian.http.deps import ActorDep, WorkspaceDep
from meridian.http.routing import ApiRoute

router = APIRouter(route_class=ApiRoute, prefix="/calendar", tags=["calendar"])


class CalendarUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    time_zone: str = Field(examples=["Asia/Shanghai"])
    work_days: list[int] = Field(examples=[[1, 2, 3, 4, 5]])
    work_hours: list[list[str]] = Field(examples=[[["09:00", "12:00"], ["13:30", "18:00"]]])


class CalendarDaySet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(examples=["holiday"], description="holiday or workday (调休)")
    name: str = Field(default="", examples=["国庆节"])


class CalendarSeed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    year: int = Field(ge=1900, le=2200, examples=[2026])


Year = Annotated[int | None, Query(ge=1900, le=2200)]


@router.get("")
def get_calendar(workspace: WorkspaceDep, actor: ActorDep, year: Year = None) -> dict[str, Any]:
    """The working week, and the holidays and 调休 days (of ``year`` when given)."""
    with workspace.read() as conn:
        return {
            **store.get_settings(conn),
            "days": store.list_days(conn, year=year),
            "package_years": seed.known_years(),
        }


@router.put("")
def update_calendar(
    body: CalendarUpdate, workspace: WorkspaceDep, actor: ActorDep
) -> dict[str, Any]:
    with workspace.transaction() as conn:
        return store.update_settings(conn, actor, **body.model_dump())


@router.put("/days/{day}")
def set_calendar_day(
    day: str, body: CalendarDaySet, workspace: WorkspaceDep, actor: ActorDep
) -> dict[str, Any]:
    with workspace.transaction() as conn:
        return store.set_day(conn, actor, day=day, kind=body.kind, name=body.name)


@router.delete("/days/{day}", status_code=204)
def remove_calendar_day(day: str, workspace: WorkspaceDep, actor: ActorDep) -> Response:
    with workspace.transaction() as conn:
        store.remove_day(conn, actor, day=day)
    return Response(status_code=204)


@router.post("/seed")
def seed_calendar(body: CalendarSeed, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    """Add the year's holidays and 调休 days as ``chinese-calendar`` knows them; dates already
    in the calendar (an admin's edits) stay as they are."""
    with workspace.transaction() as conn:
        return {"added": store.seed_days(conn, actor, seed.package_days(body.year))}
