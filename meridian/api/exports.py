"""Export a form's records — a saved view or the grid's state — as .csv (streamed) or .xlsx:
at once (``GET /forms/{form}/export``), or as a job for long exports (``POST
/forms/{form}/exports``, then its progress and file under ``/exports/{id}``)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from starlette.background import BackgroundTask

from meridian.core.i18n import negotiate
from meridian.core.ids import Id
from meridian.dataio import export_job
from meridian.dataio.export import (
    ExportSpec,
    audit_export,
    csv_chunks,
    export_rows,
    spec_of,
    write_xlsx,
)
from meridian.http.deps import ActorDep, LocaleDep, WorkspaceDep
from meridian.http.routing import ApiRoute, read_json
from meridian.schema.catalog import get_form

router = APIRouter(route_class=ApiRoute, tags=["records"])

_BINARY = {"schema": {"type": "string", "format": "binary"}}
_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class ExportCreate(BaseModel):
    """What to export: a saved view, or the grid's state; what is given replaces the view's."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["xlsx", "csv"] = "xlsx"
    view: Id | None = None
    columns: list[Annotated[str, PydanticField(max_length=63)]] = PydanticField(
        default_factory=list, max_length=500
    )
    filter: Any = None
    sort: str | None = PydanticField(default=None, max_length=500)
    q: str | None = PydanticField(default=None, max_length=200)


@router.post("/forms/{form_key}/exports", status_code=202)
def start_export(
    form_key: str, body: ExportCreate, workspace: WorkspaceDep, actor: ActorDep, locale: LocaleDep
) -> dict[str, Any]:
    """Queue an export as a job; poll ``GET /exports/{id}`` for its progress (rows done of
    how many, rows per second, seconds left) and download ``file`` when it is done. Refused
    at once for what the export would refuse (导出, columns, filter, sort)."""
    with workspace.transaction() as conn:
        return export_job.start_export(
            conn=conn,
            actor=actor,
            form_key=form_key,
            fmt=body.format,
            tz=workspace.tz,
            locale=locale,
            view=body.view,
            columns=tuple(body.columns),
            filter=body.filter,
            sort=body.sort,
            q=body.q,
        )


@router.get("/exports/{export_id}")
def get_export(
    export_id: Id, workspace: WorkspaceDep, actor: ActorDep, locale: LocaleDep
) -> dict[str, Any]:
    """An export's state and progress (its owner's, or any for administrators)."""
    with workspace.read() as conn:
        return export_job.get_export(conn=conn, actor=actor, export_id=export_id, locale=locale)


@router.get(
    "/exports/{export_id}/file",
    response_class=FileResponse,
    responses={
        200: {
            "description": "The export's file",
            "content": dict.fromkeys(_TYPES.values(), _BINARY),
        }
    },
)
def download_export(export_id: Id, workspace: WorkspaceDep, actor: ActorDep) -> FileResponse:
    """The finished export's file; 404 until it is done."""
    with workspace.read() as conn:
        found = export_job.export_file(conn=conn, actor=actor, export_id=export_id)
    fmt = found["name"].rsplit(".", 1)[-1]
    return FileResponse(
        workspace.settings.file_store_dir / found["storage_path"],
        media_type=_TYPES.get(fmt, found["content_type"]),
        filename=found["name"],
    )


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
