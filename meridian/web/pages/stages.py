"""Lifecycle stages in the browser: the path bar of a record (where it is, time in stage, SLA,
what is missing to move on, the SOP checklist, moving with a reason or an override) and the
pipeline designer for builders (stages dragged into order, criteria, SOP items, SLAs)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from meridian.core.i18n import Text
from meridian.core.ids import Id
from meridian.errors import FieldError, MeridianError, PermissionDenied, ValidationFailed
from meridian.flows.stages import checklist, pipelines, status
from meridian.flows.stages.gates import may_override
from meridian.flows.stages.model import load_pipelines
from meridian.records import service
from meridian.records.guards import WriteIntent, WriteRefused
from meridian.schema.catalog import get_form
from meridian.schema.fieldtypes import field_type
from meridian.web.display import Presenter
from meridian.web.messages import problems_of
from meridian.web.pages.common import fragment, page
from meridian.web.session import Viewer, ViewerDep

router = APIRouter()


def refusal_lines(exc: MeridianError, locale: str) -> list[str]:
    """A refused move in the viewer's language: each gate entry carries both languages."""
    if isinstance(exc, WriteRefused):
        key = "message_en" if locale == "en" else "message_zh"
        return [str(r.detail.get(key) or r.message) for r in exc.refusals]
    return problems_of(exc, locale)


def _back(form_key: str, record_id: int, problem: list[str] | None = None) -> Response:
    target = f"/forms/{form_key}/records/{record_id}"
    if problem:
        target += "?stage_problem=" + quote("\n".join(problem)[:900])
    return RedirectResponse(target + "#stage", status_code=303)


async def _fields(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: str(v) for k, v in form.items()}


@router.get("/forms/{form_key}/records/{record_id}/stage-bar", response_class=HTMLResponse)
def stage_bar(
    form_key: str, record_id: Id, request: Request, viewer: ViewerDep, problem: str = ""
) -> HTMLResponse:
    """The path bar: stages in order, where the record is, how long, its SLA, and for each
    stage it may move to what is still missing."""
    with viewer.workspace.read() as conn:
        form = get_form(conn, form_key)
        found = status.stage_status(
            conn, actor=viewer.actor, form=form, record_id=record_id, tz=viewer.workspace.tz
        )
        pipeline = (
            next(
                p
                for p in load_pipelines(conn, form_key).pipelines
                if found and p.key == found["pipeline"]["key"]
            )
            if found
            else None
        )
    presenter = Presenter(viewer.locale, viewer.workspace.tz, {})
    if found:
        order = [s["key"] for s in found["stages"]]
        here = order.index(found["stage"]) if found["stage"] in order else -1
        for move in found["moves"]:
            move["back"] = found["stage"] in order and (
                order.index(move["stage"]) < here or found["stages"][here]["category"] == "lost"
            )
        found["in_stage"] = _duration(viewer, found["seconds_in_stage"] or 0)
    return fragment(
        request,
        viewer,
        "stage_bar.html",
        form=form,
        record_id=record_id,
        found=found,
        overridable=bool(pipeline and may_override(viewer.actor, pipeline)),
        problems=[line for line in problem.split("\n") if line],
        presenter=presenter,
        english=viewer.locale == "en",
    )


