"""Reading and writing form metadata, with compiled tables cached by form version."""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.db import revisions
from meridian.db.tables import apps, forms, schema_changes
from meridian.errors import NotFound, StaleVersion
from meridian.plugins.manager import Plugins, plugins_of
from meridian.schema.compile import compile_form
from meridian.schema.fieldtypes import field_types_of
from meridian.schema.model import FIELD_TYPES_CONTEXT, App, Form
from meridian.schema.name_keys import refresh_name_keys

_DEFINITION_TEXT = sa.cast(forms.c.definition, sa.Text).label("definition")


@functools.lru_cache(maxsize=512)
def _parsed(definition: str, plugins: Plugins | None) -> Form:
    """A stored definition, parsed once: keyed by its exact text, so any change (or another
    database) is a different key, and forms are immutable, so sharing one is safe. The
    workspace's plugins are part of the key: they give the fields their types."""
    return Form.model_validate_json(
        definition, context={FIELD_TYPES_CONTEXT: field_types_of(plugins)}
    )


def get_form(conn: Connection, key: str) -> Form:
    form = find_form(conn, key)
    if form is None:
        raise NotFound(Text("form {key!r} does not exist", key=key), form=key)
    return form


def find_form(conn: Connection, key: str) -> Form | None:
    """The form's definition: from this process's cache while the ``forms`` revision this
    transaction reads is the one it was kept under, else read (with the token, in one
    statement) and kept."""
    plugins = plugins_of(conn)
    token = revisions.token(conn, revisions.FORMS)
    kept = _forms.get((token, key, plugins)) if token else None
    if kept is not None:
        return kept
    row = conn.execute(_ONE_FORM, {"key": key}).first()
    if row is None:
        return None
    form = _parsed(row.definition, plugins)
    if row.token:
        if len(_forms) >= _KEPT:
            _forms.clear()
        _forms[row.token, key, plugins] = form
    return form


_ONE_FORM = sa.select(_DEFINITION_TEXT, revisions.token_of(revisions.FORMS).label("token")).where(
    forms.c.key == sa.bindparam("key")
)
_forms: dict[tuple[str, str, Plugins | None], Form] = {}
"""Parsed forms by (``forms`` token, key, plugins)."""
_KEPT = 2048


def list_forms(conn: Connection, app_key: str | None = None) -> list[Form]:
    """The forms (of ``app_key``) in the order they were made. Every page's menu lists them:
    kept per process like :func:`find_form`, under the ``forms`` revision read with them."""
    plugins = plugins_of(conn)
    token = revisions.token(conn, revisions.FORMS)
    kept = _listed.get((token, "forms", app_key, plugins)) if token else None
    if kept is not None:
        return list(kept)
    query = _ALL_FORMS if app_key is None else _ALL_FORMS.where(forms.c.app_key == app_key)
    rows = conn.execute(query).all()
    found = [_parsed(row.definition, plugins) for row in rows]
    if rows and rows[0].token:
        _keep((rows[0].token, "forms", app_key, plugins), found)
    return found


_ALL_FORMS = sa.select(
    _DEFINITION_TEXT, revisions.token_of(revisions.FORMS).label("token")
).order_by(forms.c.created_at, forms.c.key)
_listed: dict[tuple[Any, ...], tuple[Any, ...]] = {}
"""The lists of forms and of apps, by (``forms`` token, what, app, plugins). Creating an app
replaces the ``forms`` token too (:func:`insert_app`): the apps are the forms' catalog."""


def _keep(key: tuple[Any, ...], found: list[Any]) -> None:
    if len(_listed) >= _KEPT:
        _listed.clear()  # not evicting one: iterating races with other threads
    _listed[key] = tuple(found)


def get_app(conn: Connection, key: str) -> App:
    row = conn.execute(sa.select(apps).where(apps.c.key == key)).first()
    if row is None:
        raise NotFound(Text("app {key!r} does not exist", key=key), app=key)
    return App(key=row.key, label=row.label, description=row.description)


def list_apps(conn: Connection) -> list[App]:
    """The apps in the order they were made; kept like :func:`list_forms`."""
    token = revisions.token(conn, revisions.FORMS)
    kept = _listed.get((token, "apps")) if token else None
    if kept is not None:
        return list(kept)
    rows = conn.execute(_ALL_APPS).all()
    found = [App(key=r.key, label=r.label, description=r.description) for r in rows]
    if rows and rows[0].token:
        _keep((rows[0].token, "apps"), found)
    return found


_ALL_APPS = sa.select(apps, revisions.token_of(revisions.FORMS).label("token")).order_by(
    apps.c.created_at, apps.c.key
)


def insert_app(conn: Connection, app: App) -> None:
    """A new app, and a new ``forms`` token: lists of apps kept under the old are stale."""
    revisions.bump(conn, revisions.FORMS)
    now = utcnow(conn)
    conn.execute(
        apps.insert().values(
            key=app.key,
            label=app.label,
            description=app.description,
            created_at=now,
            updated_at=now,
        )
    )


def store_form(conn: Connection, form: Form, *, new: bool) -> None:
    """Insert or update the definition; an update must find the previous version in place."""
    definition: dict[str, Any] = form.model_dump(mode="json")
    now = utcnow(conn)
    revisions.bump(conn, revisions.FORMS)
    if new:
        conn.execute(
            forms.insert().values(
                key=form.key,
                app_key=form.app_key,
                version=form.version,
                definition=definition,
                created_at=now,
                updated_at=now,
            )
        )
        return
    before = conn.execute(sa.select(forms.c.definition).where(forms.c.key == form.key)).scalar()
    result = conn.execute(
        forms.update()
        .where(forms.c.key == form.key, forms.c.version == form.version - 1)
        .values(version=form.version, definition=definition, updated_at=now)
    )
    if result.rowcount != 1:
        raise StaleVersion(
            Text("form {key!r} was changed by someone else; reload it and try again", key=form.key),
            form=form.key,
        )
    if _named_by(before) != _named_by(definition):
        refresh_name_keys(conn, compile_form(form).main, form.title_field)


def _named_by(definition: Any) -> tuple[Any, ...]:
    """What a form's stored name keys are made from: its title field's key, type and whether
    it is required (becoming required fills its blanks)."""
    if not isinstance(definition, dict) or not definition.get("title_field"):
        return ()
    key = definition["title_field"]
    field: dict[str, Any] = next(
        (f for f in definition.get("fields", ()) if f.get("key") == key), {}
    )
    return (key, field.get("type"), field.get("required"), field.get("archived"))


def list_schema_changes(conn: Connection, form_key: str) -> list[dict[str, Any]]:
    """A form's change log, newest first."""
    rows = conn.execute(
        sa.select(schema_changes)
        .where(schema_changes.c.form_key == form_key)
        .order_by(schema_changes.c.id.desc())
    )
    return [
        {
            "id": row.id,
            "version": row.version,
            "operation": row.operation,
            "summary": row.summary,
            "before": row.before,
            "after": row.after,
            "actor_id": row.actor_id,
            "created_at": row.created_at.isoformat(),
        }
        for row in rows
    ]
