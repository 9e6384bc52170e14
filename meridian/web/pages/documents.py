"""Documents in the browser: a form's print templates and their editor, and the documents
panel of a record page (generate from a template, download what was generated)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from meridian.access.permissions import form_access
from meridian.core.ids import Id
from meridian.documents import generate, reading, templates, word_pdf
from meridian.documents.placeholders import placeholders
from meridian.errors import MeridianError, NotFound
from meridian.schema.catalog import find_form, get_form
from meridian.web.messages import localized, problems_of
from meridian.web.pages.common import fragment, page
from meridian.web.routing import PageRoute
from meridian.web.session import Viewer, ViewerDep

router = APIRouter(route_class=PageRoute)


@router.get("/forms/{form_key}/templates", response_class=HTMLResponse)
def template_list(form_key: str, request: Request, viewer: ViewerDep) -> HTMLResponse:
    with viewer.workspace.read() as conn:
        form = get_form(conn, form_key)
        found = templates.list_templates(conn=conn, actor=viewer.actor, form=form)
        manager = templates.may_manage_templates(conn, viewer.actor, form)
    return page(
        request,
        viewer,
        "document_templates.html",
        app_key=form.app_key,
        form_key=form_key,
        form=form,
        templates=found,
        manager=manager,
    )


@router.get("/forms/{form_key}/templates/new", response_class=HTMLResponse)
def new_template(form_key: str, request: Request, viewer: ViewerDep) -> HTMLResponse:
    return _editor(request, viewer, form_key, None)


@router.get("/forms/{form_key}/templates/{key}/edit", response_class=HTMLResponse)
def edit_template(form_key: str, key: str, request: Request, viewer: ViewerDep) -> HTMLResponse:
    with viewer.workspace.read() as conn:
        current = templates.get_template(conn=conn, form_key=form_key, key=key)
    return _editor(request, viewer, form_key, current)


@router.post("/forms/{form_key}/templates", response_class=HTMLResponse)
async def save_template(form_key: str, request: Request, viewer: ViewerDep) -> Response:
    posted = await request.form()
    draft = _draft(posted)
    try:
        with viewer.workspace.transaction() as conn:
            saved = templates.save_template(
                conn=conn,
                actor=viewer.actor,
                form=get_form(conn, form_key),
                draft=draft,
                tz=viewer.workspace.tz,
            )
    except MeridianError as exc:
        return _editor(
            request,
            viewer,
            form_key,
            draft,
            problems=problems_of(exc, viewer.locale),
            status_code=exc.status,
            new=posted.get("new") == "1",
        )
    return RedirectResponse(
        f"/forms/{form_key}/templates/{saved['key']}/edit?saved={saved['version']}",
        status_code=303,
    )


def _draft(posted: Any) -> dict[str, Any]:
    """The editor's fields as a template draft; the service checks it."""
    margins = [str(posted.get(f"margin_{side}", "")).strip() for side in ("t", "r", "b", "l")]
    return {
        "key": str(posted.get("key", "")).strip(),
        "label": str(posted.get("label", "")).strip(),
        "body": str(posted.get("body", "")),
        "condition": str(posted.get("condition", "")).strip(),
        "number_pattern": str(posted.get("number_pattern", "")).strip(),
        "sign": posted.get("sign") == "on",
        "page": {
            "size": str(posted.get("size", "A4")),
            "orientation": str(posted.get("orientation", "portrait")),
            "margins_mm": margins,
            "header": str(posted.get("header", "")),
            "footer": str(posted.get("footer", "")),
            "page_numbers": posted.get("page_numbers") == "on",
        },
    }