def _duration(viewer: Viewer, seconds: int) -> str:
    days, rest = divmod(max(seconds, 0), 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return viewer._("{days} d {hours} h", days=days, hours=hours)
    return viewer._("{hours} h {minutes} min", hours=hours, minutes=rest // 60)


@router.post("/forms/{form_key}/records/{record_id}/stage")
async def move_stage(form_key: str, record_id: Id, request: Request, viewer: ViewerDep) -> Response:
    """Move the record to another stage from the path bar (with a reason or an override)."""
    fields = await _fields(request)
    try:
        with viewer.workspace.transaction() as conn:
            form = get_form(conn, form_key)
            pipeline = next(
                (
                    p
                    for p in load_pipelines(conn, form_key).pipelines
                    if p.key == fields.get("pipeline")
                ),
                None,
            )
            if pipeline is None:
                raise ValidationFailed(
                    [
                        FieldError(
                            "pipeline", "unknown", Text("no such pipeline"), fields.get("pipeline")
                        )
                    ]
                )
            service.update_record(
                conn=conn,
                actor=viewer.actor,
                form=form,
                record_id=record_id,
                values={pipeline.stage_field: fields.get("stage") or None},
                tz=viewer.workspace.tz,
                intent=WriteIntent(
                    reason=fields.get("reason") or None, override=fields.get("override") or None
                ),
            )
    except MeridianError as exc:
        return _back(form_key, record_id, refusal_lines(exc, viewer.locale))
    return _back(form_key, record_id)


@router.post("/forms/{form_key}/records/{record_id}/checklist/{item}")
async def tick(
    form_key: str, record_id: Id, item: str, request: Request, viewer: ViewerDep
) -> Response:
    """Tick or untick an SOP checklist item (``ticked`` = ``1`` or ``0``)."""
    fields = await _fields(request)
    try:
        with viewer.workspace.transaction() as conn:
            checklist.set_tick(
                conn,
                actor=viewer.actor,
                form=get_form(conn, form_key),
                record_id=record_id,
                item=item,
                ticked=fields.get("ticked", "1") == "1",
            )
    except MeridianError as exc:
        return _back(form_key, record_id, problems_of(exc, viewer.locale))
    return _back(form_key, record_id)


@router.get("/forms/{form_key}/pipelines", response_class=HTMLResponse)
def designer(
    form_key: str, request: Request, viewer: ViewerDep, pipeline: str = "", problem: str = ""
) -> HTMLResponse:
    """The pipeline designer: the path drawn from the document, stages dragged into order,
    the document (stages, criteria, SOP items, SLAs) edited and checked whole on save."""
    _require_builder(viewer)
    with viewer.workspace.read() as conn:
        form = get_form(conn, form_key)
        documents = pipelines.describe_pipelines(conn, form)
    chosen = next((d for d in documents if d["key"] == pipeline), None)
    if chosen is None and documents and not pipeline:
        chosen = documents[0]
    return _designer_page(request, viewer, form, documents, chosen, pipeline, problem)


def _designer_page(
    request: Request,
    viewer: Viewer,
    form: Any,
    documents: list[dict[str, Any]],
    chosen: dict[str, Any] | None,
    key: str,
    problem: str,
    *,
    source: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    stage_fields = [f for f in form.active_fields if field_type(f).board_grouping]
    if chosen is None:
        field = stage_fields[0] if stage_fields else None
        chosen = {
            "key": key or "main",
            "label": "",
            "label_en": "",
            "stage_field": field.key if field else "",
            "override_roles": [],
            "stages": [
                {"key": o.value, "label": o.label, "category": "open", "entry": [], "exit": []}
                for o in (field.options if field else ())
            ],
        }
    editable = {
        "stages": [
            {k: v for k, v in stage.items() if k not in ("message_en", "message_zh")}
            | {
                phase: [
                    {k: v for k, v in c.items() if k not in ("message_en", "message_zh")}
                    for c in stage.get(phase) or []
                    if isinstance(c, dict)
                ]
                for phase in ("entry", "exit")
            }
            for stage in chosen["stages"]
            if isinstance(stage, dict)
        ]
    }
    return page(
        request,
        viewer,
        "pipeline_designer.html",
        status_code=status_code,
        app_key=form.app_key,
        form_key=form.key,
        form=form,
        documents=documents,
        chosen=chosen,
        stage_fields=stage_fields,
        source=source or json.dumps(editable["stages"], ensure_ascii=False, indent=2),
        problems=[line for line in problem.split("\n") if line],
        english=viewer.locale == "en",
    )


@router.post("/forms/{form_key}/pipelines", response_class=HTMLResponse)
async def save_designed(form_key: str, request: Request, viewer: ViewerDep) -> Response:
    _require_builder(viewer)
    fields = await _fields(request)
    key = fields.get("key", "")
    try:
        stages = json.loads(fields.get("stages") or "[]")
    except json.JSONDecodeError as exc:
        stages = None
        problem = [f"stages: {exc.msg} (line {exc.lineno})"]
    else:
        problem = []
    order = [k for k in (fields.get("order") or "").split(",") if k]
    if isinstance(stages, list) and order:
        rank = {k: i for i, k in enumerate(order)}
        stages.sort(
            key=lambda s: rank.get(str(s.get("key")), len(rank)) if isinstance(s, dict) else 0
        )
    document = {
        "key": key,
        "label": fields.get("label", ""),
        "label_en": fields.get("label_en", ""),
        "stage_field": fields.get("stage_field", ""),
        "selector_field": fields.get("selector_field") or None,
        "selector_value": fields.get("selector_value") or None,
        "override_roles": [
            r.strip() for r in fields.get("override_roles", "").split(",") if r.strip()
        ],
        "stages": stages,
    }
    with viewer.workspace.transaction() as conn:
        form = get_form(conn, form_key)
        if not problem:
            try:
                with conn.begin_nested():
                    pipelines.save_pipeline(conn, actor=viewer.actor, form=form, document=document)
            except ValidationFailed as exc:
                problem = problems_of(exc, viewer.locale)
        documents = pipelines.describe_pipelines(conn, form)
    if problem:
        return _designer_page(
            request,
            viewer,
            form,
            documents,
            {**document, "stages": stages if isinstance(stages, list) else []},
            key,
            "\n".join(problem),
            source=fields.get("stages"),
            status_code=422,
        )
    return RedirectResponse(f"/forms/{form_key}/pipelines?pipeline={quote(key)}", status_code=303)


def _require_builder(viewer: Viewer) -> None:
    if not (viewer.actor.can_build or viewer.actor.is_admin):
        raise PermissionDenied(Text("only builders may design pipelines"))
