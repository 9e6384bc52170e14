"""Administration pages for what connects Meridian to other systems' chat and alerts: group
robot channels (WeCom, DingTalk, Feishu) and inbound hooks with their field mapping."""

from __future__ import annotations

import functools
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from meridian.access import organisation
from meridian.access.users import active_users
from meridian.core.ids import Id
from meridian.integrations import inbound
from meridian.notify import inbox
from meridian.schema.catalog import find_form, list_forms
from meridian.web.hook_form import mapping_from
from meridian.web.pages.admin import admin_page, changed, removed
from meridian.web.routing import PageRoute
from meridian.web.session import Viewer, ViewerDep

router = APIRouter(route_class=PageRoute, prefix="/admin")


# Bot channels -----------------------------------------------------------------------------------


def _bots_page(request: Request, viewer: Viewer, **context: Any) -> HTMLResponse:
    with viewer.workspace.read() as conn:
        channels = inbox.list_bot_channels(conn, viewer.actor)
    context.setdefault("created", None)
    return admin_page(
        request, viewer, "admin_bots.html", channels=channels, kinds=inbox.BOT_KINDS, **context
    )


@router.get("/bots", response_class=HTMLResponse)
def bots_page(request: Request, viewer: ViewerDep) -> HTMLResponse:
    return _bots_page(request, viewer)


@router.post("/bots", response_class=HTMLResponse)
async def add_bot(request: Request, viewer: ViewerDep) -> HTMLResponse:
    posted = await request.form()
    return changed(
        viewer,
        lambda conn: inbox.create_bot_channel(
            conn,
            viewer.actor,
            kind=str(posted.get("kind", "")),
            name=str(posted.get("name", "")),
            webhook_url=str(posted.get("webhook_url", "")).strip(),
            secret=str(posted.get("secret", "")).strip() or None,
        ),
        functools.partial(_bots_page, request, viewer),
        lambda created: {"created": created},
    )


@router.post("/bots/{channel_id}/delete")
def delete_bot(channel_id: Id, request: Request, viewer: ViewerDep) -> Response:
    return removed(
        viewer,
        lambda conn: inbox.delete_bot_channel(conn, viewer.actor, channel_id),
        functools.partial(_bots_page, request, viewer),
        "/admin/bots",
    )


# Inbound hooks ----------------------------------------------------------------------------------


def _hooks_page(
    request: Request, viewer: Viewer, form_key: str = "", **context: Any
) -> HTMLResponse:
    with viewer.workspace.read() as conn:
        hooks = inbound.list_hooks(conn, viewer.actor)
        forms = list_forms(conn)
        chosen = find_form(conn, form_key) if form_key else (forms[0] if forms else None)
        people = active_users(conn)
        departments = organisation.list_departments(conn)
    context.setdefault("created", None)
    context.setdefault("posted", {})
    return admin_page(
        request,
        viewer,
        "admin_hooks.html",
        hooks=hooks,
        forms=forms,
        chosen=chosen,
        form_labels={form.key: form.label for form in forms},
        people=people,
        departments=departments,
        **context,
    )


@router.get("/hooks", response_class=HTMLResponse)
def hooks_page(request: Request, viewer: ViewerDep, form: str = "") -> HTMLResponse:
    return _hooks_page(request, viewer, form)


@router.post("/hooks", response_class=HTMLResponse)
async def add_hook(request: Request, viewer: ViewerDep) -> HTMLResponse:
    """The hook's secret URL is shown on this one response."""
    posted = await request.form()
    form_key = str(posted.get("form_key", ""))

    def create(conn: Any) -> dict[str, Any]:
        form = find_form(conn, form_key)
        mapping = mapping_from(posted, form) if form is not None else {}
        return inbound.create_hook(
            conn, viewer.actor, name=str(posted.get("name", "")), form_key=form_key, mapping=mapping
        )

    return changed(
        viewer,
        create,
        functools.partial(_hooks_page, request, viewer, form_key, posted=dict(posted.items())),
        lambda created: {"created": created, "posted": {}},
    )


@router.post("/hooks/{hook_id}/delete")
def delete_hook(hook_id: Id, request: Request, viewer: ViewerDep) -> Response:
    return removed(
        viewer,
        lambda conn: inbound.delete_hook(conn, viewer.actor, hook_id),
        functools.partial(_hooks_page, request, viewer),
        "/admin/hooks",
    )
