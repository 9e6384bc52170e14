"""My tasks (today, overdue, upcoming), a new task (there or on a record), ticking tasks off."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.engine import Connection

from meridian.access.users import active_users
from meridian.errors import MeridianError
from meridian.flows.tasks import service
from meridian.flows.tasks.titles import record_titles
from meridian.schema.catalog import find_form
from meridian.web.display import Presenter
from meridian.web.messages import problems_of
from meridian.web.pages.common import page
from meridian.web.routing import PageRoute
from meridian.web.session import Viewer, ViewerDep

router = APIRouter(route_class=PageRoute)


def _back(posted: Any, fallback: str = "/tasks") -> str:
    """Where to go after a change: a path of this site, never another site."""
    target = str(posted.get("next") or fallback)
    return target if target.startswith("/") and not target.startswith("//") else fallback


def form_labels(conn: Connection, tasks: list[dict[str, Any]]) -> dict[str, str]:
    """The labels of the forms the tasks link to, for their record links."""
    keys = {task["form_key"] for task in tasks if task["form_key"]}
    return {key: form.label for key in keys if (form := find_form(conn, key)) is not None}


def _agenda_page(
    request: Request, viewer: Viewer, *, status_code: int = 200, problems: list[str] | None = None
) -> HTMLResponse:
    tz = viewer.workspace.tz
    with viewer.workspace.read() as conn:
        agenda = service.my_agenda(conn=conn, actor=viewer.actor, tz=tz)
        people = active_users(conn)
        listed = [task for group in agenda.values() for task in group]
        labels = form_labels(conn, listed)
        titles = record_titles(conn, listed)
    return page(
        request,
        viewer,
        "tasks.html",
        status_code=status_code,
        groups=[
            ("overdue", agenda["overdue"]),
            ("today", agenda["today"]),
            ("upcoming", agenda["upcoming"]),
        ],
        people=people,
        form_labels=labels,
        record_titles=titles,
        presenter=Presenter(viewer.locale, tz, {}),
        problems=problems or [],
    )


@router.get("/tasks", response_class=HTMLResponse)
def my_tasks(request: Request, viewer: ViewerDep) -> HTMLResponse:
    return _agenda_page(request, viewer)


@router.post("/tasks", response_class=HTMLResponse)
async def create_task(request: Request, viewer: ViewerDep) -> Response:
    """A task from the My tasks page or a record page (``form_key``, ``record_id``)."""
    posted = await request.form()
    assignee = str(posted.get("assignee_id") or "")
    record = str(posted.get("record_id") or "")
    try:
        with viewer.workspace.transaction() as conn:
            service.create_task(
                conn=conn,
                actor=viewer.actor,
                tz=viewer.workspace.tz,
                title=str(posted.get("title", "")),
                notes=str(posted.get("notes", "")),
                assignee_id=int(assignee) if assignee.isdecimal() else None,
                due_at=str(posted.get("due_at")) if posted.get("due_at") else None,
                form_key=str(posted["form_key"]) if posted.get("form_key") else None,
                record_id=int(record) if record.isdecimal() else None,
            )
    except MeridianError as exc:
        return _agenda_page(
            request, viewer, status_code=exc.status, problems=problems_of(exc, viewer.locale)
        )
    return RedirectResponse(_back(posted), status_code=303)


@router.post("/tasks/complete", response_class=HTMLResponse)
async def complete_tasks(request: Request, viewer: ViewerDep) -> Response:
    """Tick off the chosen tasks (``ids``), all at once."""
    posted = await request.form()
    ids = [int(str(value)) for value in posted.getlist("ids") if str(value).isdecimal()]
    action = service.cancel_tasks if posted.get("cancel") else service.complete_tasks
    try:
        with viewer.workspace.transaction() as conn:
            action(conn=conn, actor=viewer.actor, task_ids=ids, tz=viewer.workspace.tz)
    except MeridianError as exc:
        return _agenda_page(
            request, viewer, status_code=exc.status, problems=problems_of(exc, viewer.locale)
        )
    return RedirectResponse(_back(posted), status_code=303)
