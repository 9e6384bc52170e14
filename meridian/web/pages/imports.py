"""The import wizard: from a form's grid (导入) — upload, sheet and mapping, cleanse preview,
duplicates review, dry run, run with a live progress bar, verify and roll back.

Every step is a call into ``meridian.dataio`` (as ``api/imports.py`` makes them); the pages are
plain forms posting back (POST → redirect → GET), and the progress bar is an htmx fragment
polled while the run's job works. An import is its importer's own: another user's is not found.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from meridian.core.ids import Id
from meridian.dataio import drafts, duplicates
from meridian.dataio.mappings import header_row_of, saved_mappings
from meridian.dataio.preview import column_preview
from meridian.dataio.run_dry import dry_run
from meridian.dataio.run_job import launch
from meridian.dataio.run_report import ReportWriter
from meridian.dataio.run_rollback import rollback_import
from meridian.dataio.run_store import RowOutcome
from meridian.errors import ValidationFailed
from meridian.web.messages import problems_of
from meridian.web.pages.common import fragment, page
from meridian.web.routing import PageRoute
from meridian.web.session import Viewer, ViewerDep

router = APIRouter(route_class=PageRoute)

STEPS = ("upload", "map", "cleanse", "duplicates", "dry_run", "run", "verify")
WIZARD_SAMPLE = 100
"""The dry run's sample unless the importer asks for the whole file."""
SHOWN_ROWS = 200
"""Rejected rows a step lists (the report lists every row)."""


