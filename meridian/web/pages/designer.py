"""The form designer: a palette dragged onto sections, a properties panel, preview and save."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from meridian.errors import ValidationFailed
from meridian.expr.errors import ExpressionError
from meridian.schema import changes, design
from meridian.schema.catalog import get_app, get_form, list_apps, list_forms
from meridian.schema.fieldtypes import BUILTIN_FIELD_TYPES, field_types_of
from meridian.schema.model import App, parse_model
from meridian.schema.naming import key_from_label
from meridian.web.i18n import N_
from meridian.web.messages import problems_of
from meridian.web.pages.common import page
from meridian.web.routing import PageRoute
from meridian.web.session import Viewer, ViewerDep

router = APIRouter(route_class=PageRoute)

PALETTE = (
    ("text", N_("Text")),
    ("long_text", N_("Long text")),
    ("integer", N_("Integer")),
    ("decimal", N_("Decimal")),
    ("money", N_("Money")),
    ("percent", N_("Percent")),
    ("boolean", N_("Yes / no")),
    ("date", N_("Date")),
    ("datetime", N_("Date and time")),
    ("select", N_("Single select")),
    ("multi_select", N_("Multi select")),
    ("user", N_("User")),
    ("link", N_("Link to another form")),
    ("child_table", N_("Line items")),
    ("attachment", N_("Attachment")),
    ("email", N_("Email")),
    ("phone", N_("Phone")),
    ("url", N_("URL")),
    ("auto_number", N_("Auto number")),
    ("region", N_("Region")),
    ("uscc", N_("Credit code (USCC)")),
    ("ip", N_("IP address / CIDR")),
    ("formula", N_("Formula")),
)


def _palette(viewer: Viewer) -> list[dict[str, Any]]:
    """The types a field can have, each with what the designer asks its type: its settings
    and how the preview shows it. A plugin's types follow the built-in ones, named as
    registered."""
    types = field_types_of(viewer.workspace.plugins)
    labels = {name: viewer._(label) for name, label in PALETTE}
    added = [name for name in types if name not in BUILTIN_FIELD_TYPES]
    return [
        {
            "type": name,
            "label": labels.get(name, name),
            "settings": list(types[name].designer_settings),
            "widget": types[name].widget,
            "input_type": types[name].input_type,
            "fits_column": types[name].fits_column,
        }
        for name in [*labels, *added]
    ]


def _draft_of(form: Any) -> dict[str, Any]:
    """The stored form as the designer edits it: fields with their section's position."""
    placement = {key: index for index, s in enumerate(form.sections) for key in s.fields}
    sections = [{"title": s.title, "columns": s.columns} for s in form.sections]
    if not sections or any(f.key not in placement for f in form.active_fields):
        sections.append({"title": "", "columns": 2})
    last = len(sections) - 1
    return {
        "key": form.key,
        "label": form.label,
        "description": form.description,
        "title_field": form.title_field,
        "new": False,
        "sections": sections,
        "fields": [
            {
                **f.model_dump(mode="json", exclude={"archived"}),
                "section": placement.get(f.key, last),
            }
            for f in form.active_fields
        ],
    }


@router.get("/apps/{app_key}/designer", response_class=HTMLResponse)
@router.get("/apps/{app_key}/designer/{form_key}", response_class=HTMLResponse)
def designer(
    app_key: str, request: Request, viewer: ViewerDep, form_key: str | None = None
) -> HTMLResponse:
    changes.require_builder(viewer.actor)
    with viewer.workspace.read() as conn:
        app = get_app(conn, app_key)
        draft = (
            _draft_of(get_form(conn, form_key))
            if form_key
            else {
                "key": "",
                "label": "",
                "new": True,
                "sections": [{"title": "", "columns": 2}],
                "fields": [],
            }
        )
        targets = [{"key": f.key, "label": f.label} for f in list_forms(conn)]
    _ = viewer._
    return page(
        request,
        viewer,
        "designer.html",
        app_key=app_key,
        form_key=form_key,
        app=app,
        draft=draft,
        palette=_palette(viewer),
        targets=targets,
    )


@router.post("/apps/{app_key}/designer")
async def save(app_key: str, request: Request, viewer: ViewerDep) -> dict[str, Any]:
    """Apply the whole draft in one transaction; a refusal changes nothing and says why."""
    draft = await request.json()
    with viewer.workspace.transaction() as conn:
        form = design.save_draft(
            conn=conn, actor=viewer.actor, app_key=app_key, draft=draft, tz=viewer.workspace.tz
        )
        saved = _draft_of(form)
    return {"draft": saved, "url": f"/forms/{form.key}"}


@router.post("/apps/{app_key}/designer/formula")
async def check_formula(app_key: str, request: Request, viewer: ViewerDep) -> dict[str, Any]:
    """Live checking of a formula as the builder types it."""
    changes.require_builder(viewer.actor)
    body = await request.json()
    expression = str(body.get("expression") or "") if isinstance(body, dict) else ""
    try:
        with viewer.workspace.read() as conn:
            compiled = design.check_formula(
                conn, app_key=app_key, draft=body.get("draft"), expression=expression
            )
    except ExpressionError as exc:
        return {"ok": False, "message": viewer._.text(exc.message), "position": exc.position}
    except ValidationFailed as exc:
        return {
            "ok": False,
            "message": "; ".join(problems_of(exc, viewer.locale)),
            "position": None,
        }
    return {"ok": True, "type": str(compiled.result_type)}


@router.post("/apps")
def create_app(viewer: ViewerDep, label: str = Form(...), key: str = Form("")) -> Response:
    with viewer.workspace.transaction() as conn:
        taken = {a.key for a in list_apps(conn)}
        app = parse_model(
            App, {"key": key.strip() or key_from_label(label, taken), "label": label.strip()}
        )
        changes.create_app(conn=conn, actor=viewer.actor, app=app)
    return RedirectResponse(f"/apps/{app.key}", status_code=303)
