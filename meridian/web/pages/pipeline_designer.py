"""The pipeline designer (``/forms/{form}/pipelines``, builders): the stages of a pipeline
dragged into order, each with its category, win probability and SLA, and its entry and exit
criteria edited through one small form per criterion kind (``static/pipelines.js``).

The page only draws; the pipeline document stays the stored format and is saved through the
API (``PUT /api/v1/forms/{form}/pipelines/{key}``), which checks it whole and answers each
refusal with the path of the input it concerns. This module gathers what the pickers offer:
the form's fields, the forms that link to it (related records), roles (who may tick a
checklist item, who may override), approval flows and the rules that act on an SLA.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.engine import Connection

from meridian.access.organisation import named_roles
from meridian.core.i18n import Text
from meridian.errors import PermissionDenied
from meridian.flows.approvals.definitions import list_flows
from meridian.flows.stages import pipelines
from meridian.flows.stages.criteria import criterion_kinds
from meridian.rules.definitions import list_rules
from meridian.schema.catalog import get_form, list_forms
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Form
from meridian.web.pages.automation import picked_field
from meridian.web.pages.common import page
from meridian.web.routing import PageRoute
from meridian.web.session import Viewer, ViewerDep

router = APIRouter(route_class=PageRoute)

KIND_NAMES = {
    "required_field": Text("A field is filled in"),
    "condition": Text("A condition holds"),
    "related_record": Text("A related record exists"),
    "checklist": Text("A checklist item is ticked"),
    "sop_task": Text("An SOP task is done"),
    "approval": Text("An approval is approved"),
    "start_approval": Text("Entering starts an approval"),
}
SLA_TRIGGERS = {
    "stage_sla_warned": Text("warning"),
    "stage_sla_breached": Text("breach"),
}


@router.get("/forms/{form_key}/pipelines", response_class=HTMLResponse)
def designer(
    form_key: str, request: Request, viewer: ViewerDep, pipeline: str = "", saved: str = ""
) -> HTMLResponse:
    """The designer of one pipeline (the first when none is named; ``new`` for a new one)."""
    if not (viewer.actor.can_build or viewer.actor.is_admin):
        raise PermissionDenied(Text("only builders may design pipelines"))
    with viewer.workspace.read() as conn:
        form = get_form(conn, form_key)
        documents = pipelines.describe_pipelines(conn, form)
        catalog = _catalog(conn, viewer, form)
    chosen = next((d for d in documents if d["key"] == pipeline), None)
    if chosen is None and documents and not pipeline:
        chosen = documents[0]
    if chosen is None:
        chosen = _new_pipeline(form, catalog)
    return page(
        request,
        viewer,
        "pipeline_designer.html",
        app_key=form.app_key,
        form_key=form.key,
        form=form,
        documents=documents,
        chosen=chosen,
        editable=_editable(chosen, viewer.locale == "en"),
        catalog=catalog,
        saved=bool(saved),
        english=viewer.locale == "en",
    )


def _new_pipeline(form: Form, catalog: dict[str, Any]) -> dict[str, Any]:
    """A new pipeline starts with every option of the first stage field as an open stage."""
    field = catalog["stage_fields"][0] if catalog["stage_fields"] else None
    return {
        "key": "new",
        "label": "",
        "label_en": "",
        "stage_field": field["key"] if field else "",
        "override_roles": [],
        "stages": [
            {"key": o["value"], "label": o["label"], "category": "open", "entry": [], "exit": []}
            for o in (field["options"] if field else [])
        ],
    }


def _editable(document: dict[str, Any], english: bool) -> dict[str, Any]:
    """The document with each criterion's sentence in the viewer's language only (``said``:
    what a closed stage lists; saving leaves it out)."""
    return {
        **document,
        "stages": [
            {
                **stage,
                **{
                    phase: [
                        {k: v for k, v in c.items() if k not in ("message_en", "message_zh")}
                        | {"said": c.get("message_en" if english else "message_zh") or ""}
                        for c in stage.get(phase) or []
                    ]
                    for phase in ("entry", "exit")
                },
            }
            for stage in document["stages"]
        ],
    }


def _type(form: Form, key: str) -> Any:
    found = form.get_field(key)
    assert found is not None
    return field_type(found)


def _catalog(conn: Connection, viewer: Viewer, form: Form) -> dict[str, Any]:
    """What the designer's pickers offer, in the viewer's language."""
    fields = [picked_field(f) for f in form.active_fields]
    related = []
    flow_forms: dict[str, list[dict[str, str]]] = {form.key: []}
    for other in list_forms(conn):
        links = [
            {"key": f.key, "label": f.label}
            for f in other.active_fields
            if field_type(f).links_records and f.target == form.key and not f.many
        ]
        if links:
            related.append(
                {
                    "key": other.key,
                    "label": other.label,
                    "links": links,
                    "fields": [picked_field(f) for f in other.active_fields],
                }
            )
            flow_forms.setdefault(other.key, links)
    flows = [
        {
            "key": flow["key"],
            "label": flow["label"],
            "form": flow["form"],
            "links": flow_forms[flow["form"]],
        }
        for flow in list_flows(conn)
        if flow["form"] in flow_forms
    ]
    sla_rules = [
        {
            "id": rule["id"],
            "href": f"/admin/rules/{rule['id']}",
            "name": f"{rule['label']} ({viewer._.text(SLA_TRIGGERS[rule['trigger']['type']])})",
            "stages": list(rule["trigger"].get("stages") or []),
        }
        for rule in list_rules(conn, form.key)
        if rule["trigger"].get("type") in SLA_TRIGGERS
    ]
    kinds = list(criterion_kinds(conn))
    return {
        "form": form.key,
        "fields": fields,
        "fillable": [f for f in fields if not _type(form, f["key"]).holds_lines],
        "stage_fields": [
            {"key": f["key"], "label": f["label"], "options": f["options"]}
            for f in fields
            if _type(form, f["key"]).board_grouping
        ],
        "selectors": [f for f in fields if f["options"]],
        "related": related,
        "roles": [{"key": r["key"], "name": viewer._.text(r["name"])} for r in named_roles(conn)],
        "flows": flows,
        "sla_rules": sla_rules,
        "kind_keys": kinds,
        "kinds": {k: viewer._.text(KIND_NAMES[k]) if k in KIND_NAMES else k for k in kinds},
        "texts": {
            "edit": viewer._("Edit"),
            "close": viewer._("Close"),
            "open": viewer._("Open"),
            "won": viewer._("Won"),
            "lost": viewer._("Lost"),
            "sla": viewer._("Time limit"),
            "hours": viewer._("hours"),
            "days": viewer._("days"),
            "criteria": viewer._.plural_texts("{count} criterion", "{count} criteria"),
            "key": viewer._.text(
                Text("give a key of lower-case letters, digits and _ starting with a letter")
            ),
        },
    }
