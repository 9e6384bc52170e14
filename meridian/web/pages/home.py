"""The start page, an app's home (its forms and how many records each holds) and the inbox."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from meridian.notify.inbox import inbox, mark_read
from meridian.records.readable import readable_counts
from meridian.reports.store import home_dashboard
from meridian.schema.catalog import get_app, list_apps, list_forms
from meridian.web.display import Presenter
from meridian.web.pages.common import page
from meridian.web.pages.dashboards import dashboard_context
from meridian.web.routing import PageRoute
from meridian.web.session import ViewerDep

router = APIRouter(route_class=PageRoute)


@router.get("/", response_class=HTMLResponse)
def start(request: Request, viewer: ViewerDep) -> Response:
    with viewer.workspace.read() as conn:
        apps = list_apps(conn)
    if apps:
        return RedirectResponse(f"/apps/{apps[0].key}", status_code=303)
    return page(request, viewer, "start.html")


@router.get("/apps/{app_key}", response_class=HTMLResponse)
def app_home(app_key: str, request: Request, viewer: ViewerDep) -> HTMLResponse:
    """The app's home dashboard for the viewer, if it has one; else counts of the records
    each form holds that the viewer may read."""
    with viewer.workspace.read() as conn:
        app = get_app(conn, app_key)
        dashboard = home_dashboard(conn=conn, actor=viewer.actor, app_key=app_key)
        if dashboard is not None:
            context = dashboard_context(conn, viewer, dashboard, request)
    if dashboard is not None:
        return page(request, viewer, "dashboard.html", app_key=app_key, app=app, **context)
    with viewer.workspace.read() as conn:
        counts = readable_counts(
            conn=conn, actor=viewer.actor, forms=list_forms(conn, app_key), tz=viewer.workspace.tz
        )
    cards = [{"form": form, "count": count} for form, count in counts]
    return page(request, viewer, "app.html", app_key=app_key, app=app, cards=cards)


@router.get("/inbox", response_class=HTMLResponse)
def notifications(request: Request, viewer: ViewerDep) -> HTMLResponse:
    with viewer.workspace.read() as conn:
        found = inbox(conn, viewer.actor, locale=viewer.locale)
    presenter = Presenter(viewer.locale, viewer.workspace.tz, {})
    return page(request, viewer, "inbox.html", items=found["items"], presenter=presenter)


@router.post("/inbox/read")
def read_all(viewer: ViewerDep) -> Response:
    with viewer.workspace.transaction() as conn:
        mark_read(conn, viewer.actor)
    return RedirectResponse("/inbox", status_code=303)
