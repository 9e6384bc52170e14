"""What a template sees: the record as its reader may read it, its links and its lines.

The record is read through the records service as the requesting actor, so fields hidden from
them are absent and a linked record they may not read is empty. Values come typed for the
formatters (amounts as ``Decimal``, dates as dates) and readable for printing (an option's
label, a user's name, a region's names).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.db.tables import users
from meridian.documents.sandbox import Values
from meridian.errors import NotFound, PermissionDenied
from meridian.records import reads
from meridian.schema.catalog import get_form
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Field, Form

USER_COLUMNS = ("owner_id", "created_by", "updated_by")


def record_context(
    *, conn: Connection, actor: Actor, form: Form, record_id: int, tz: ZoneInfo
) -> dict[str, Any]:
    """``record`` (with its links, one level, and its lines), ``raw`` (the API values) and
    ``form`` (its label); ``NotFound`` when the actor may not read the record."""
    visible = form_access(conn, actor, form).visible
    record = reads.get_record(conn=conn, actor=actor, form=form, record_id=record_id, tz=tz)
    linked = _linked_records(conn, actor, visible, record, tz)
    names = _user_names(conn, visible, [record])
    values = _values(visible, record, tz, names)
    for f in visible.active_fields:
        if not field_type(f).links_records or record.get(f.key) in (None, []):
            continue
        ids = record[f.key] if isinstance(record[f.key], list) else [record[f.key]]
        views = [linked.get((f.target or "", i)) or Values({}) for i in ids]
        values[f.key] = views if f.many else views[0]
    return {
        "record": Values(values, _title(visible, values)),
        "raw": Values(record),
        "form": Values({"key": form.key, "label": form.label}),
    }


def _linked_records(
    conn: Connection, actor: Actor, form: Form, record: Mapping[str, Any], tz: ZoneInfo
) -> dict[tuple[str, int], Values]:
    """Each linked record the actor may read, as template values (its own links as ids)."""
    found: dict[tuple[str, int], Values] = {}
    for f in form.active_fields:
        value = record.get(f.key)
        if not field_type(f).links_records or value in (None, []):
            continue
        target = get_form(conn, f.target or "")
        target_visible = form_access(conn, actor, target).visible
        for target_id in value if isinstance(value, list) else [value]:
            try:
                linked = reads.get_record(
                    conn=conn, actor=actor, form=target, record_id=target_id, tz=tz
                )
            except (NotFound, PermissionDenied):
                continue  # unreadable: the template sees an empty record
            names = _user_names(conn, target_visible, [linked])
            values = _values(target_visible, linked, tz, names)
            found[(target.key, target_id)] = Values(values, _title(target_visible, values))
    return found


def _values(
    form: Form, record: Mapping[str, Any], tz: ZoneInfo, names: Mapping[int, str]
) -> dict[str, Any]:
    values: dict[str, Any] = {"id": record["id"]}
    for key in USER_COLUMNS:
        values[key] = names.get(record.get(key) or 0, "")
    for key in ("created_at", "updated_at"):
        if record.get(key):
            values[key] = datetime.fromisoformat(record[key]).astimezone(tz)
    for f in form.active_fields:
        if f.key not in record:
            continue
        value = record[f.key]
        if field_type(f).holds_lines:
            values[f.key] = [
                Values({"id": line.get("id"), **_line(f, line, tz, names)}) for line in value or []
            ]
        elif field_type(f).links_records:
            values[f.key] = [] if f.many else Values({"id": value} if value else {})
        else:
            values[f.key] = _value(f, value, tz, names)
    return values


def _line(
    table: Field, line: Mapping[str, Any], tz: ZoneInfo, names: Mapping[int, str]
) -> dict[str, Any]:
    return {f.key: _value(f, line.get(f.key), tz, names) for f in table.fields if not f.archived}


def _value(f: Field, value: Any, tz: ZoneInfo, names: Mapping[int, str]) -> Any:
    """One API value as templates get it (``FieldType.template_value``)."""
    if value is None:
        return None
    return field_type(f).template_value(f, value, tz, names)


def _title(form: Form, values: Mapping[str, Any]) -> str:
    key = form.title_field
    if key and values.get(key) not in (None, ""):
        return str(values[key])
    return f"#{values['id']}"


def _user_names(conn: Connection, form: Form, records: list[Mapping[str, Any]]) -> dict[int, str]:
    keys = [*USER_COLUMNS, *(f.key for f in form.active_fields if field_type(f).references_users)]
    wanted = set()
    for record in records:
        for key in keys:
            value = record.get(key)
            if isinstance(value, int):
                wanted.add(value)
    if not wanted:
        return {}
    rows = conn.execute(sa.select(users.c.id, users.c.name).where(users.c.id.in_(sorted(wanted))))
    return {row.id: row.name for row in rows}
