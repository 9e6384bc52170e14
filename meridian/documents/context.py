"""What a template sees: the record as its reader may read it, its links and its lines.

The record is read through the records service as the requesting actor, so fields hidden from
them are absent and a linked record they may not read is empty. Values come typed for the
formatters (amounts as ``Decimal``, dates as dates) and readable for printing (an option's
label, a user's name, a region's names).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.core.i18n import Text
from meridian.db.sets import one_of
from meridian.db.tables import users
from meridian.documents.sandbox import Values
from meridian.errors import NotFound
from meridian.records import reads
from meridian.records.readable import Readable
from meridian.schema.catalog import get_form
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Field, Form

USER_COLUMNS = ("owner_id", "created_by", "updated_by")


def record_context(
    *, conn: Connection, actor: Actor, form: Form, record_id: int, tz: ZoneInfo
) -> dict[str, Any]:
    """``record`` (with its links, one level, and its lines), ``raw`` (the API values) and
    ``form`` (its label); ``NotFound`` when the actor may not read the record."""
    found = records_contexts(conn=conn, actor=actor, form=form, record_ids=[record_id], tz=tz)
    if record_id not in found:
        raise NotFound(
            Text(
                "record {record_id} of form {key!r} is not found",
                record_id=record_id,
                key=form.key,
            ),
            id=record_id,
        )
    return found[record_id]


def records_contexts(
    *, conn: Connection, actor: Actor, form: Form, record_ids: Sequence[int], tz: ZoneInfo
) -> dict[int, dict[str, Any]]:
    """Each record's context (see :func:`record_context`) by id, read set-based: one query
    for the rows, one per side table, one per linked form, one for users' names — however
    many records. A record the actor may not read is absent."""
    access = form_access(conn, actor, form)
    visible = access.visible
    readable = Readable.of(conn, access, tz)
    rows = conn.execute(
        readable.select().where(one_of(conn, readable.table.c.id, list(record_ids)))
    ).all()
    records = reads.dump_rows(conn, readable.plan, rows, actor=actor, tz=tz)
    reads.audit_sensitive_reads(conn, actor, readable.form, records)
    linked = _linked_records(conn, actor, visible, records, tz)
    names = _user_names(conn, visible, records)
    contexts: dict[int, dict[str, Any]] = {}
    for record in records:
        values = _values(visible, record, tz, names)
        for f in visible.active_fields:
            if not field_type(f).links_records or record.get(f.key) in (None, []):
                continue
            ids = record[f.key] if isinstance(record[f.key], list) else [record[f.key]]
            views = [linked.get((f.target or "", i)) or Values({}) for i in ids]
            values[f.key] = views if f.many else views[0]
        contexts[record["id"]] = {
            "record": Values(values, _title(visible, values)),
            "raw": Values(record),
            "form": Values({"key": form.key, "label": form.label}),
        }
    return contexts


def _linked_records(
    conn: Connection,
    actor: Actor,
    form: Form,
    records: Sequence[Mapping[str, Any]],
    tz: ZoneInfo,
) -> dict[tuple[str, int], Values]:
    """Each linked record the actor may read, as template values (its own links as ids);
    one read per linked form for all ``records``."""
    wanted: dict[str, set[int]] = {}
    for f in form.active_fields:
        if not field_type(f).links_records or not f.target:
            continue
        for record in records:
            value = record.get(f.key)
            if value in (None, []):
                continue
            wanted.setdefault(f.target, set()).update(value if isinstance(value, list) else [value])
    found: dict[tuple[str, int], Values] = {}
    for target_key, target_ids in wanted.items():
        target = get_form(conn, target_key)
        access = form_access(conn, actor, target)
        if not access.may("read"):
            continue  # unreadable: the template sees empty records
        readable = Readable.of(conn, access, tz)
        rows = conn.execute(
            readable.select().where(one_of(conn, readable.table.c.id, sorted(target_ids)))
        ).all()
        linked = reads.dump_rows(conn, readable.plan, rows, actor=actor, tz=tz)
        reads.audit_sensitive_reads(conn, actor, readable.form, linked)
        names = _user_names(conn, access.visible, linked)
        for one in linked:
            values = _values(access.visible, one, tz, names)
            found[(target.key, one["id"])] = Values(values, _title(access.visible, values))
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


def _user_names(
    conn: Connection, form: Form, records: Sequence[Mapping[str, Any]]
) -> dict[int, str]:
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
