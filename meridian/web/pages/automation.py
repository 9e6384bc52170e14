"""Automation for administrators: the rule builder, each rule's run log and dry run, and
outbound webhook subscriptions with their delivery log and replay."""

from __future__ import annotations

import functools
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from meridian.access import manage
from meridian.access.users import active_users
from meridian.core.i18n import Text
from meridian.core.ids import Id
from meridian.errors import FieldError, MeridianError, NotFound, ValidationFailed
from meridian.integrations import webhooks
from meridian.rules import catchup, definitions, dry_runs, engine
from meridian.schema.catalog import list_forms
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Field
from meridian.web.messages import problems_of
from meridian.web.pages.admin import admin_page, changed
from meridian.web.routing import PageRoute
from meridian.web.rule_words import RuleWords, vocabulary
from meridian.web.session import Viewer, ViewerDep

router = APIRouter(route_class=PageRoute, prefix="/admin")

EVENTS = ("RecordCreated", "RecordUpdated", "RecordDeleted", "RecordRestored")


def _catalog(viewer: Viewer) -> dict[str, Any]:
    """Forms with their fields and the users, for the builder's pickers."""
    with viewer.workspace.read() as conn:
        forms = [
            {
                "key": form.key,
                "label": form.label,
                "fields": [picked_field(f) for f in form.active_fields],
            }
            for form in list_forms(conn)
        ]
        users = active_users(conn)
    return {"forms": forms, "users": users}


def picked_field(field: Field) -> dict[str, Any]:
    """One field as the builder's pickers see it: what its type makes it fit for."""
    kind = field_type(field)
    expression = kind.expression_type(field)
    return {
        "key": field.key,
        "label": field.label,
        "type": field.type,
        "target": field.target,
        "many": field.many,
        "options": [{"value": o.value, "label": o.label} for o in field.options],
        "input": kind.filter_input,
        "expr": expression.value if expression is not None else None,
        "links": kind.links_records,
        "tags": kind.has_options and kind.list_valued,
        "free_text": kind.retype_family == "free_text",
        "one_user": kind.references_users and not field.many,
    }


@router.get("/rules", response_class=HTMLResponse)
def rules_page(request: Request, viewer: ViewerDep) -> HTMLResponse:
    manage.require_admin(viewer.actor)
    with viewer.workspace.read() as conn:
        found = definitions.list_rules(conn)
        labels = {form.key: form.label for form in list_forms(conn)}
        words = RuleWords(viewer._, vocabulary(conn, viewer.actor, found))
    return admin_page(
        request, viewer, "admin_rules.html", rules=found, form_labels=labels, words=words
    )


@router.get("/rules/new", response_class=HTMLResponse)
def rule_builder(request: Request, viewer: ViewerDep) -> HTMLResponse:
    manage.require_admin(viewer.actor)
    return admin_page(request, viewer, "rule_builder.html", catalog=_catalog(viewer), rule=None)


@router.get("/rules/{rule_id}/edit", response_class=HTMLResponse)
def rule_editor(rule_id: Id, request: Request, viewer: ViewerDep) -> HTMLResponse:
    """The builder, holding the rule as it is."""
    manage.require_admin(viewer.actor)
    with viewer.workspace.read() as conn:
        rule = definitions.get_rule(conn, rule_id)
    return admin_page(request, viewer, "rule_builder.html", catalog=_catalog(viewer), rule=rule)


@router.post("/rules")
async def create_rule(request: Request, viewer: ViewerDep) -> dict[str, Any]:
    """The builder's rule, checked whole; problems come back as problem details."""
    document = await request.json()
    with viewer.workspace.transaction() as conn:
        rule = definitions.create_rule(conn, viewer.actor, document)
    return {"id": rule["id"], "url": f"/admin/rules/{rule['id']}"}


@router.put("/rules/{rule_id}")
async def update_rule(rule_id: Id, request: Request, viewer: ViewerDep) -> dict[str, Any]:
    document = await request.json()
    with viewer.workspace.transaction() as conn:
        definitions.update_rule(conn, viewer.actor, rule_id, document)
    return {"id": rule_id, "url": f"/admin/rules/{rule_id}"}


@router.post("/rules/{rule_id}/delete")
def delete_rule(rule_id: Id, viewer: ViewerDep) -> Response:
    with viewer.workspace.transaction() as conn:
        definitions.delete_rule(conn, viewer.actor, rule_id)
    return RedirectResponse("/admin/rules", status_code=303)


def _rule_page(request: Request, viewer: Viewer, rule_id: int, **context: Any) -> HTMLResponse:
    manage.require_admin(viewer.actor)
    with viewer.workspace.read() as conn:
        rule = definitions.get_rule(conn, rule_id)
        log = engine.runs(conn, rule_id=rule_id, limit=100, locale=viewer.locale)
        words = RuleWords(viewer._, vocabulary(conn, viewer.actor, [rule]))
        waiting = (
            catchup.window_count(conn, viewer.actor, rule_id, viewer.workspace.tz)
            if rule["trigger"]["type"] in definitions.TIME_TRIGGERS
            else None
        )
    context.setdefault("dry", None)
    context.setdefault("caught_up", None)
    return admin_page(
        request,
        viewer,
        "admin_rule.html",
        rule=rule,
        runs=log,
        words=words,
        described=words.describe(rule),
        waiting=waiting,
        **context,
    )


