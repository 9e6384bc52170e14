"""Reports and dashboards: list what the caller may see, save them (builders), and a report's
data as a chart shows it, with the dashboard's filters as query parameters."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Query, Response

from meridian.core.ids import Id
from meridian.http.deps import ActorDep, WorkspaceDep
from meridian.http.routing import ApiRoute
from meridian.reports import export, service, store
from meridian.reports.compiler import DashboardFilters, dashboard_filters

router = APIRouter(route_class=ApiRoute, tags=["reports"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Region = Annotated[str | None, Query(max_length=40)]


def _filters(
    date_from: date | None,
    date_to: date | None,
    owner: int | None,
    department: int | None,
    region: str | None,
    as_of: date | None = None,
) -> DashboardFilters:
    return dashboard_filters(
        date_from=date_from,
        date_to=date_to,
        owner=owner,
        department=department,
        region=region,
        as_of=as_of,
    )


@router.get("/reports")
def list_reports(
    workspace: WorkspaceDep, actor: ActorDep, app_key: str | None = None
) -> dict[str, Any]:
    """The reports the caller may see (its own, those shared with its roles; builders: all)."""
    with workspace.read() as conn:
        return {"items": store.listing(conn=conn, actor=actor, kind="report", app_key=app_key)}


@router.post("/reports", status_code=201)
def create_report(
    workspace: WorkspaceDep, actor: ActorDep, document: Annotated[Any, Body()]
) -> dict[str, Any]:
    with workspace.transaction() as conn:
        return store.save(conn=conn, actor=actor, kind="report", document=document, tz=workspace.tz)


@router.post("/reports/preview")
def preview_report(
    workspace: WorkspaceDep, actor: ActorDep, document: Annotated[Any, Body()]
) -> dict[str, Any]:
    """The rows an unsaved definition (``{"definition": …}``) gives the caller: the builder's
    live preview. It reads only what the caller may read, like a saved report."""
    with workspace.read() as conn:
        return service.preview(conn=conn, actor=actor, document=document, tz=workspace.tz)


@router.get("/reports/{report_id}")
def get_report(report_id: Id, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    with workspace.read() as conn:
        return store.get(conn=conn, actor=actor, kind="report", item_id=report_id)


@router.put("/reports/{report_id}")
def update_report(
    report_id: Id, workspace: WorkspaceDep, actor: ActorDep, document: Annotated[Any, Body()]
) -> dict[str, Any]:
    """Change a report; ``revision`` must be the one it was read with (409 otherwise)."""
    with workspace.transaction() as conn:
        return store.save(
            conn=conn,
            actor=actor,
            kind="report",
            document=document,
            tz=workspace.tz,
            item_id=report_id,
        )


@router.delete("/reports/{report_id}", status_code=204)
def delete_report(report_id: Id, workspace: WorkspaceDep, actor: ActorDep) -> Response:
    with workspace.transaction() as conn:
        store.delete(conn=conn, actor=actor, kind="report", item_id=report_id)
    return Response(status_code=204)


@router.get("/reports/{report_id}/data")
def report_data(
    report_id: Id,
    workspace: WorkspaceDep,
    actor: ActorDep,
    date_from: date | None = None,
    date_to: date | None = None,
    owner: Id | None = None,
    department: Id | None = None,
    region: Region = None,
    as_of: date | None = None,
) -> dict[str, Any]:
    """The rows the chart shows: per row the dimensions and measures by key, labels, and the
    drill-down address; the dashboard's filters narrow every row (``as_of``: the day a
    pipeline-as-of report shows)."""
    filters = _filters(date_from, date_to, owner, department, region, as_of)
    with workspace.read() as conn:
        return service.report_data(
            conn=conn, actor=actor, report_id=report_id, tz=workspace.tz, filters=filters
        )


@router.get(
    "/reports/{report_id}/export",
    response_class=Response,
    responses={200: {"content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}}},
)
def export_report(
    report_id: Id,
    workspace: WorkspaceDep,
    actor: ActorDep,
    date_from: date | None = None,
    date_to: date | None = None,
    owner: Id | None = None,
    department: Id | None = None,
    region: Region = None,
    as_of: date | None = None,
) -> Response:
    """The chart's data as an Excel workbook."""
    filters = _filters(date_from, date_to, owner, department, region, as_of)
    with workspace.read() as conn:
        data = service.report_data(
            conn=conn, actor=actor, report_id=report_id, tz=workspace.tz, filters=filters
        )
    label = data["report"]["label"]
    body = export.workbook(label, data, {})
    name = quote(f"{label}.xlsx")
    return Response(
        body,
        media_type=XLSX,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}"},
    )


@router.get("/dashboards")
def list_dashboards(
    workspace: WorkspaceDep, actor: ActorDep, app_key: str | None = None
) -> dict[str, Any]:
    """The dashboards the caller may see."""
    with workspace.read() as conn:
        return {"items": store.listing(conn=conn, actor=actor, kind="dashboard", app_key=app_key)}


@router.post("/dashboards", status_code=201)
def create_dashboard(
    workspace: WorkspaceDep, actor: ActorDep, document: Annotated[Any, Body()]
) -> dict[str, Any]:
    with workspace.transaction() as conn:
        return store.save(
            conn=conn, actor=actor, kind="dashboard", document=document, tz=workspace.tz
        )


@router.get("/dashboards/{dashboard_id}")
def get_dashboard(dashboard_id: Id, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    with workspace.read() as conn:
        return store.get(conn=conn, actor=actor, kind="dashboard", item_id=dashboard_id)


@router.put("/dashboards/{dashboard_id}")
def update_dashboard(
    dashboard_id: Id, workspace: WorkspaceDep, actor: ActorDep, document: Annotated[Any, Body()]
) -> dict[str, Any]:
    """Change a dashboard (its cards' places and sizes too); ``revision`` as read."""
    with workspace.transaction() as conn:
        return store.save(
            conn=conn,
            actor=actor,
            kind="dashboard",
            document=document,
            tz=workspace.tz,
            item_id=dashboard_id,
        )


@router.delete("/dashboards/{dashboard_id}", status_code=204)
def delete_dashboard(dashboard_id: Id, workspace: WorkspaceDep, actor: ActorDep) -> Response:
    with workspace.transaction() as conn:
        store.delete(conn=conn, actor=actor, kind="dashboard", item_id=dashboard_id)
    return Response(status_code=204)
