"""Reading records as the API shows them: one record, a page of rows with their line items
and link lists, a record's history — each only as far as the actor may read."""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row
from sqlalchemy.sql.elements import ColumnElement

from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.core.i18n import N_, Text
from meridian.core.timezones import DEFAULT_TIME_ZONE
from meridian.errors import NotFound
from meridian.events.audit import audit
from meridian.records.expand import expand_links
from meridian.records.history import read_history
from meridian.records.plan import FormPlan, plan_for
from meridian.records.readable import Readable
from meridian.schema.model import DERIVED_COLUMNS, SYSTEM_COLUMNS, Form

SYSTEM_OUTPUT = tuple(column for column in SYSTEM_COLUMNS if column not in DERIVED_COLUMNS)
_SYSTEM_CONVERTERS: dict[str, Callable[[Any], Any] | None] = {
    key: (datetime.isoformat if key.endswith("_at") else None) for key in SYSTEM_OUTPUT
}


def load_row(
    conn: Connection,
    table: sa.Table,
    record_id: int,
    *,
    deleted: bool | None = False,
    visible_to: ColumnElement[bool] | None = None,
) -> Row[Any]:
    """The row, or ``NotFound`` — also when ``visible_to`` (the actor's read scope) excludes
    it, so a record the actor may not read does not give its existence away."""
    return _first_row(conn, table, (), record_id, deleted=deleted, visible_to=visible_to)


