"""Lifecycle stages in the browser: the path bar of a record (where it is, time in stage, SLA,
what is missing to move on, the SOP checklist, moving with a reason or an override). The
pipeline designer is ``pipeline_designer.py``."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from meridian.core.i18n import Text
from meridian.core.ids import Id
from meridian.errors import FieldError, MeridianError, ValidationFailed
from meridian.flows.stages import checklist, status
from meridian.flows.stages.gates import may_override
from meridian.flows.stages.model import load_pipelines
from meridian.records import service
from meridian.records.guards import WriteIntent, WriteRefused
from meridian.schema.catalog import get_form
from meridian.web.display import Presenter
from meridian.web.messages import problems_of
from meridian.web.pages.common import fragment
from meridian.web.routing import PageRoute
from meridian.web.session import Viewer, ViewerDep

router = APIRouter(route_class=PageRoute)


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
            conn,
            actor=viewer.actor,
            form=form,
            record_id=record_id,
            tz=viewer.workspace.tz,
            locale=viewer.locale,
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
