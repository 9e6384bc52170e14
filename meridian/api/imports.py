"""Imports over HTTP: upload a spreadsheet, map its columns, preview the cleansing, dry-run,
review duplicates, run as a job with progress, read the outcomes and the report, roll back.

Thin: every step is a call into ``meridian.dataio`` (``drafts``, ``preview``, ``run_dry``,
``run_job``, ``duplicates``, ``run_report``, ``run_rollback``); each loads the import as its
importer's own, with the form's 导入 right.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask

from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import negotiate
from meridian.core.ids import Id
from meridian.dataio import drafts, duplicates
from meridian.dataio.mappings import MAX_HEADER_ROW, saved_mappings
from meridian.dataio.preview import PREVIEW_ROWS, column_preview
from meridian.dataio.run_dry import dry_run
from meridian.dataio.run_job import launch
from meridian.dataio.run_report import ReportWriter, write_report
from meridian.dataio.run_rollback import rollback_import
from meridian.dataio.run_store import RowOutcome
from meridian.http.deps import ActorDep, WorkspaceDep
from meridian.http.routing import ApiRoute

router = APIRouter(route_class=ApiRoute, tags=["imports"])

_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_REPORT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report: every row with its outcome and reason",
        "content": {_XLSX: {"schema": {"type": "string", "format": "binary"}}},
    }
}
SHOWN_OUTCOMES = 1000
"""Rows a dry run's answer lists (the report holds every row)."""


class MappingChange(BaseModel):
    """A draft's mapping: a document (``meridian.import-mapping/1``), or a saved mapping's
    name; optionally another sheet, another header row (``0``: the row found), the default for
    duplicates, and a name to save it under."""

    model_config = ConfigDict(extra="forbid")
    mapping: dict[str, Any] | None = None
    saved: str | None = Field(default=None, max_length=200)
    save_as: str | None = Field(default=None, max_length=200)
    sheet: str | None = Field(default=None, max_length=255)
    header_row: int | None = Field(default=None, ge=0, le=MAX_HEADER_ROW)
    on_duplicate: Literal["keep", "merge", "skip"] | None = None


class DryRunAsk(BaseModel):
    """The first ``sample`` data rows, or every row (null)."""

    model_config = ConfigDict(extra="forbid")
    sample: int | None = Field(default=100, ge=1, le=1_000_000)


class DuplicateDecision(BaseModel):
    """``merge``, ``keep`` or ``skip`` for the pairs named, or for every pair (null)."""

    model_config = ConfigDict(extra="forbid")
    decision: str = Field(max_length=8)
    candidates: list[Id] | None = Field(default=None, max_length=10_000)


def _locale(actor: Actor, request: Request) -> str:
    return actor.locale or negotiate(request.headers.get("accept-language", ""))


@router.post("/forms/{form_key}/imports", status_code=201)
def upload_import(
    form_key: str,
    file: UploadFile,
    workspace: WorkspaceDep,
    actor: ActorDep,
    sheet: Annotated[str | None, Form(max_length=255)] = None,
    header_row: Annotated[int | None, Form(ge=1, le=MAX_HEADER_ROW)] = None,
) -> dict[str, Any]:
    """Upload an .xlsx, .xls, .csv or .tsv (charset detected) and open an import of it in
    state ``draft``: its sheets, the header row found (or ``header_row``), the columns with
    the suggested field of each, and the first rows. Needs the form's 导入 and 新建 rights."""
    with workspace.read() as conn:
        drafts.own_form(conn, actor, form_key)
    upload = drafts.receive_upload(
        workspace.settings.file_store_dir,
        file.filename or "file",
        file.file,
        workspace.settings.max_upload_bytes,
    )
    with workspace.transaction() as conn:
        state = drafts.open_draft(conn, actor, form_key, upload, sheet, header_row)
        form = drafts.own_form(conn, actor, form_key)
    return drafts.describe(state, form, upload.path)


