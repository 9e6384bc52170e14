"""Saved views: a user's named grid, kanban or calendar settings, private or shared.

A view stores how to look (columns, sort, filter, search, grouping), never what may be seen:
whoever opens a shared view still sees only the rows and fields their rights allow.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.db.tables import saved_views
from meridian.errors import ErrorCollector, NotFound, PermissionDenied
from meridian.schema.catalog import find_form
from meridian.schema.model import Form
from meridian.schema.view_indexes import reconcile_view_indexes

KINDS = ("grid", "kanban", "calendar")
_SETTINGS = {
    "kind": str,
    "columns": list,
    "sort": str,
    "filter": str,
    "q": str,
    "by": str,
    "sum": str,
}


def _mine_or_shared(actor: Actor) -> Any:
    return sa.or_(saved_views.c.owner_id == actor.user_id, saved_views.c.shared.is_(True))


def list_views(conn: Connection, actor: Actor, form_key: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(saved_views)
        .where(saved_views.c.form_key == form_key, _mine_or_shared(actor))
        .order_by(saved_views.c.shared, saved_views.c.name, saved_views.c.id)
    )
    return [dict(row._mapping) for row in rows]


def get_view(conn: Connection, actor: Actor, form_key: str, view_id: int) -> dict[str, Any]:
    row = conn.execute(
        sa.select(saved_views).where(
            saved_views.c.id == view_id,
            saved_views.c.form_key == form_key,
            _mine_or_shared(actor),
        )
    ).first()
    if row is None:
        raise NotFound(
            Text("no view {view_id} of form {form_key!r}", view_id=view_id, form_key=form_key),
            view=view_id,
        )
    return dict(row._mapping)


def save_view(
    conn: Connection, actor: Actor, form: Form, *, name: str, shared: bool, settings: str
) -> dict[str, Any]:
    """Store a view; sharing one with everyone takes the right to manage the form."""
    access = form_access(conn, actor, form)
    access.require("read")
    errors = ErrorCollector()
    name = (name or "").strip()
    if not 1 <= len(name) <= 200:
        errors.add("name", "invalid_name", Text("a view needs a name of 1 to 200 characters"), name)
    try:
        parsed = json.loads(settings)
    except json.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict) or parsed.get("kind", "grid") not in KINDS:
        errors.add(
            "settings", "invalid_settings", Text("settings are an object with a kind"), settings
        )
    else:
        for key, value in parsed.items():
            if key not in _SETTINGS or not isinstance(value, _SETTINGS[key]):
                errors.add(
                    f"settings.{key}", "invalid_settings", Text("unknown or mistyped"), value
                )
    errors.raise_if_any()
    if shared and not (actor.is_admin or actor.can_build or access.may("manage")):
        raise PermissionDenied(Text("sharing a view takes the right to manage the form"))
    values = {
        "form_key": form.key,
        "name": name,
        "owner_id": actor.user_id,
        "shared": shared,
        "settings": parsed,
        "created_at": utcnow(conn),
    }
    inserted = conn.execute(saved_views.insert().values(**values)).inserted_primary_key
    assert inserted is not None
    view_id = int(inserted[0])
    reconcile_view_indexes(conn, form)  # what it filters, sorts or groups on gets its index
    return {"id": view_id, **values}


def delete_view(conn: Connection, actor: Actor, form_key: str, view_id: int) -> None:
    """Only its owner (or an administrator) removes a view."""
    view = get_view(conn, actor, form_key, view_id)
    if view["owner_id"] != actor.user_id and not actor.is_admin:
        raise PermissionDenied(Text("only the owner of a view may delete it"))
    conn.execute(saved_views.delete().where(saved_views.c.id == view_id))
    form = find_form(conn, form_key)
    if form is not None:
        reconcile_view_indexes(conn, form)  # an index no view asks for anymore goes
