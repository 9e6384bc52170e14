"""A long export from the grid's 导出 menu: the menu posts the grid's state, the export runs
as a job (``meridian.dataio.export_job``), and its page shows the progress — rows done of how
many, rows per second, time left — polled by htmx until the file is ready to download."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from meridian.core.ids import Id
from meridian.dataio import export_job
from meridian.web.pages.common import fragment, page
from meridian.web.routing import PageRoute
from meridian.web.session import ViewerDep

router = APIRouter(route_class=PageRoute)


@router.post("/forms/{form_key}/exports")
async def start(form_key: str, request: Request, viewer: ViewerDep) -> Response:
    """Queue the export of the grid as posted (its columns, filter, search and sort, or a saved
    view), then show its progress."""
    posted = await request.form()

    def given(name: str) -> str | None:
        value = posted.get(name)
        return str(value) if value not in (None, "") else None

    view = given("view")
    with viewer.workspace.transaction() as conn:
        export = export_job.start_export(
            conn=conn,
            actor=viewer.actor,
            form_key=form_key,
            fmt=given("format") or "xlsx",
            tz=viewer.workspace.tz,
            locale=viewer.locale,
            view=Id(view) if view is not None and view.isdigit() else None,
            columns=tuple(c for c in (given("columns") or "").split(",") if c),
            filter=given("filter"),
            sort=given("sort"),
            q=given("q"),
        )
    return RedirectResponse(f"/exports/{export['id']}", status_code=303)


@router.get("/exports/{export_id}", response_class=HTMLResponse)
def export_page(export_id: Id, request: Request, viewer: ViewerDep) -> HTMLResponse:
    with viewer.workspace.read() as conn:
        export = export_job.get_export(
            conn=conn, actor=viewer.actor, export_id=export_id, locale=viewer.locale
        )
        label = export_job.form_label(conn, export["form_key"])
    return page(
        request, viewer, "export.html", form_key=export["form_key"], export=export, label=label
    )


@router.get("/exports/{export_id}/progress", response_class=HTMLResponse)
def progress(export_id: Id, request: Request, viewer: ViewerDep) -> HTMLResponse:
    """The progress htmx polls while the export waits or runs; then the download."""
    with viewer.workspace.read() as conn:
        export = export_job.get_export(
            conn=conn, actor=viewer.actor, export_id=export_id, locale=viewer.locale
        )
    return fragment(request, viewer, "export_progress.html", export=export)
