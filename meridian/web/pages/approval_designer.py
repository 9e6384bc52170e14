"""The approval flow designer (``/admin/approvals``): the node tree, DingTalk/Feishu style,
edited through forms. A ＋ after any node (or at the start of a branch) adds an approver, CC,
condition, parallel or action node; a node opens in the side panel, whose settings apply as
the builder moves on. The draft travels in the page (one hidden field) and every step is one
htmx request the server answers with the redrawn designer (:mod:`meridian.flows.approvals.drafts`
does the tree edits), so nothing is stored until Save, which checks the flow whole, shows each
problem at its node, and makes a new version."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from meridian.access.organisation import named_roles
from meridian.access.users import active_users
from meridian.core.i18n import Text
from meridian.errors import MeridianError, PermissionDenied, ValidationFailed
from meridian.flows.approvals import definitions, drafts
from meridian.schema.catalog import find_form, list_forms
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Form
from meridian.web.approval_node_form import FILTER_OPERATORS, approver_view, node_from
from meridian.web.messages import problems_of
from meridian.web.pages.common import fragment, page
from meridian.web.routing import PageRoute
from meridian.web.session import Viewer, ViewerDep

router = APIRouter(route_class=PageRoute)


def _require_builder(viewer: Viewer) -> None:
    if not (viewer.actor.is_admin or viewer.actor.can_build):
        raise PermissionDenied(Text("only administrators and builders design approval flows"))


@router.get("/admin/approvals", response_class=HTMLResponse)
def flows_page(request: Request, viewer: ViewerDep) -> HTMLResponse:
    _require_builder(viewer)
    with viewer.workspace.read() as conn:
        flows = definitions.list_flows(conn)
        forms = list_forms(conn)
    return page(
        request, viewer, "approval_flows.html", flows=flows, forms=forms, problems=[], notice=""
    )


def _context(
    viewer: Viewer,
    flow: dict[str, Any],
    draft: dict[str, Any],
    selected: str | None,
    *,
    node_problems: dict[str, list[str]] | None = None,
    problems: list[str] | None = None,
) -> dict[str, Any]:
    """Everything the designer's body draws: the draft, the open node and what its form offers."""
    with viewer.workspace.read() as conn:
        forms = list_forms(conn)
        form: Form | None = find_form(conn, flow["form"]) if flow.get("form") else None
        if form is None and forms:
            form = forms[0]
        people = {u["id"]: u["name"] for u in active_users(conn)}
        roles = named_roles(conn)
    fields = list(form.active_fields) if form else []
    node = drafts.find_node(draft, selected) if selected else None
    return {
        "flow": flow,
        "forms": forms,
        "form": form,
        "fields": fields,
        "user_fields": [f for f in fields if field_type(f).references_users],
        "settable_fields": [
            f
            for f in fields
            if not (
                field_type(f).computed or field_type(f).holds_lines or field_type(f).holds_files
            )
        ],
        "people": people,
        "roles": roles,
        "draft": draft,
        "draft_json": json.dumps(draft, ensure_ascii=False),
        "selected": node["id"] if node else None,
        "node": node,
        "sources": approver_view(node.get("approvers")) if node else {},
        "escalate": approver_view((node.get("timeout") or {}).get("escalate_to")) if node else {},
        "operators": FILTER_OPERATORS,
        "node_problems": node_problems or {},
        "problems": problems or [],
        "saved": False,
    }


@router.get("/admin/approvals/new", response_class=HTMLResponse)
def new_flow(request: Request, viewer: ViewerDep, form: str = "") -> HTMLResponse:
    _require_builder(viewer)
    blank = {"key": "", "label": "", "form": form, "version": 0}
    context = _context(viewer, blank, drafts.blank_definition(), None)
    return page(request, viewer, "approval_designer.html", **context)


@router.get("/admin/approvals/{flow_key}", response_class=HTMLResponse)
def flow_designer(flow_key: str, request: Request, viewer: ViewerDep) -> HTMLResponse:
    _require_builder(viewer)
    with viewer.workspace.read() as conn:
        flow = definitions.get_flow(conn, flow_key)
    context = _context(viewer, flow, dict(flow["definition"]), None)
    return page(
        request,
        viewer,
        "approval_designer.html",
        **{**context, "saved": request.query_params.get("saved") == "1"},
    )


def _posted_flow(posted: FormData) -> dict[str, Any]:
    return {
        "key": str(posted.get("key") or "").strip(),
        "label": str(posted.get("label") or ""),
        "form": str(posted.get("form") or ""),
        "version": int(str(posted.get("version") or "0"))
        if str(posted.get("version") or "0").isdecimal()
        else 0,
    }


