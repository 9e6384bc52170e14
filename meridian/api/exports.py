"""Export a form's records — a saved view or the grid's state — as .csv (streamed) or .xlsx."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from meridian.core.i18n import negotiate
from meridian.core.ids import Id
from meridian.dataio.export import (
    ExportSpec,
    audit_export,
    csv_chunks,
    export_rows,
    spec_of,
    write_xlsx,
)
from meridian.http.deps import ActorDep, WorkspaceDep
from meridian.http.routing import ApiRoute, read_json
from meridian.schema.catalog import get_form

router = APIRouter(route_class=ApiRoute, tags=["records"])

_BINARY = {"schema": {"type": "string", "format": "binary"}}


@router.get(
    "/forms/{form_key}/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The records as a spreadsheet",
            "content": {
                "text/csv": _BINARY,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": _BINARY,
            },
        }
    },
)
def export_records(
    form_key: str,
    request: Request,
    workspace: WorkspaceDep,
    actor: ActorDep,
    format: Literal["xlsx", "csv"] = "xlsx",
    view: Id | None = None,
    columns: Annotated[str | None, Query(max_length=4000)] = None,
    filter: Annotated[str | None, Query(max_length=20_000)] = None,
    sort: Annotated[str | None, Query(max_length=500)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The records the caller may export (导出), with a saved view's columns, filter and sort,
    or those given (which replace the view's); values as people read them. CSV is UTF-8 with a
    BOM and streamed; the export is audited."""
    locale = actor.locale or negotiate(request.headers.get("accept-language", ""))
    tz = workspace.tz
    given_filter = read_json(filter, field="filter") if filter else None
    with workspace.transaction() as conn:
        form = get_form(conn, form_key)
        spec = spec_of(
            conn,
            actor,
            form,
            view=view,
            columns=[c for c in (columns or "").split(",") if c],
            filter=given_filter,
            sort=sort,
            q=q,
        )
        exported = export_rows(conn=conn, actor=actor, form=form, spec=spec, tz=tz, locale=locale)
        audit_export(conn, actor, form, spec, format, exported.count())
        label = form.label
    name = quote(f"{label}.{format}")
    disposition = f"attachment; filename*=UTF-8''{name}"
    if format == "csv":
        return StreamingResponse(
            _csv_stream(workspace, actor, form_key, spec, locale),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": disposition},
        )
    handle, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(handle)
    with workspace.read() as conn:
        form = get_form(conn, form_key)
        exported = export_rows(conn=conn, actor=actor, form=form, spec=spec, tz=tz, locale=locale)
        write_xlsx(exported, Path(path), sheet=label)
    return FileResponse(
        path,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": disposition},
        background=BackgroundTask(os.unlink, path),
    )


def _csv_stream(
    workspace: WorkspaceDep, actor: ActorDep, form_key: str, spec: ExportSpec, locale: str
) -> Iterator[bytes]:
    with workspace.read() as conn:
        form = get_form(conn, form_key)
        exported = export_rows(
            conn=conn, actor=actor, form=form, spec=spec, tz=workspace.tz, locale=locale
        )
        yield from csv_chunks(exported)
