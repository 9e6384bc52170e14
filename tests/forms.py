"""Small forms for tests that need one, in the app 销售 (key ``sales``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from meridian.core.actor import Actor
from meridian.schema import changes
from meridian.schema.model import App, Form, parse_model


def select_field(key: str, label: str, *options: tuple[str, str]) -> dict[str, Any]:
    """A single select with (value, label) options."""
    return {
        "key": key,
        "label": label,
        "type": "select",
        "options": [{"value": value, "label": text} for value, text in options],
    }


STAGE = select_field("stage", "阶段", ("new", "新线索"), ("won", "赢单"))


def install_forms(conn: Connection, *definitions: dict[str, Any]) -> list[Form]:
    """The app and the forms, created by Meridian itself as a builder would."""
    system = Actor.system()
    changes.create_app(conn=conn, actor=system, app=App(key="sales", label="销售"))
    return [
        changes.create_form(
            conn=conn, actor=system, form=parse_model(Form, {"app_key": "sales", **definition})
        )
        for definition in definitions
    ]


def lead_form(*fields: dict[str, Any]) -> dict[str, Any]:
    """线索 (key ``lead``), titled by its ``name`` field."""
    return {"key": "lead", "label": "线索", "title_field": "name", "fields": list(fields)}
