"""Approvals in the browser: the inbox (待我审批 / 我已审批 / 我发起的 / 抄送我的) with approve,
reject and bulk approve; the approval panel of a record (submit, decide, recall, the trail);
the flow designer is :mod:`.approval_designer`."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from meridian.access.users import user_names
from meridian.core.i18n import Text
from meridian.core.ids import Id
from meridian.errors import MeridianError, PermissionDenied
from meridian.flows.approvals import definitions, inbox, operations
from meridian.schema.catalog import get_form, list_forms
from meridian.web.display import Presenter
from meridian.web.messages import localized, problems_of
from meridian.web.pages.common import fragment, page
from meridian.web.routing import PageRoute
from meridian.web.session import ViewerDep

router = APIRouter(route_class=PageRoute)

BOXES = ("pending", "done", "submitted", "cc")


def _back(target: Any, fallback: str) -> str:
    """Only a path of this site: a form's ``back`` never sends the browser elsewhere."""
    text = str(target or "")
    return text if text.startswith("/") and not text.startswith("//") else fallback


def _redirect(back: str, problem: str = "") -> Response:
    if problem:
        joiner = "&" if "?" in back else "?"
        back = f"{back}{joiner}problem={quote(problem[:300])}"
    return RedirectResponse(back, status_code=303)


@router.get("/approvals", response_class=HTMLResponse)
def approvals_inbox(
    request: Request, viewer: ViewerDep, box: str = "pending", problem: str = ""
) -> HTMLResponse:
    box = box if box in BOXES else "pending"
    with viewer.workspace.read() as conn:
        found = inbox.inbox(conn, viewer.actor, box=box)
        forms = {form.key: form.label for form in list_forms(conn)}
        names = user_names(conn, [i["submitter_id"] for i in found["items"]])
    presenter = Presenter(viewer.locale, viewer.workspace.tz, names)
    return page(
        request,
        viewer,
        "approvals_inbox.html",
        box=box,
        boxes=BOXES,
        found=found,
        form_labels=forms,
        presenter=presenter,
        problem=problem,
    )


async def _fields(request: Request) -> dict[str, Any]:
    form = await request.form()
    return {key: form.getlist(key) if key == "task_ids" else form.get(key) for key in form}


@router.post("/approvals/tasks/{task_id}/{act}")
async def decide(task_id: Id, act: str, request: Request, viewer: ViewerDep) -> Response:
    """Approve, reject or return a task from the inbox or the record page."""
    fields = await _fields(request)
    back = _back(fields.get("back"), "/approvals")
    comment = str(fields.get("comment") or "")
    try:
        with viewer.workspace.transaction() as conn:
            if act == "approve":
                operations.approve(conn=conn, actor=viewer.actor, task_id=task_id, comment=comment)
            elif act == "reject":
                to = str(fields.get("to") or "") or None
                operations.reject(
                    conn=conn, actor=viewer.actor, task_id=task_id, comment=comment, to=to
                )
            elif act == "return":
                operations.return_for_edit(
                    conn=conn, actor=viewer.actor, task_id=task_id, comment=comment
                )
            else:
                raise PermissionDenied(Text("no such act {act!r}", act=act))
    except MeridianError as exc:
        return _redirect(back, "; ".join(problems_of(exc, viewer.locale)))
    return _redirect(back)


@router.post("/approvals/bulk-approve")
async def bulk_approve(request: Request, viewer: ViewerDep) -> Response:
    fields = await _fields(request)
    ids = [int(i) for i in fields.get("task_ids") or [] if str(i).isdecimal() and len(i) < 19]
    if not ids:
        return _redirect("/approvals")
    try:
        with viewer.workspace.transaction() as conn:
            result = operations.bulk_approve(conn=conn, actor=viewer.actor, task_ids=ids)
    except MeridianError as exc:
        return _redirect("/approvals", "; ".join(problems_of(exc, viewer.locale)))
    refused = [
        f"#{r['task_id']}: {localized(r['message'], viewer.locale)}" for r in result["refused"]
    ]
    return _redirect("/approvals", "; ".join(refused))


@router.get("/forms/{form_key}/records/{record_id}/approval", response_class=HTMLResponse)
def approval_panel(
    form_key: str, record_id: Id, request: Request, viewer: ViewerDep
) -> HTMLResponse:
    """The record's approval panel: submit, decide, recall, and every approval's trail."""
    with viewer.workspace.read() as conn:
        form = get_form(conn, form_key)
        found = operations.record_approvals(conn, viewer.actor, form_key, record_id)
        flows = definitions.list_flows(conn, form_key)
        mentioned = (
            {a["submitter_id"] for a in found}
            | {entry for a in found for t in a["tasks"] for entry in (t["assignee_id"],)}
            | {e["actor_id"] for a in found for e in a["trail"]}
        )
        presenter = Presenter(viewer.locale, viewer.workspace.tz, user_names(conn, mentioned))
    current = found[0] if found and found[0]["state"] in ("running", "returned") else None
    mine = [
        t
        for t in (current["tasks"] if current else [])
        if t["state"] == "pending" and t["assignee_id"] == viewer.actor.user_id
    ]
    return fragment(
        request,
        viewer,
        "approval_panel.html",
        form=form,
        record_id=record_id,
        approvals=found,
        current=current,
        mine=mine,
        flows=flows,
        presenter=presenter,
        problem=request.query_params.get("problem", ""),
    )


@router.post("/forms/{form_key}/records/{record_id}/approvals")
async def submit(form_key: str, record_id: Id, request: Request, viewer: ViewerDep) -> Response:
    fields = await _fields(request)
    back = f"/forms/{form_key}/records/{record_id}"
    try:
        with viewer.workspace.transaction() as conn:
            operations.submit(
                conn=conn,
                actor=viewer.actor,
                flow_key=str(fields.get("flow") or ""),
                record_id=record_id,
                comment=str(fields.get("comment") or ""),
            )
    except MeridianError as exc:
        return _redirect(back, "; ".join(problems_of(exc, viewer.locale)))
    return _redirect(back)


@router.post("/approvals/{approval_id}/recall")
async def recall(approval_id: Id, request: Request, viewer: ViewerDep) -> Response:
    fields = await _fields(request)
    back = _back(fields.get("back"), "/approvals?box=submitted")
    try:
        with viewer.workspace.transaction() as conn:
            operations.recall(conn=conn, actor=viewer.actor, approval_id=approval_id)
    except MeridianError as exc:
        return _redirect(back, "; ".join(problems_of(exc, viewer.locale)))
    return _redirect(back)
