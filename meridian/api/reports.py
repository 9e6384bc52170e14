"""Reports and dashboards: list what the caller may see, save them (builders), and a report's
data as a chart shows it, with the dashboard's filters as query parameters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Path, Response

from meridian.core.ids import Id
from meridian.http.deps import ActorDep, WorkspaceDep
from meridian.http.report_filters import DashboardFiltersDep
from meridian.http.routing import ApiRoute
from meridian.reports import export, service, store

router = APIRouter(route_class=ApiRoute, tags=["reports"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _stored_routes(kind: str, plural: str, id_param: str) -> None:
    """List, create, read, change and delete for one kind of stored item (reports and
    dashboards take the same five routes, under their own URLs and id names)."""
    ItemId = Annotated[Id, Path(alias=id_param)]

    def listing(
        workspace: WorkspaceDep, actor: ActorDep, app_key: str | None = None
    ) -> dict[str, Any]:
        with workspace.read() as conn:
            return {"items": store.listing(conn=conn, actor=actor, kind=kind, app_key=app_key)}

    def create(
        workspace: WorkspaceDep, actor: ActorDep, document: Annotated[Any, Body()]
    ) -> dict[str, Any]:
        with workspace.transaction() as conn:
            return store.save(conn=conn, actor=actor, kind=kind, document=document, tz=workspace.tz)

    def read(item_id: ItemId, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
        with workspace.read() as conn:
            return store.get(conn=conn, actor=actor, kind=kind, item_id=item_id)

    def update(
        item_id: ItemId, workspace: WorkspaceDep, actor: ActorDep, document: Annotated[Any, Body()]
    ) -> dict[str, Any]:
        with workspace.transaction() as conn:
            return store.save(
                conn=conn,
                actor=actor,
                kind=kind,
                document=document,
                tz=workspace.tz,
                item_id=item_id,
            )

    def delete(item_id: ItemId, workspace: WorkspaceDep, actor: ActorDep) -> Response:
        with workspace.transaction() as conn:
            store.delete(conn=conn, actor=actor, kind=kind, item_id=item_id)
        return Response(status_code=204)

    by_id: Callable[..., Any]
    for by_id in (read, update, delete):
        # The module's annotations are strings; this one is local, so it is given as itself.
        by_id.__annotations__["item_id"] = ItemId
    one = f"/{plural}/{{{id_param}}}"
    routes: tuple[tuple[str, str, Callable[..., Any], str, int, str], ...] = (
        (
            f"/{plural}",
            "GET",
            listing,
            f"list_{plural}",
            200,
            f"The {plural} the caller may see (its own, shared with its roles; builders: all).",
        ),
        (f"/{plural}", "POST", create, f"create_{kind}", 201, f"Save a new {kind} (builders)."),
        (one, "GET", read, f"get_{kind}", 200, f"One {kind} the caller may see."),
        (
            one,
            "PUT",
            update,
            f"update_{kind}",
            200,
            f"Change a {kind}; ``revision`` must be the one it was read with (409 otherwise).",
        ),
        (one, "DELETE", delete, f"delete_{kind}", 204, f"Delete a {kind} (builders)."),
    )
    for path, method, endpoint, name, status, summary in routes:
        extra: dict[str, Any] = {"response_class": Response} if method == "DELETE" else {}
        router.add_api_route(
            path,
            endpoint,
            methods=[method],
            name=name,
            status_code=status,
            description=summary,
            **extra,
        )


_stored_routes("report", "reports", "report_id")
_stored_routes("dashboard", "dashboards", "dashboard_id")


@router.post("/reports/preview")
def preview_report(
    workspace: WorkspaceDep, actor: ActorDep, document: Annotated[Any, Body()]
) -> dict[str, Any]:
    """The rows an unsaved definition (``{"definition": …}``) gives the caller: the builder's
    live preview. It reads only what the caller may read, like a saved report."""
    with workspace.read() as conn:
        return service.preview(conn=conn, actor=actor, document=document, tz=workspace.tz)


@router.get("/reports/{report_id}/data")
def report_data(
    report_id: Id,
    workspace: WorkspaceDep,
    actor: ActorDep,
    filters: DashboardFiltersDep,
) -> dict[str, Any]:
    """The rows the chart shows: per row the dimensions and measures by key, labels, and the
    drill-down address; the dashboard's filters narrow every row (``as_of``: the day a
    pipeline-as-of report shows)."""
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
    filters: DashboardFiltersDep,
) -> Response:
    """The chart's data as an Excel workbook."""
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
