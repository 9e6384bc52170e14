"""What every signed-in page shares: the navigation, and rendering with the viewer's language."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy.engine import Connection

from meridian.access.permissions import form_access
from meridian.flows.approvals.inbox import pending_counted
from meridian.flows.tasks.service import due_counted
from meridian.notify.inbox import unread_counted
from meridian.plugins.menu import MenuLink
from meridian.schema.catalog import list_apps, list_forms
from meridian.schema.model import App, Form
from meridian.web.session import Viewer
from meridian.web.templating import render


@dataclass(frozen=True)
class Nav:
    apps: list[App]
    app: App | None = None
    forms: list[Form] = field(default_factory=list)
    form_key: str | None = None
    unread: int = 0
    links: list[MenuLink] = field(default_factory=list)
    """The plugins' top-menu links for this viewer (``menu_actions``)."""
    tasks_due: int = 0
    """The viewer's open tasks that are overdue or due today (the header's number)."""
    approvals: int = 0
    """The viewer's approval tasks waiting for them (待我审批)."""


def build_nav(conn: Connection, viewer: Viewer, app_key: str | None, form_key: str | None) -> Nav:
    """Apps, and the current app's forms the viewer may read."""
    apps = list_apps(conn)
    app = next((a for a in apps if a.key == app_key), None)
    forms = []
    if app is not None:
        forms = [
            form
            for form in list_forms(conn, app.key)
            if form_access(conn, viewer.actor, form).may("read")
        ]
    links = [
        link
        for found in reversed(viewer.workspace.plugins.hook.menu_actions(actor=viewer.actor))
        for link in found
    ]
    actor = viewer.actor
    due, unread, pending = conn.execute(  # the three badges in one statement
        sa.select(
            due_counted(conn, actor, viewer.workspace.tz).scalar_subquery(),
            unread_counted(actor).scalar_subquery(),
            pending_counted(actor).scalar_subquery(),
        )
    ).one()
    return Nav(apps, app, forms, form_key, int(unread), links, int(due), int(pending))


def page(
    request: Request,
    viewer: Viewer,
    template: str,
    *,
    app_key: str | None = None,
    form_key: str | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    with viewer.workspace.read() as conn:
        nav = build_nav(conn, viewer, app_key, form_key)
    return render(
        request, template, viewer._, status_code=status_code, viewer=viewer, nav=nav, **context
    )


def fragment(request: Request, viewer: Viewer, template: str, **context: Any) -> HTMLResponse:
    """A piece of a page for htmx to swap in: no navigation."""
    return render(request, template, viewer._, viewer=viewer, nav=None, **context)


def plugin_page(request: Request, viewer: Viewer, *, title: str, content: str) -> HTMLResponse:
    """A plugin's page in Meridian's layout, menu and language: ``content`` is the plugin's
    HTML (a ``markupsafe.Markup``; plain text is escaped)."""
    return page(request, viewer, "plugin_page.html", title=title, content=content)