@router.get("/imports/{import_id}")
def get_import(import_id: Id, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    """The import: its file, sheet, columns, mapping, counts and progress."""
    with workspace.read() as conn:
        state, form = drafts.own_import(conn, actor, import_id)
        progress = drafts.progress_of(conn, import_id)
        dry = drafts.stored_dry_run(conn, import_id)
    path = drafts.upload_path(workspace.settings.file_store_dir, state)
    return {**drafts.describe(state, form, path), "progress": progress, "dry_run": dry}


@router.get("/imports/{import_id}/mapping")
def get_mapping(import_id: Id, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    """The import's mapping (the suggestion until changed), the fields a column may fill
    with the keys a link may be looked up by, and the form's saved mappings."""
    with workspace.read() as conn:
        state, form = drafts.own_import(conn, actor, import_id)
        return {
            "mapping": state.mapping,
            "fields": drafts.fields_for_mapping(conn, form),
            "saved": saved_mappings(conn, form),
        }


@router.put("/imports/{import_id}/mapping")
def put_mapping(
    import_id: Id, body: MappingChange, workspace: WorkspaceDep, actor: ActorDep
) -> dict[str, Any]:
    """Change a draft's mapping, sheet, header row or default for duplicates (422 naming the
    header row that is blank, or the column and
    the value for a column the file has not or a field the importer cannot fill)."""
    store = workspace.settings.file_store_dir
    with workspace.transaction() as conn:
        state, form = drafts.own_import(conn, actor, import_id)
        path = drafts.upload_path(store, state)
        state = drafts.set_mapping(
            conn,
            actor,
            state,
            form,
            path,
            document=body.mapping,
            saved=body.saved,
            save_as=body.save_as,
            sheet=body.sheet,
            header_row=body.header_row,
            on_duplicate=body.on_duplicate,
        )
    return drafts.describe(state, form, path)


@router.get("/imports/{import_id}/preview")
def preview_import(
    import_id: Id,
    request: Request,
    workspace: WorkspaceDep,
    actor: ActorDep,
    rows: Annotated[int, Query(ge=1, le=200)] = PREVIEW_ROWS,
) -> dict[str, Any]:
    """What each value of the first rows becomes per mapped column, what is refused and why."""
    with workspace.read() as conn:
        state, form = drafts.own_import(conn, actor, import_id)
        path = drafts.upload_path(workspace.settings.file_store_dir, state)
        mapping = drafts.current_mapping(conn, state, form, path)
        columns = column_preview(
            conn,
            actor,
            form,
            path,
            state.sheet,
            mapping,
            workspace.tz,
            _locale(actor, request),
            rows,
        )
    return {"columns": columns}


@router.post("/imports/{import_id}/dry-run")
def dry_run_import(
    import_id: Id, body: DryRunAsk, request: Request, workspace: WorkspaceDep, actor: ActorDep
) -> dict[str, Any]:
    """试迁移: the run's own code on the first ``sample`` rows (or all), rolled back — per
    row what would be created, updated, merged or rejected and why; the duplicate pairs it
    finds are kept for review; the report is ready at ``…/dry-run/report``."""
    store = workspace.settings.file_store_dir
    locale = _locale(actor, request)
    with workspace.read() as conn:
        state, form = drafts.own_import(conn, actor, import_id)
        path = drafts.upload_path(store, state)
        mapping = drafts.current_mapping(conn, state, form, path)
    source = drafts.read_source(path, state.sheet, mapping.header_row)
    report = ReportWriter(source.header, locale)
    shown: list[RowOutcome] = []

    def keep(rows: Any, outcomes: Any) -> None:
        report.add_batch(rows, outcomes)
        shown.extend(itertools.islice(outcomes, max(SHOWN_OUTCOMES - len(shown), 0)))

    result = dry_run(
        workspace.engine,
        actor,
        state.form_key,
        path,
        mapping,
        workspace.tz,
        sheet=state.sheet,
        on_duplicate=state.on_duplicate,
        limit=body.sample,
        batch_key=str(import_id),
        review=True,
        on_batch=keep,
    )
    report.save(drafts.report_path(store, import_id))
    with workspace.transaction() as conn:
        kept = {
            "sample": body.sample,
            "counts": result.counts,
            "rows": result.rows,
            "duplicates": len(result.candidates),
            "at": utcnow(conn).isoformat(),
        }
        drafts.keep_dry_run(conn, state, kept)
    return {**kept, "outcomes": drafts.outcome_rows(shown, locale)}


@router.get("/imports/{import_id}/dry-run/report", response_class=FileResponse, responses=_REPORT)
def dry_run_report(import_id: Id, workspace: WorkspaceDep, actor: ActorDep) -> FileResponse:
    """The last dry run's report (.xlsx): every row tried, its outcome and reason."""
    with workspace.read() as conn:
        state, _ = drafts.own_import(conn, actor, import_id)
    path = drafts.report_path(workspace.settings.file_store_dir, import_id)
    drafts.require_report(path)
    return FileResponse(path, media_type=_XLSX, headers=_attachment(state.file_name, "试迁移"))


@router.get("/imports/{import_id}/duplicates")
def list_duplicates(import_id: Id, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    """The duplicate pairs found (by a dry run or the run): each row with the earlier row or
    the record it may repeat, why, and its decision (null: the import's default)."""
    with workspace.read() as conn:
        drafts.own_import(conn, actor, import_id)
        pairs = duplicates.list_candidates(conn, batch_key=str(import_id))
    return {"items": [drafts.pair_of(pair) for pair in pairs]}


@router.post("/imports/{import_id}/duplicates")
def decide_duplicates(
    import_id: Id, body: DuplicateDecision, workspace: WorkspaceDep, actor: ActorDep
) -> dict[str, Any]:
    """Decide pairs — ``merge`` (into the record), ``keep`` (both), ``skip`` (the row) — the
    ones named, or all."""
    with workspace.transaction() as conn:
        drafts.own_import(conn, actor, import_id)
        decided = duplicates.decide(
            conn,
            actor=actor,
            batch_key=str(import_id),
            decision=body.decision,
            candidate_ids=body.candidates,
        )
    return {"decided": decided}


@router.post("/imports/{import_id}/run", status_code=202)
def run_import(import_id: Id, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    """Start the import as a job; follow it at ``…/progress``."""
    with workspace.transaction() as conn:
        state, _ = drafts.own_import(conn, actor, import_id)
        state = launch(conn, actor, state)
        return {**drafts.summary(state), "progress": drafts.progress_of(conn, import_id)}


@router.get("/imports/{import_id}/progress")
def import_progress(import_id: Id, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    """Rows done, of how many, rows/s, seconds left, and the counts so far."""
    with workspace.read() as conn:
        state, _ = drafts.own_import(conn, actor, import_id)
        return {**drafts.progress_of(conn, import_id), "counts": drafts.summary(state)["counts"]}


@router.get("/imports/{import_id}/outcomes")
def import_outcomes(
    import_id: Id,
    request: Request,
    workspace: WorkspaceDep,
    actor: ActorDep,
    outcome: Literal["created", "updated", "merged", "rejected"] | None = None,
    after: Annotated[int, Query(ge=0, le=2_000_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """The run's rows in row order after row ``after``, of one ``outcome`` if given; ``next``
    is the ``after`` of the next page (null at the end)."""
    with workspace.read() as conn:
        drafts.own_import(conn, actor, import_id)
        rows = drafts.page_of_outcomes(conn, import_id, outcome, after, limit)
    return {
        "items": drafts.outcome_rows(rows, _locale(actor, request)),
        "next": rows[-1].number if len(rows) == limit else None,
    }


@router.get("/imports/{import_id}/report", response_class=FileResponse, responses=_REPORT)
def import_report(
    import_id: Id, request: Request, workspace: WorkspaceDep, actor: ActorDep
) -> FileResponse:
    """The run's report (.xlsx): every row of the file, its outcome, record and reason."""
    with workspace.read() as conn:
        state, _ = drafts.own_import(conn, actor, import_id)
    path = drafts.upload_path(workspace.settings.file_store_dir, state)
    handle, out = tempfile.mkstemp(suffix=".xlsx")
    os.close(handle)
    write_report(workspace.engine, state, path, Path(out), _locale(actor, request))
    return FileResponse(
        out,
        media_type=_XLSX,
        headers=_attachment(state.file_name, "import"),
        background=BackgroundTask(os.unlink, out),
    )


@router.post("/imports/{import_id}/rollback")
def rollback(import_id: Id, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    """Roll the import back: its records to the trash, its updates put back where the record
    has not changed since (those are listed in ``kept``)."""
    with workspace.read() as conn:
        drafts.own_import(conn, actor, import_id)
    done = rollback_import(workspace.engine, actor, import_id, workspace.tz)
    return {"deleted": done.deleted, "reverted": done.reverted, "kept": done.kept}


def _attachment(file_name: str, tag: str) -> dict[str, str]:
    name = quote(f"{Path(file_name).stem}-{tag}.xlsx")
    return {"Content-Disposition": f"attachment; filename*=UTF-8''{name}"}