def _draft_of(
    viewer: Viewer, posted: FormData, flow: dict[str, Any]
) -> tuple[dict[str, Any], str | None]:
    """The page's draft with the open panel's settings applied to its node."""
    try:
        draft = json.loads(str(posted.get("draft") or "{}"))
    except ValueError:
        draft = {}
    if not isinstance(draft, dict) or not isinstance(draft.get("nodes"), list):
        draft = drafts.blank_definition()
    selected = str(posted.get("selected") or "") or None
    node = drafts.find_node(draft, selected) if selected else None
    if node is not None and posted.get("panel") == selected:
        with viewer.workspace.read() as conn:
            form = find_form(conn, flow["form"])
        if form is not None:
            draft = drafts.replace_node(draft, node["id"], node_from(posted, node, form))
    return draft, selected if node is not None else None


def _step(
    draft: dict[str, Any], selected: str | None, op: str
) -> tuple[dict[str, Any], str | None]:
    """One designer step: ``select:<id>``, ``add:<slot>:<kind>``, ``remove:<id>``,
    ``branch_add:<id>``, ``branch_remove:<id>.<n>``, ``close``; anything else only applies."""
    verb, _, rest = op.partition(":")
    if verb == "select":
        return draft, rest
    if verb == "close":
        return draft, None
    if verb == "add":
        slot, _, kind = rest.rpartition(":")
        return drafts.add_node(draft, kind=kind, slot=slot)
    if verb == "remove":
        changed = drafts.remove_node(draft, rest)
        return changed, selected if selected and drafts.find_node(changed, selected) else None
    if verb == "branch_add":
        return drafts.add_branch(draft, rest), rest
    if verb == "branch_remove":
        node_id, _, number = rest.partition(".")
        if number.isdecimal():
            return drafts.remove_branch(draft, node_id, int(number)), node_id
    return draft, selected


@router.post("/admin/approvals/draft", response_class=HTMLResponse)
async def draft_step(request: Request, viewer: ViewerDep) -> HTMLResponse:
    """One step of the designer: the open node's settings applied, then ``op``; the redrawn
    designer body back (nothing is stored)."""
    _require_builder(viewer)
    posted = await request.form()
    flow = _posted_flow(posted)
    draft, selected = _draft_of(viewer, posted, flow)
    problems: list[str] = []
    try:
        draft, selected = _step(draft, selected, str(posted.get("op") or ""))
    except drafts.DraftError:
        problems.append(viewer._("The flow changed in another tab; reload the page."))
    context = _context(viewer, flow, draft, selected, problems=problems)
    return fragment(request, viewer, "approval_designer_body.html", **context)


@router.post("/admin/approvals", response_class=HTMLResponse)
async def save_flow(request: Request, viewer: ViewerDep) -> Response:
    """Save the draft as a new version; every problem is shown at its node, all at once."""
    _require_builder(viewer)
    posted = await request.form()
    flow = _posted_flow(posted)
    draft, selected = _draft_of(viewer, posted, flow)
    try:
        with viewer.workspace.transaction() as conn:
            saved = definitions.save_flow(conn, viewer.actor, {**flow, "definition": draft})
    except MeridianError as exc:
        at_nodes, elsewhere = _placed(exc, draft, viewer)
        context = _context(
            viewer, flow, draft, selected, node_problems=at_nodes, problems=elsewhere
        )
        return page(request, viewer, "approval_designer.html", status_code=exc.status, **context)
    return RedirectResponse(f"/admin/approvals/{saved['key']}?saved=1", status_code=303)


def _placed(
    exc: MeridianError, draft: dict[str, Any], viewer: Viewer
) -> tuple[dict[str, list[str]], list[str]]:
    """The refusal's messages by the node they concern; the rest (key, name, form) apart."""
    errors = exc.errors if isinstance(exc, ValidationFailed) else []
    at_nodes: dict[str, list[str]] = {}
    elsewhere: list[str] = []
    for error in errors:
        lines = problems_of(ValidationFailed([error]), viewer.locale)
        node_id = drafts.node_at(draft, error.field)
        if node_id is not None:
            at_nodes.setdefault(node_id, []).extend(lines)
        else:
            elsewhere.extend(line for line in lines if line not in elsewhere)
    if not errors:
        elsewhere = problems_of(exc, viewer.locale)
    return at_nodes, elsewhere
