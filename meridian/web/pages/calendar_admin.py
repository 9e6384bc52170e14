"""Administration → Work calendar: the working week, and holidays and 调休 days by year."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from meridian.flows.calendar import seed, store
from meridian.web.pages.admin import admin_page, changed, removed
from meridian.web.routing import PageRoute
from meridian.web.session import Viewer, ViewerDep

router = APIRouter(route_class=PageRoute, prefix="/admin/calendar")

_PERIOD = re.compile(r"^\s*(\d{1,2}:\d{2})\s*[-–~]\s*(\d{1,2}:\d{2})\s*$")


def _periods(text: str) -> list[Any]:
    """``"09:00-12:00, 13:30-18:00"`` → ``[["09:00", "12:00"], …]``; a piece that is not a
    period stays as it was, for the calendar's check to name."""
    found: list[Any] = []
    for piece in re.split(r"[,，;；\n]+", text):
        if not piece.strip():
            continue
        match = _PERIOD.match(piece)
        found.append(
            [match.group(1).zfill(5), match.group(2).zfill(5)] if match else [piece.strip()]
        )
    return found


def _show(
    request: Request, viewer: Viewer, year: int, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    with viewer.workspace.read() as conn:
        settings = store.get_settings(conn)
        days = store.list_days(conn, year=year)
    babel = viewer._.babel_locale
    return admin_page(
        request,
        viewer,
        "admin_calendar.html",
        status_code=status_code,
        year=year,
        settings=settings,
        hours_text=", ".join(f"{start}-{end}" for start, end in settings["work_hours"]),
        weekdays=[(n + 1, babel.days["format"]["abbreviated"][n]) for n in range(7)],
        days=days,
        package_years=seed.known_years(),
        **context,
    )


def _year(request: Request, viewer: Viewer) -> int:
    text = request.query_params.get("year", "")
    if text.isdecimal() and 1900 <= int(text) <= 2200:
        return int(text)
    with viewer.workspace.read() as conn:
        return store.today_in_calendar(conn).year


@router.get("", response_class=HTMLResponse)
def calendar_page(request: Request, viewer: ViewerDep) -> HTMLResponse:
    return _show(request, viewer, _year(request, viewer))


@router.post("/week", response_class=HTMLResponse)
async def save_week(request: Request, viewer: ViewerDep) -> HTMLResponse:
    posted = await request.form()
    year = _year(request, viewer)
    days = [int(str(d)) for d in posted.getlist("work_days") if str(d).isdecimal()]
    return changed(
        viewer,
        lambda conn: store.update_settings(
            conn,
            viewer.actor,
            time_zone=str(posted.get("time_zone", "")).strip(),
            work_days=days,
            work_hours=_periods(str(posted.get("work_hours", ""))),
        ),
        lambda **context: _show(request, viewer, year, **context),
        lambda _: {"notice": viewer._("Saved.")},
    )


@router.post("/days", response_class=HTMLResponse)
async def set_day(request: Request, viewer: ViewerDep) -> HTMLResponse:
    posted = await request.form()
    year = _year(request, viewer)
    return changed(
        viewer,
        lambda conn: store.set_day(
            conn,
            viewer.actor,
            day=str(posted.get("day", "")),
            kind=str(posted.get("kind", "")),
            name=str(posted.get("name", "")),
        ),
        lambda **context: _show(request, viewer, year, **context),
        lambda _: {"notice": viewer._("Saved.")},
    )


@router.post("/days/{day}/delete", response_class=HTMLResponse)
def remove_day(day: str, request: Request, viewer: ViewerDep) -> Response:
    year = _year(request, viewer)
    return removed(
        viewer,
        lambda conn: store.remove_day(conn, viewer.actor, day=day),
        lambda **context: _show(request, viewer, year, **context),
        f"/admin/calendar?year={year}",
    )


@router.post("/seed", response_class=HTMLResponse)
def seed_year(request: Request, viewer: ViewerDep) -> HTMLResponse:
    year = _year(request, viewer)
    return changed(
        viewer,
        lambda conn: store.seed_days(conn, viewer.actor, seed.package_days(year)),
        lambda **context: _show(request, viewer, year, **context),
        lambda added: {
            "notice": viewer._.ngettext("Added {count} day.", "Added {count} days.", added)
        },
    )