def load_row_and_facts(
    conn: Connection,
    table: sa.Table,
    record_id: int,
    facts: Mapping[str, ColumnElement[Any]],
    *,
    deleted: bool | None = False,
    visible_to: ColumnElement[bool] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """:func:`load_row`'s stored columns, and the write guards' row ``facts``
    (``records.guards.row_facts``) read in the same statement, each by its name."""
    names = list(facts)
    extra = tuple(facts[name] for name in names)
    row = _first_row(conn, table, extra, record_id, deleted=deleted, visible_to=visible_to)
    width = len(table.c)
    stored = dict(zip(table.c.keys(), row[:width], strict=True))
    return stored, dict(zip(names, row[width:], strict=True))


_ROW_ID = "meridian_row_id"


@functools.lru_cache(maxsize=512)
def _row_by_id(
    table: sa.Table, extra: tuple[ColumnElement[Any], ...], deleted: bool | None
) -> sa.Select[Any]:
    """The row by its id (a parameter), with ``extra`` columns; made once per table, columns
    and trash state: SQLAlchemy keys a statement's compiled form by walking it, once per
    statement object, and a form's table has ~30 columns to walk."""
    query = sa.select(table, *extra).where(table.c.id == sa.bindparam(_ROW_ID))
    if deleted is not None:
        query = query.where(
            table.c.deleted_at.is_not(None) if deleted else table.c.deleted_at.is_(None)
        )
    return query


def _first_row(
    conn: Connection,
    table: sa.Table,
    extra: tuple[ColumnElement[Any], ...],
    record_id: int,
    *,
    deleted: bool | None,
    visible_to: ColumnElement[bool] | None,
) -> Row[Any]:
    query = _row_by_id(table, extra, deleted)
    if visible_to is not None:
        query = query.where(visible_to)
    row = conn.execute(query, {_ROW_ID: record_id}).first()
    if row is None:
        message = (
            N_("record {record_id} of form {form!r} is not in the trash")
            if deleted
            else N_("record {record_id} of form {form!r} is not found")
        )
        raise NotFound(Text(message, record_id=record_id, form=table.name[5:]), id=record_id)
    return row


def get_record(
    *,
    conn: Connection,
    actor: Actor,
    form: Form,
    record_id: int,
    include_deleted: bool = False,
    expand: Sequence[str] = (),
    tz: ZoneInfo = DEFAULT_TIME_ZONE,
) -> dict[str, Any]:
    """One record as the API shows it, with line items, link lists and expanded links."""
    access = form_access(conn, actor, form)
    readable = Readable.of(conn, access, tz, deleted=None if include_deleted else False)
    row = read_row(conn, readable, record_id)
    [record] = dump_rows(conn, readable.plan, [row], expand=expand, actor=actor, tz=tz)
    audit_sensitive_reads(conn, actor, readable.form, [record])
    return record


def echo_columns(
    conn: Connection, actor: Actor, form: Form, tz: ZoneInfo
) -> list[sa.Column[Any]] | None:
    """The columns a write may take back with ``RETURNING`` to answer as :func:`get_record`
    would, without reading the record again: those the actor sees. None when the actor's read
    scope limits the rows — then the record is read through it after the write, which refuses
    a record the write took out of the actor's reach."""
    readable = Readable.of(conn, form_access(conn, actor, form), tz)
    if len(readable.where) != 1:  # more than "not in the trash"
        return None
    main = plan_for(form).tables.main
    return [main.c[column.name] for column in readable.table.c]


def echoed_record(
    conn: Connection, actor: Actor, form: Form, row: Row[Any], tz: ZoneInfo
) -> dict[str, Any]:
    """The record as :func:`get_record` shows it, from the row a write returned with the
    :func:`echo_columns`."""
    readable = Readable.of(conn, form_access(conn, actor, form), tz)
    [record] = dump_rows(conn, readable.plan, [row], actor=actor, tz=tz)
    audit_sensitive_reads(conn, actor, readable.form, [record])
    return record


def read_row(conn: Connection, readable: Readable, record_id: int) -> Row[Any]:
    """The record's row among the readable ones, or ``NotFound``: a record the actor may not
    read does not give its existence away."""
    row = conn.execute(readable.select().where(readable.table.c.id == record_id)).first()
    if row is None:
        message = Text(
            "record {record_id} of form {key!r} is not found",
            record_id=record_id,
            key=readable.form.key,
        )
        raise NotFound(message, id=record_id)
    return row


def audit_sensitive_reads(
    conn: Connection, actor: Actor, form: Form, records: Sequence[Mapping[str, Any]]
) -> None:
    """One audit entry for the records whose sensitive fields were just shown to a user."""
    sensitive = [f.key for f in form.active_fields if f.sensitive]
    if not sensitive or actor.user_id is None:
        return
    shown = [r["id"] for r in records if any(r.get(key) is not None for key in sensitive)]
    if shown:
        audit(
            conn,
            actor_id=actor.user_id,
            action="sensitive_read",
            object_type=form.key,
            object_id=shown[0] if len(shown) == 1 else "",
            detail={"fields": sensitive, "records": shown},
        )


def dump_rows(
    conn: Connection,
    plan: FormPlan,
    rows: Sequence[Row[Any]],
    *,
    actor: Actor,
    expand: Sequence[str] = (),
    tz: ZoneInfo = DEFAULT_TIME_ZONE,
    raw: Mapping[str, Callable[[Any], Any]] = MappingProxyType({}),
    only: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """Rows → API records, reading line items, pairs and expansions set-based for the page;
    ``raw`` readers for the columns selected raw (see :class:`ListColumns`); the line items
    and pairs of the fields ``only`` names (None: all)."""
    ids = [row.id for row in rows]
    sides = read_sides(conn, plan, ids, only)
    read = plan.dumper.reader(rows[0]._fields if rows else (), _SYSTEM_CONVERTERS, raw)
    records = []
    for row in rows:
        record = read(row)
        record.update(sides[row.id])
        records.append(record)
    if expand:
        expand_links(conn, plan.form, records, expand, actor, tz)
    return records


def read_sides(
    conn: Connection, plan: FormPlan, ids: Sequence[int], only: Collection[str] | None = None
) -> dict[int, dict[str, Any]]:
    """Line items and many-to-many ids of live fields (of those ``only`` names, if given), one
    query per side table."""
    tables = plan.tables
    result: dict[int, dict[str, Any]] = {rid: {} for rid in ids}
    if not ids:
        return result
    for key, lines_table in tables.lines.items():
        if key not in plan.line_dumpers or (only is not None and key not in only):
            continue
        for rid in ids:
            result[rid][key] = []
        query = (
            sa.select(lines_table)
            .where(lines_table.c._parent_id.in_(ids))
            .order_by(lines_table.c._parent_id, lines_table.c._position)
        )
        for line in conn.execute(query):
            mapping = line._mapping
            result[line._parent_id][key].append(
                {"id": line.id, **plan.line_dumpers[key].dump(mapping)}
            )
    for key, pairs_table in tables.links.items():
        if key not in plan.live_keys or (only is not None and key not in only):
            continue
        for rid in ids:
            result[rid][key] = []
        query = (
            sa.select(pairs_table)
            .where(pairs_table.c.source_id.in_(ids))
            .order_by(pairs_table.c.target_id)
        )
        for pair in conn.execute(query):
            result[pair.source_id][key].append(pair.target_id)
    return result


def record_history(
    *, conn: Connection, actor: Actor, form: Form, record_id: int, tz: ZoneInfo = DEFAULT_TIME_ZONE
) -> list[dict[str, Any]]:
    """Every change to a record, oldest first (also for records in the trash), without the
    fields hidden from the actor."""
    access = form_access(conn, actor, form)
    read_row(conn, Readable.of(conn, access, tz, deleted=None), record_id)
    entries = read_history(conn, form.key, record_id)
    if access.hidden:
        for entry in entries:
            entry["changes"] = {
                key: change for key, change in entry["changes"].items() if key not in access.hidden
            }
    return entries
