"""The fields a report builder offers for one form, as the builder reads it: the form's own
reportable fields, the system columns, the owner's department and, one level across each
link, the linked form's fields."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.errors import NotFound, ValidationFailed
from meridian.records.readable import Readable
from meridian.reports.terms import OWNER_DEPARTMENT, Terms
from meridian.schema.catalog import get_form
from meridian.schema.fieldtypes import field_type

SYSTEM = (
    ("owner_id", "Owner / 负责人"),
    (OWNER_DEPARTMENT, "Owner's department / 负责人部门"),
    ("created_at", "Created / 创建时间"),
    ("created_by", "Created by / 创建人"),
)


def report_fields(
    *, conn: Connection, actor: Actor, form_key: str, tz: ZoneInfo
) -> list[dict[str, Any]]:
    """``[{"ref", "label", "kind"}]``: what a dimension or a measure of ``form_key`` may name."""
    form = get_form(conn, form_key)
    access = form_access(conn, actor, form)
    access.require("read")
    terms = Terms(conn, actor, tz, Readable.of(conn, access, tz))
    found: list[dict[str, Any]] = []

    def offer(ref: str, label: str) -> None:
        try:
            term = terms.resolve(ref, "field")
        except ValidationFailed:
            return
        found.append({"ref": ref, "label": label, "kind": term.kind})

    visible = terms.form
    for field in visible.active_fields:
        offer(field.key, field.label)
    for key, label in SYSTEM:
        offer(key, label)
    for link in visible.active_fields:
        if not field_type(link).links_records or link.many:
            continue
        try:
            target = form_access(conn, actor, get_form(conn, link.target or "")).visible
        except NotFound:  # a link to a form removed since: nothing to offer there
            continue
        for field in target.active_fields:
            offer(f"{link.key}.{field.key}", f"{link.label} · {field.label}")
    return found
