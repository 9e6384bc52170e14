"""Dashboards and the report builder in the browser.

The pages carry definitions and choices in data attributes; ``static/reports.js`` draws each
card with ECharts from ``GET /api/v1/reports/{id}/data`` (the same rows the API gives), saves
a dragged or resized card through ``PUT /api/v1/dashboards/{id}``, and the builder previews
through ``POST /api/v1/reports/preview``. No inline script runs (Content-Security-Policy).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.engine import Connection

from meridian.access.organisation import list_departments, list_roles
from meridian.access.permissions import form_access
from meridian.access.users import active_users
from meridian.core.ids import Id, Position
from meridian.http.report_filters import DashboardFiltersDep
from meridian.reports import service, store
from meridian.reports.model import CHART_TYPES
from meridian.reports.palette import report_fields
from meridian.schema.catalog import get_app, list_apps, list_forms
from meridian.schema.values.region import children
from meridian.web.pages.common import page
from meridian.web.routing import PageRoute
from meridian.web.session import Viewer, ViewerDep

router = APIRouter(route_class=PageRoute)

FILTER_PARAMS = ("date_from", "date_to", "owner", "department", "region", "as_of")


def _filter_choices(conn: Connection) -> dict[str, Any]:
    return {
        "users": active_users(conn),
        "departments": list_departments(conn),
        "regions": [{"code": d.code, "name": d.name} for d in children()],
    }


def dashboard_context(
    conn: Connection, viewer: Viewer, dashboard: dict[str, Any], request: Request
) -> dict[str, Any]:
    """What the dashboard page (and an app's home showing one) renders."""
    reports = {
        r["id"]: r
        for r in store.listing(
            conn=conn, actor=viewer.actor, kind="report", app_key=dashboard["app_key"]
        )
    }
    cards = [
        {**card, "report": reports[card["report_id"]]}
        for card in sorted(dashboard["definition"]["cards"], key=lambda c: (c["y"], c["x"]))
        if card["report_id"] in reports
    ]
    chosen = {key: request.query_params.get(key, "") for key in FILTER_PARAMS}
    return {
        "dashboard": dashboard,
        "cards": cards,
        "reports": list(reports.values()),
        "chosen": chosen,
        # The day picker shows when a card draws the pipeline as of a day.
        "as_of": any(
            (card["report"].get("definition") or {}).get("source") == "stage_as_of"
            for card in cards
        ),
        "editable": store.may_build(viewer.actor),
        **_filter_choices(conn),
    }


@router.get("/dashboards", response_class=HTMLResponse)
def dashboard_list(request: Request, viewer: ViewerDep) -> HTMLResponse:
    """Every dashboard and report the viewer may see, by app."""
    with viewer.workspace.read() as conn:
        apps = list_apps(conn)
        dashboards = store.listing(conn=conn, actor=viewer.actor, kind="dashboard")
        reports = store.listing(conn=conn, actor=viewer.actor, kind="report")
        forms = {app.key: list_forms(conn, app.key) for app in apps}
    return page(
        request,
        viewer,
        "dashboards.html",
        apps=apps,
        dashboards=dashboards,
        reports=reports,
        forms=forms,
        editable=store.may_build(viewer.actor),
    )


@router.post("/dashboards/new")
async def new_dashboard(request: Request, viewer: ViewerDep) -> Response:
    posted = await request.form()
    document = {"app_key": str(posted.get("app_key", "")), "label": str(posted.get("label", ""))}
    with viewer.workspace.transaction() as conn:
        created = store.save(
            conn=conn,
            actor=viewer.actor,
            kind="dashboard",
            document=document,
            tz=viewer.workspace.tz,
        )
    return RedirectResponse(f"/dashboards/{created['id']}", status_code=303)


@router.get("/dashboards/{dashboard_id}", response_class=HTMLResponse)
def dashboard_page(dashboard_id: Id, request: Request, viewer: ViewerDep) -> HTMLResponse:
    with viewer.workspace.read() as conn:
        dashboard = store.get(conn=conn, actor=viewer.actor, kind="dashboard", item_id=dashboard_id)
        context = dashboard_context(conn, viewer, dashboard, request)
        app = get_app(conn, dashboard["app_key"])
    return page(request, viewer, "dashboard.html", app_key=app.key, app=app, **context)


@router.post("/dashboards/{dashboard_id}/cards")
async def add_card(dashboard_id: Id, request: Request, viewer: ViewerDep) -> Response:
    """Add a report to the dashboard as a new card at the end."""
    posted = await request.form()
    with viewer.workspace.transaction() as conn:
        current = store.get(conn=conn, actor=viewer.actor, kind="dashboard", item_id=dashboard_id)
        cards = list(current["definition"]["cards"])
        bottom = max((c["y"] for c in cards), default=-1) + 1
        report = str(posted.get("report_id", ""))
        cards.append({"report_id": int(report) if report.isdecimal() else 0, "y": bottom})
        _save_cards(conn, viewer, current, cards)
    return RedirectResponse(f"/dashboards/{dashboard_id}", status_code=303)


@router.post("/dashboards/{dashboard_id}/cards/{index}/delete")
def remove_card(dashboard_id: Id, index: Position, viewer: ViewerDep) -> Response:
    with viewer.workspace.transaction() as conn:
        current = store.get(conn=conn, actor=viewer.actor, kind="dashboard", item_id=dashboard_id)
        ordered = sorted(current["definition"]["cards"], key=lambda c: (c["y"], c["x"]))
        cards = [card for i, card in enumerate(ordered) if i != index]
        _save_cards(conn, viewer, current, cards)
    return RedirectResponse(f"/dashboards/{dashboard_id}", status_code=303)


def _save_cards(
    conn: Connection, viewer: Viewer, current: dict[str, Any], cards: list[dict[str, Any]]
) -> None:
    document = {
        "app_key": current["app_key"],
        "label": current["label"],
        "roles": current["roles"],
        "home_for": current["home_for"],
        "revision": current["revision"],
        "definition": {**current["definition"], "cards": cards},
    }
    store.save(
        conn=conn,
        actor=viewer.actor,
        kind="dashboard",
        document=document,
        tz=viewer.workspace.tz,
        item_id=current["id"],
    )


@router.get("/reports/{report_id}/records")
def records_behind(
    report_id: Id,
    viewer: ViewerDep,
    filters: DashboardFiltersDep,
    row: Annotated[str, Query(max_length=2000)] = "{}",
) -> Response:
    """A bar or cell of a report the grid's own filters cannot say (stage history, related
    aggregates): the grid of the records behind it, found again as the viewer reads them."""
    with viewer.workspace.read() as conn:
        address = service.records_address(
            conn=conn,
            actor=viewer.actor,
            report_id=report_id,
            tz=viewer.workspace.tz,
            filters=filters,
            row=row,
        )
    return RedirectResponse(address, status_code=303)


@router.get("/reports/new", response_class=HTMLResponse)
def new_report(request: Request, viewer: ViewerDep, form: str, app_key: str) -> HTMLResponse:
    return _builder(request, viewer, None, form, app_key)


@router.get("/reports/{report_id}/edit", response_class=HTMLResponse)
def edit_report(report_id: Id, request: Request, viewer: ViewerDep) -> HTMLResponse:
    with viewer.workspace.read() as conn:
        report = store.get(conn=conn, actor=viewer.actor, kind="report", item_id=report_id)
    return _builder(request, viewer, report, report["definition"]["form"], report["app_key"])


def _builder(
    request: Request,
    viewer: Viewer,
    report: dict[str, Any] | None,
    form_key: str,
    app_key: str,
) -> HTMLResponse:
    with viewer.workspace.read() as conn:
        app = get_app(conn, app_key)
        fields = report_fields(
            conn=conn, actor=viewer.actor, form_key=form_key, tz=viewer.workspace.tz
        )
        forms = [
            f for f in list_forms(conn, app_key) if form_access(conn, viewer.actor, f).may("read")
        ]
        roles = list_roles(conn)
    return page(
        request,
        viewer,
        "report_builder.html",
        app_key=app.key,
        app=app,
        report=report,
        form_key=form_key,
        report_form=form_key,
        fields=fields,
        has_history=any(f.get("source") == "history" for f in fields),
        forms=forms,
        roles=roles,
        chart_types=CHART_TYPES,
        editable=store.may_build(viewer.actor),
    )