def _editor(
    request: Request,
    viewer: Viewer,
    form_key: str,
    current: dict[str, Any] | None,
    *,
    problems: list[str] | None = None,
    status_code: int = 200,
    new: bool | None = None,
) -> HTMLResponse:
    with viewer.workspace.read() as conn:
        form = get_form(conn, form_key)
        templates.require_template_manager(conn=conn, actor=viewer.actor, form=form)

        def target_of(key: str) -> Any:
            target = find_form(conn, key)
            return None if target is None else form_access(conn, viewer.actor, target).visible

        offered = placeholders(form, target_of)
        versions = (
            templates.template_versions(conn=conn, form_key=form_key, key=current["key"])
            if current and current.get("version")
            else []
        )
    groups: dict[str, list[dict[str, str]]] = {}
    for placeholder in offered:
        group = viewer._("Document") if placeholder.group == "document" else placeholder.group
        label = localized(placeholder.label, viewer.locale)
        groups.setdefault(group, []).append({"label": label, "snippet": placeholder.snippet})
    return page(
        request,
        viewer,
        "document_template.html",
        status_code=status_code,
        app_key=form.app_key,
        form_key=form_key,
        form=form,
        document_template=current or {},
        new=current is None if new is None else new,
        groups=groups,
        snippets=json.dumps([p.snippet for p in offered], ensure_ascii=False),
        versions=versions,
        saved=request.query_params.get("saved"),
        problems=problems or [],
    )


@router.get("/forms/{form_key}/records/{record_id}/documents", response_class=HTMLResponse)
def documents_panel(
    form_key: str, record_id: Id, request: Request, viewer: ViewerDep
) -> HTMLResponse:
    """The record page's documents section (loaded by htmx)."""
    return _panel(request, viewer, form_key, record_id)


@router.post("/forms/{form_key}/records/{record_id}/documents", response_class=HTMLResponse)
async def generate_document(
    form_key: str, record_id: Id, request: Request, viewer: ViewerDep
) -> HTMLResponse:
    """Generate from the chosen template; the panel comes back with the new document, or
    with why it could not be made."""
    posted = await request.form()
    try:
        made = generate.generate_document(
            engine=viewer.workspace.engine,
            actor=viewer.actor,
            settings=viewer.workspace.settings,
            form_key=form_key,
            record_id=record_id,
            template_key=str(posted.get("template", "")),
            tz=viewer.workspace.tz,
        )
    except NotFound:
        raise
    except MeridianError as exc:
        return _panel(
            request, viewer, form_key, record_id, problems=problems_of(exc, viewer.locale)
        )
    return _panel(request, viewer, form_key, record_id, made=made)


@router.post(
    "/forms/{form_key}/records/{record_id}/documents/{document_id}/pdf",
    response_class=HTMLResponse,
)
def make_document_pdf(
    form_key: str, record_id: Id, document_id: Id, request: Request, viewer: ViewerDep
) -> HTMLResponse:
    """Ask LibreOffice for a Word document's PDF (as a job); the panel comes back with the
    document converting, or with why it cannot be."""
    problems: list[str] = []
    with viewer.workspace.transaction() as conn:
        found = reading.document_file(
            conn=conn,
            actor=viewer.actor,
            form_key=form_key,
            record_id=record_id,
            document_id=document_id,
            tz=viewer.workspace.tz,
        )
        if found["pdf"] == "missing":
            problems = problems_of(word_pdf.pdf_refusal("missing", None), viewer.locale)
        elif found["pdf"] in ("none", "failed"):
            word_pdf.queue_pdf(conn, document_id)
    return _panel(request, viewer, form_key, record_id, problems=problems)


def _panel(
    request: Request,
    viewer: Viewer,
    form_key: str,
    record_id: Id,
    *,
    problems: list[str] | None = None,
    made: dict[str, Any] | None = None,
) -> HTMLResponse:
    with viewer.workspace.read() as conn:
        form = get_form(conn, form_key)
        found = reading.list_documents(
            conn=conn,
            actor=viewer.actor,
            form_key=form_key,
            record_id=record_id,
            tz=viewer.workspace.tz,
        )
        offered = templates.list_templates(conn=conn, actor=viewer.actor, form=form)
        manager = templates.may_manage_templates(conn, viewer.actor, form)
    return fragment(
        request,
        viewer,
        "document_panel.html",
        form=form,
        record_id=record_id,
        documents=found,
        templates=offered,
        manager=manager,
        problems=problems or [],
        made=made,
        localized=lambda message: localized(message, viewer.locale),
    )