def _wizard(
    request: Request,
    viewer: Viewer,
    template: str,
    step: str,
    state: Any = None,
    *,
    form_key: str,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    with viewer.workspace.read() as conn:
        form = drafts.own_form(conn, viewer.actor, form_key)
    context.setdefault("problems", [])
    return page(
        request,
        viewer,
        template,
        app_key=form.app_key,
        form_key=form.key,
        status_code=status_code,
        form=form,
        step=step,
        steps=STEPS,
        imp=state,
        **context,
    )


def _go(import_id: int, step: str) -> RedirectResponse:
    return RedirectResponse(f"/imports/{import_id}/{step.replace('_', '-')}", status_code=303)


@router.get("/forms/{form_key}/import", response_class=HTMLResponse)
def upload_page(form_key: str, request: Request, viewer: ViewerDep) -> HTMLResponse:
    return _wizard(request, viewer, "import_upload.html", "upload", form_key=form_key)


@router.post("/forms/{form_key}/import")
async def upload(form_key: str, request: Request, viewer: ViewerDep) -> Response:
    posted = await request.form()
    try:
        return _upload(form_key, request, viewer, posted)
    finally:
        await posted.close()


def _upload(form_key: str, request: Request, viewer: Viewer, posted: Any) -> Response:
    file = posted.get("file")
    sheet = str(posted.get("sheet") or "").strip() or None
    workspace = viewer.workspace
    try:
        with workspace.read() as conn:
            drafts.own_form(conn, viewer.actor, form_key)
        if file is None or isinstance(file, str) or not file.filename:
            raise drafts.refused_upload()
        received = drafts.receive_upload(
            workspace.settings.file_store_dir,
            file.filename,
            file.file,
            workspace.settings.max_upload_bytes,
        )
        with workspace.transaction() as conn:
            state = drafts.open_draft(conn, viewer.actor, form_key, received, sheet)
    except ValidationFailed as exc:
        return _wizard(
            request,
            viewer,
            "import_upload.html",
            "upload",
            form_key=form_key,
            problems=problems_of(exc, viewer.locale),
            status_code=422,
        )
    return _go(state.id, "map")


def _loaded(viewer: Viewer, import_id: int) -> tuple[Any, Any, Any]:
    with viewer.workspace.read() as conn:
        state, form = drafts.own_import(conn, viewer.actor, import_id)
    return state, form, drafts.upload_path(viewer.workspace.settings.file_store_dir, state)


@router.get("/imports/{import_id}/map", response_class=HTMLResponse)
def map_page(import_id: Id, request: Request, viewer: ViewerDep) -> HTMLResponse:
    return _map_page(import_id, request, viewer)


def _map_page(
    import_id: int,
    request: Request,
    viewer: ViewerDep,
    problems: list[str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The mapping step, with what refused the last mapping sent (a route's parameters are the
    client's to set: the problems and the status are this module's alone)."""
    state, form, path = _loaded(viewer, import_id)
    with viewer.workspace.read() as conn:
        fields = drafts.fields_for_mapping(conn, form)
        saved = saved_mappings(conn, form)
    described = drafts.describe(state, form, path)
    return _wizard(
        request,
        viewer,
        "import_map.html",
        "map",
        state,
        form_key=state.form_key,
        described=described,
        fields=fields,
        links={f["key"]: f.get("link_keys") for f in fields if f.get("link_keys")},
        saved=saved,
        problems=problems or [],
        status_code=status_code,
    )


@router.post("/imports/{import_id}/map")
async def map_post(import_id: Id, request: Request, viewer: ViewerDep) -> Response:
    posted = await request.form()
    state, form, path = _loaded(viewer, import_id)
    action = str(posted.get("action") or "next")
    sheet = str(posted.get("sheet") or "") or None
    try:
        with viewer.workspace.transaction() as conn:
            if action == "sheet":
                drafts.set_mapping(conn, viewer.actor, state, form, path, sheet=sheet)
            elif action in ("header", "header_found"):
                row = 0 if action == "header_found" else _row_number(posted.get("header_row"))
                drafts.set_mapping(conn, viewer.actor, state, form, path, header_row=row)
            elif action == "saved":
                drafts.set_mapping(
                    conn, viewer.actor, state, form, path, saved=str(posted.get("saved") or "")
                )
            else:
                columns = []
                for column in drafts.describe(state, form, path)["columns"]:
                    position = column["column"]
                    chosen = str(posted.get(f"field_{position}") or "") or None
                    entry: dict[str, Any] = {"header": column["header"], "field": chosen}
                    key = str(posted.get(f"key_{position}") or "")
                    if chosen and key:
                        entry["key"] = key
                    columns.append(entry)
                drafts.set_mapping(
                    conn,
                    viewer.actor,
                    state,
                    form,
                    path,
                    document={"columns": columns},
                    save_as=str(posted.get("save_as") or "").strip() or None,
                    on_duplicate=str(posted.get("on_duplicate") or "") or None,
                )
    except ValidationFailed as exc:
        return _map_page(
            import_id, request, viewer, problems_of(exc, viewer.locale), status_code=422
        )
    return _go(
        import_id,
        "map" if action in ("sheet", "header", "header_found", "saved", "apply") else "cleanse",
    )


def _row_number(posted: Any) -> int:
    """The header row the form sent; anything but a row number is refused naming it."""
    text = str(posted or "").strip()
    chosen = header_row_of({"header_row": int(text) if text.isdigit() else text})
    assert chosen is not None
    return chosen


@router.get("/imports/{import_id}/cleanse", response_class=HTMLResponse)
def cleanse_page(import_id: Id, request: Request, viewer: ViewerDep) -> HTMLResponse:
    state, form, path = _loaded(viewer, import_id)
    with viewer.workspace.read() as conn:
        mapping = drafts.current_mapping(conn, state, form, path)
        columns = column_preview(
            conn,
            viewer.actor,
            form,
            path,
            state.sheet,
            mapping,
            viewer.workspace.tz,
            viewer.locale,
        )
    return _wizard(
        request,
        viewer,
        "import_cleanse.html",
        "cleanse",
        state,
        form_key=state.form_key,
        columns=columns,
    )


def _dry_run(viewer: Viewer, state: Any, form: Any, path: Any, sample: int | None) -> None:
    """The run's code on the file (or a sample), rolled back: counts, the rejected rows and the
    report kept with the import; the duplicate pairs kept for review."""
    workspace = viewer.workspace
    with workspace.read() as conn:
        mapping = drafts.current_mapping(conn, state, form, path)
    source = drafts.read_source(path, state.sheet, mapping.header_row)
    report = ReportWriter(source.header, viewer.locale)
    rejected: list[RowOutcome] = []

    def keep(rows: Any, outcomes: Any) -> None:
        report.add_batch(rows, outcomes)
        for outcome in outcomes:
            if outcome.outcome == "rejected" and len(rejected) < SHOWN_ROWS:
                rejected.append(outcome)

    result = dry_run(
        workspace.engine,
        viewer.actor,
        state.form_key,
        path,
        mapping,
        workspace.tz,
        sheet=state.sheet,
        on_duplicate=state.on_duplicate,
        limit=sample,
        batch_key=str(state.id),
        review=True,
        on_batch=keep,
    )
    report.save(drafts.report_path(workspace.settings.file_store_dir, state.id))
    with workspace.transaction() as conn:
        drafts.keep_dry_run(
            conn,
            state,
            {
                "sample": sample,
                "counts": result.counts,
                "rows": result.rows,
                "duplicates": len(result.candidates),
                "rejected": drafts.outcome_rows(rejected, viewer.locale, drafts.field_labels(form)),
            },
        )


@router.post("/imports/{import_id}/check")
def check(import_id: Id, viewer: ViewerDep) -> Response:
    """From the cleanse preview to the duplicates: a dry run of the whole file finds them."""
    state, form, path = _loaded(viewer, import_id)
    _dry_run(viewer, state, form, path, None)
    return _go(import_id, "duplicates")


@router.get("/imports/{import_id}/duplicates", response_class=HTMLResponse)
def duplicates_page(import_id: Id, request: Request, viewer: ViewerDep) -> HTMLResponse:
    state, form, path = _loaded(viewer, import_id)
    source = drafts.read_source(path, state.sheet, header_row_of(state.mapping))
    with viewer.workspace.read() as conn:
        pairs = [
            drafts.pair_of(p) for p in duplicates.list_candidates(conn, batch_key=str(state.id))
        ]
        titles = drafts.record_titles(
            conn, viewer.actor, form, [p["record_id"] for p in pairs], viewer.workspace.tz
        )
    wanted = {p["row"] for p in pairs} | {p["other_row"] for p in pairs if p["other_row"]}
    rows = {row.number: row.cells for row in source.rows if row.number in wanted}
    return _wizard(
        request,
        viewer,
        "import_duplicates.html",
        "duplicates",
        state,
        form_key=state.form_key,
        pairs=pairs,
        rows=rows,
        titles=titles,
        header=source.header,
    )


@router.post("/imports/{import_id}/duplicates")
async def decide(import_id: Id, request: Request, viewer: ViewerDep) -> Response:
    posted = await request.form()
    with viewer.workspace.transaction() as conn:
        drafts.own_import(conn, viewer.actor, import_id)
        every = str(posted.get("all") or "")
        if every:
            duplicates.decide(conn, actor=viewer.actor, batch_key=str(import_id), decision=every)
        else:
            by_decision: dict[str, list[int]] = {}
            for name, value in posted.multi_items():
                if name.startswith("pair_") and name[5:].isdecimal() and value:
                    by_decision.setdefault(str(value), []).append(int(name[5:]))
            for decision, ids in by_decision.items():
                duplicates.decide(
                    conn,
                    actor=viewer.actor,
                    batch_key=str(import_id),
                    decision=decision,
                    candidate_ids=ids,
                )
    return _go(import_id, "duplicates" if posted.get("stay") else "dry_run")


@router.get("/imports/{import_id}/dry-run", response_class=HTMLResponse)
def dry_run_page(import_id: Id, request: Request, viewer: ViewerDep) -> HTMLResponse:
    state, _, _ = _loaded(viewer, import_id)
    with viewer.workspace.read() as conn:
        last = drafts.stored_dry_run(conn, import_id)
    return _wizard(
        request,
        viewer,
        "import_dry_run.html",
        "dry_run",
        state,
        form_key=state.form_key,
        last=last,
        sample=WIZARD_SAMPLE,
    )


@router.post("/imports/{import_id}/dry-run")
async def dry_run_post(import_id: Id, request: Request, viewer: ViewerDep) -> Response:
    posted = await request.form()
    state, form, path = _loaded(viewer, import_id)
    given = str(posted.get("sample") or "").strip()
    sample = int(given) if given.isdecimal() and int(given) > 0 else None
    if posted.get("whole"):
        sample = None
    _dry_run(viewer, state, form, path, sample)
    return _go(import_id, "dry_run")


@router.post("/imports/{import_id}/run")
def run(import_id: Id, viewer: ViewerDep) -> Response:
    with viewer.workspace.transaction() as conn:
        state, _ = drafts.own_import(conn, viewer.actor, import_id)
        launch(conn, viewer.actor, state)
    return _go(import_id, "run")


@router.get("/imports/{import_id}/run", response_class=HTMLResponse)
def run_page(import_id: Id, request: Request, viewer: ViewerDep) -> HTMLResponse:
    state, _, _ = _loaded(viewer, import_id)
    with viewer.workspace.read() as conn:
        progress = drafts.progress_of(conn, import_id)
    return _wizard(
        request, viewer, "import_run.html", "run", state, form_key=state.form_key, p=progress
    )


@router.get("/imports/{import_id}/progress", response_class=HTMLResponse)
def progress_bar(import_id: Id, request: Request, viewer: ViewerDep) -> Response:
    """The bar htmx polls; once the run has ended, the page moves on to the verify step."""
    with viewer.workspace.read() as conn:
        state, _ = drafts.own_import(conn, viewer.actor, import_id)
        progress = drafts.progress_of(conn, import_id)
    if state.state not in ("running", "draft"):
        return Response(status_code=204, headers={"HX-Redirect": f"/imports/{import_id}/verify"})
    return fragment(request, viewer, "import_progress.html", imp=state, p=progress)


@router.get("/imports/{import_id}/verify", response_class=HTMLResponse)
def verify_page(
    import_id: Id, request: Request, viewer: ViewerDep, rolled: str = ""
) -> HTMLResponse:
    state, form, _ = _loaded(viewer, import_id)
    with viewer.workspace.read() as conn:
        rejected = drafts.page_of_outcomes(conn, import_id, "rejected", 0, SHOWN_ROWS)
        ids = drafts.record_ids_of(conn, import_id, limit=500)
        progress = drafts.progress_of(conn, import_id)
    condition = json.dumps({"field": "id", "op": "in", "value": ids}, separators=(",", ":"))
    return _wizard(
        request,
        viewer,
        "import_verify.html",
        "verify",
        state,
        form_key=state.form_key,
        rejected=drafts.outcome_rows(rejected, viewer.locale, drafts.field_labels(form)),
        grid_link=f"/forms/{state.form_key}?filter={quote(condition)}" if ids else None,
        p=progress,
        rolled=rolled,
    )


@router.post("/imports/{import_id}/rollback")
def rollback(import_id: Id, request: Request, viewer: ViewerDep) -> Response:
    with viewer.workspace.read() as conn:
        drafts.own_import(conn, viewer.actor, import_id)
    done = rollback_import(viewer.workspace.engine, viewer.actor, import_id, viewer.workspace.tz)
    return RedirectResponse(
        f"/imports/{import_id}/verify?rolled={done.deleted},{done.reverted},{len(done.kept)}",
        status_code=303,
    )
