"""An app as one JSON package: its forms in dependency order, importable elsewhere as is."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from meridian.core.actor import Actor
from meridian.core.i18n import Text
from meridian.errors import FieldError, ValidationFailed
from meridian.events.audit import audit
from meridian.schema.catalog import get_app, list_forms
from meridian.schema.changes import create_app, create_form, require_builder
from meridian.schema.fieldtypes import field_type, types_context
from meridian.schema.model import App, Form, parse_model

PACKAGE_FORMAT = "meridian.app/1"


def export_app(*, conn: Connection, actor: Actor, app_key: str) -> dict[str, Any]:
    """The app and its forms (archived fields included), link targets first."""
    require_builder(actor)
    app = get_app(conn, app_key)
    forms = _dependency_order(list_forms(conn, app_key))
    audit(conn, actor_id=actor.user_id, action="app_exported", object_type="app", object_id=app_key)
    return {
        "format": PACKAGE_FORMAT,
        "app": app.model_dump(mode="json"),
        "forms": [form.model_dump(mode="json", exclude={"version", "app_key"}) for form in forms],
    }


def _dependency_order(forms: list[Form]) -> list[Form]:
    by_key = {form.key: form for form in forms}
    ordered: list[Form] = []
    placed: set[str] = set()

    def place(form: Form, trail: frozenset[str]) -> None:
        if form.key in placed or form.key in trail:
            return
        for field in form.fields:
            target = by_key.get(field.target or "")
            if field_type(field).links_records and target is not None and target.key != form.key:
                place(target, trail | {form.key})
        placed.add(form.key)
        ordered.append(form)

    for form in forms:
        place(form, frozenset())
    return ordered


def import_app(*, conn: Connection, actor: Actor, package: dict[str, Any]) -> App:
    """Create the app and every form of a package, all or nothing (the caller's transaction)."""
    if package.get("format") != PACKAGE_FORMAT:
        raise ValidationFailed(
            [
                FieldError(
                    "format",
                    "unknown_format",
                    Text("expected {format!r}", format=PACKAGE_FORMAT),
                    package.get("format"),
                )
            ]
        )
    app = create_app(conn=conn, actor=actor, app=parse_model(App, package.get("app")))
    drafts = package.get("forms")
    if not isinstance(drafts, list):
        raise ValidationFailed(
            [FieldError("forms", "invalid_forms", Text("expected a list of forms"), drafts)]
        )
    for draft in drafts:
        form = (
            parse_model(Form, {**draft, "app_key": app.key}, types_context(conn))
            if isinstance(draft, dict)
            else None
        )
        if form is None:
            raise ValidationFailed(
                [FieldError("forms", "invalid_form", Text("expected a form object"), draft)]
            )
        create_form(conn=conn, actor=actor, form=form)
    audit(
        conn,
        actor_id=actor.user_id,
        action="app_imported",
        object_type="app",
        object_id=app.key,
        detail={"forms": len(drafts)},
    )
    return app