@router.get("/rules/{rule_id}", response_class=HTMLResponse)
def rule_page(rule_id: Id, request: Request, viewer: ViewerDep) -> HTMLResponse:
    return _rule_page(request, viewer, rule_id)


@router.post("/rules/{rule_id}/enabled")
def set_enabled(rule_id: Id, viewer: ViewerDep, enabled: bool = Form(...)) -> Response:
    with viewer.workspace.transaction() as conn:
        definitions.set_enabled(conn, viewer.actor, rule_id, enabled)
    return RedirectResponse(f"/admin/rules/{rule_id}", status_code=303)


@router.post("/rules/{rule_id}/catch-up", response_class=HTMLResponse)
def catch_up(rule_id: Id, request: Request, viewer: ViewerDep) -> HTMLResponse:
    """Fire the time rule now for the records already inside its window (each once)."""
    try:
        with viewer.workspace.transaction() as conn:
            fired = catchup.catch_up(conn, viewer.actor, rule_id, viewer.workspace.tz)
    except MeridianError as exc:
        return _rule_page(
            request,
            viewer,
            rule_id,
            status_code=exc.status,
            problems=problems_of(exc, viewer.locale),
        )
    return _rule_page(request, viewer, rule_id, caught_up=fired)


@router.post("/rules/{rule_id}/dry-run", response_class=HTMLResponse)
def dry_run(
    rule_id: Id, request: Request, viewer: ViewerDep, record_id: str = Form("")
) -> HTMLResponse:
    """What the rule would do to one record now; nothing is changed."""
    manage.require_admin(viewer.actor)
    try:
        if not record_id.strip().isdecimal():
            raise ValidationFailed(
                [FieldError("record_id", "invalid_id", Text("give a record number"), record_id)]
            )
        with viewer.workspace.transaction() as conn:  # the trial's writes are rolled back
            result = dry_runs.dry_run(conn, rule_id, int(record_id), viewer.workspace.tz)
    except MeridianError as exc:
        return _rule_page(
            request,
            viewer,
            rule_id,
            status_code=exc.status,
            problems=problems_of(exc, viewer.locale),
        )
    return _rule_page(request, viewer, rule_id, dry=result)


# Webhooks ---------------------------------------------------------------------------------------


def _webhooks_page(request: Request, viewer: Viewer, **context: Any) -> HTMLResponse:
    manage.require_admin(viewer.actor)
    with viewer.workspace.read() as conn:
        found = webhooks.list_webhooks(conn, viewer.actor)
        forms = list_forms(conn)
    context.setdefault("created", None)
    return admin_page(
        request,
        viewer,
        "admin_webhooks.html",
        webhooks=found,
        forms=forms,
        events=EVENTS,
        **context,
    )


@router.get("/webhooks", response_class=HTMLResponse)
def webhooks_page(request: Request, viewer: ViewerDep) -> HTMLResponse:
    return _webhooks_page(request, viewer)


@router.post("/webhooks", response_class=HTMLResponse)
async def add_webhook(request: Request, viewer: ViewerDep) -> HTMLResponse:
    """The signing secret is shown on this one response."""
    posted = await request.form()
    return changed(
        viewer,
        lambda conn: webhooks.create_webhook(
            conn,
            viewer.actor,
            form_key=str(posted.get("form_key", "")),
            events=[str(e) for e in posted.getlist("events")],
            url=str(posted.get("url", "")).strip(),
        ),
        functools.partial(_webhooks_page, request, viewer),
        lambda created: {"created": created},
    )


@router.get("/webhooks/{webhook_id}", response_class=HTMLResponse)
def webhook_page(webhook_id: Id, request: Request, viewer: ViewerDep) -> HTMLResponse:
    manage.require_admin(viewer.actor)
    with viewer.workspace.read() as conn:
        log = webhooks.deliveries(conn, viewer.actor, webhook_id, locale=viewer.locale)
        hook = next(
            (w for w in webhooks.list_webhooks(conn, viewer.actor) if w["id"] == webhook_id), None
        )
    if hook is None:
        raise NotFound(
            Text("webhook {webhook_id} does not exist", webhook_id=webhook_id), id=webhook_id
        )
    return admin_page(request, viewer, "admin_webhook.html", hook=hook, deliveries=log)


@router.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/replay")
def replay(webhook_id: Id, delivery_id: Id, viewer: ViewerDep) -> Response:
    with viewer.workspace.transaction() as conn:
        webhooks.replay(conn, viewer.actor, webhook_id, delivery_id)
    return RedirectResponse(f"/admin/webhooks/{webhook_id}", status_code=303)
