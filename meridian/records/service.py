"""The one write path for one record: validate → write row → history → events, in one
transaction. Many records at once go through :mod:`meridian.records.bulk`; reads live in
:mod:`meridian.records.reads`.

Every function takes the caller's connection (inside its transaction) and the acting user.
Nothing here commits; the caller's ``transaction()`` decides, so a failure anywhere leaves
no trace.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.core.timezones import DEFAULT_TIME_ZONE
from meridian.db.writes import writes_to
from meridian.errors import Conflict, ErrorCollector, FieldError, StaleVersion, ValidationFailed
from meridian.events.records import RecordDeleted, RecordRestored, RecordUpdated
from meridian.records.formulas import FormulaRunner
from meridian.records.guards import (
    ProposedWrite,
    WriteBatch,
    WriteIntent,
    guard_writes,
    row_facts,
)
from meridian.records.history import write_history
from meridian.records.plan import plan_for
from meridian.records.reads import (
    echo_columns,
    echoed_record,
    get_record,
    load_row_and_facts,
    read_sides,
)
from meridian.records.references import (
    check_references,
    check_unique,
    linked_ids,
    unique_writes,
)
from meridian.records.search import index_search_texts, record_search_text
from meridian.records.subscribers import announce
from meridian.records.values import ParsedRecord, RecordParser
from meridian.records.writing import (
    dump_lines,
    dumped_pairs,
    has_expressions,
    insert_echoed,
    refresh_rollups,
    require_rows,
    stored_lines_of,
    writable,
    write_sides,
)
from meridian.schema.expressions import compile_form_expressions
from meridian.schema.fieldtypes import ValueContext
from meridian.schema.model import Form
from meridian.schema.name_keys import name_key_values


def create_record(
    *,
    conn: Connection,
    actor: Actor,
    form: Form,
    values: Mapping[str, Any],
    tz: ZoneInfo = DEFAULT_TIME_ZONE,
    intent: WriteIntent | None = None,
) -> dict[str, Any]:
    """Create one record and return it as the API shows it: from the row the INSERT returned,
    unless something wrote the table after it (then read again)."""
    echo = echo_columns(conn, actor, form, tz)
    done = insert_echoed(conn, actor, form, [values], tz, prefixes=[""], intent=intent, echo=echo)
    [record_id] = done.ids
    if done.row is not None and writes_to(conn, plan_for(form).tables.main) == done.writes:
        return echoed_record(conn, actor, form, done.row, tz)
    return get_record(conn=conn, actor=actor, form=form, record_id=record_id, tz=tz)


def update_record(
    *,
    conn: Connection,
    actor: Actor,
    form: Form,
    record_id: int,
    values: Mapping[str, Any],
    expected_version: int | None = None,
    tz: ZoneInfo = DEFAULT_TIME_ZONE,
    intent: WriteIntent | None = None,
) -> dict[str, Any]:
    """Change the given fields; a stale ``expected_version`` or a concurrent write gets 412.

    The write guards (``records.guards``) judge the change before it is written; ``intent``
    carries a reason or an override for them.
    """
    plan = plan_for(form)
    table = plan.tables.main
    access = form_access(conn, actor, form)
    readable = access.rows(conn, table, "read", tz)
    current, facts = load_row_and_facts(
        conn, table, record_id, row_facts(conn, form, table), visible_to=readable
    )
    require_rows(conn, access, table, record_id, "update", tz)
    version = current["_version"]
    if expected_version is not None and expected_version != version:
        raise StaleVersion(
            Text(
                "record {record_id} is at version {version}, not {expected_version}; reload it",
                record_id=record_id,
                version=version,
                expected_version=expected_version,
            ),
            id=record_id,
            current_version=version,
        )
    errors = ErrorCollector()
    values = writable(access, values, "", errors, conn)
    parsed = RecordParser(form).parse(values, ValueContext(tz), errors, creating=False)
    old_sides = read_sides(conn, plan, [record_id]).get(record_id, {})
    kept = [linked_ids(form, {**current, **old_sides})]
    check_references(conn, form, [parsed], errors, [""], actor=actor, tz=tz, kept=kept)
    check_unique(conn, form, [parsed], errors, [""], [record_id])
    errors.raise_if_any()
    proposed = {**current, **parsed.columns}
    if has_expressions(form):
        runner = FormulaRunner(conn, form, compile_form_expressions(conn, form), tz)
        current_lines = stored_lines_of(conn, plan, [record_id], runner.children)[record_id]
        runner.apply([proposed], [{**current_lines, **parsed.lines}], errors, [""])
        errors.raise_if_any()
    changed = {
        key: value
        for key, value in proposed.items()
        if key in plan.writable and current[key] != value
    }
    changes = {key: [old, new] for key, old, new in dumped_pairs(plan, current, changed)}
    for key, lines in parsed.lines.items():
        new_lines = dump_lines(plan, key, lines)
        old_lines = [
            {k: v for k, v in line.items() if k != "id"} for line in old_sides.get(key, [])
        ]
        if new_lines != old_lines:
            changes[key] = [old_lines, new_lines]
    for key, ids in parsed.pairs.items():
        if sorted(ids) != sorted(old_sides.get(key, [])):
            changes[key] = [old_sides.get(key, []), ids]
    if not changes:
        return get_record(conn=conn, actor=actor, form=form, record_id=record_id, tz=tz)
    intent = intent or WriteIntent()
    merged = {**current, **changed}
    proposal = ProposedWrite(record_id, "", current, merged, frozenset(changes), facts)
    guard_writes(conn, WriteBatch(form, actor, "update", [proposal], intent))
    now = utcnow(conn)
    assignments = {
        **changed,
        "_version": version + 1,
        "updated_at": now,
        "updated_by": actor.user_id,
    }
    if any(f.key in changed for f in plan.search_fields):
        assignments["_search"] = record_search_text(plan.search_fields, merged)
    if plan.name_field in changed:
        assignments.update(name_key_values(plan.name_field, merged))
    echo = echo_columns(conn, actor, form, tz)
    changing = _update_returning(table, tuple(echo or ()))
    with unique_writes(conn, form, [parsed], [""], [record_id]):
        result = conn.execute(
            changing, {**assignments, _ID_BIND: record_id, _VERSION_BIND: version}
        )
        echoed = result.first() if echo else None
    if (echoed is None) if echo else result.rowcount != 1:
        raise StaleVersion(
            Text("record {record_id} was changed by someone else; reload it", record_id=record_id),
            id=record_id,
        )
    writes = writes_to(conn, table)
    if "_search" in assignments:
        index_search_texts(conn, plan.tables, {record_id: assignments["_search"]})
    side_changes = ParsedRecord(
        lines={k: v for k, v in parsed.lines.items() if k in changes},
        pairs={k: v for k, v in parsed.pairs.items() if k in changes},
    )
    write_sides(conn, form, plan.tables, [(record_id, side_changes)], replace=True)
    write_history(conn, form.key, [(record_id, version + 1, "update", changes)], actor.user_id, now)
    refresh_rollups(conn, form, [current, proposed])
    announce(
        conn,
        form,
        [RecordUpdated(form.key, record_id, actor.user_id, version + 1, changes)],
        {record_id: {**current, **assignments}},
        intent,
    )
    if echoed is not None and writes_to(conn, table) == writes:
        return echoed_record(conn, actor, form, echoed, tz)
    return get_record(conn=conn, actor=actor, form=form, record_id=record_id, tz=tz)


_ID_BIND = "meridian_record_id"
_VERSION_BIND = "meridian_record_version"


@functools.lru_cache(maxsize=256)
def _update_returning(table: sa.Table, echo: tuple[sa.Column[Any], ...]) -> sa.Update:
    """One record's UPDATE at the version read (its SET clause: the columns the execution's
    parameters name), giving back the ``echo`` columns; made once per table and columns
    (SQLAlchemy keys a statement's compiled form by walking it, once per statement object)."""
    changing = table.update().where(
        table.c.id == sa.bindparam(_ID_BIND), table.c._version == sa.bindparam(_VERSION_BIND)
    )
    return changing.returning(*echo) if echo else changing


def delete_record(
    *,
    conn: Connection,
    actor: Actor,
    form: Form,
    record_id: int,
    expected_version: int | None = None,
    tz: ZoneInfo = DEFAULT_TIME_ZONE,
) -> None:
    """Move a record to the trash; it keeps its data and can be restored."""
    _set_deleted(conn, actor, form, record_id, expected_version, tz, delete=True)


def restore_record(
    *, conn: Connection, actor: Actor, form: Form, record_id: int, tz: ZoneInfo = DEFAULT_TIME_ZONE
) -> dict[str, Any]:
    """Bring a record back from the trash, unless a live record took one of its unique values."""
    _set_deleted(conn, actor, form, record_id, None, tz, delete=False)
    return get_record(conn=conn, actor=actor, form=form, record_id=record_id, tz=tz)


def _set_deleted(
    conn: Connection,
    actor: Actor,
    form: Form,
    record_id: int,
    expected_version: int | None,
    tz: ZoneInfo,
    *,
    delete: bool,
) -> None:
    plan = plan_for(form)
    table = plan.tables.main
    access = form_access(conn, actor, form)
    readable = access.rows(conn, table, "read", tz)
    row, facts = load_row_and_facts(
        conn,
        table,
        record_id,
        row_facts(conn, form, table) if delete else {},
        deleted=not delete,
        visible_to=readable,
    )
    require_rows(conn, access, table, record_id, "delete", tz)
    version = row["_version"]
    if delete:
        trashed = ProposedWrite(record_id, "", row, row, frozenset(), facts)
        guard_writes(conn, WriteBatch(form, actor, "delete", [trashed], WriteIntent()))
    if expected_version is not None and expected_version != version:
        raise StaleVersion(
            Text(
                "record {record_id} is at version {version}, not {expected_version}",
                record_id=record_id,
                version=version,
                expected_version=expected_version,
            ),
            id=record_id,
        )
    # A restored record takes its unique values back; a trashed one gives nothing up.
    unique_values = ParsedRecord(
        columns={} if delete else {f.key: row[f.key] for f in plan.column_fields if f.unique}
    )
    errors = ErrorCollector()
    check_unique(conn, form, [unique_values], errors, [""], [record_id])
    if errors.errors:
        raise _not_restorable(record_id, errors.errors)
    now = utcnow(conn)
    assignments = {
        "deleted_at": now if delete else None,
        "_version": version + 1,
        "updated_at": now,
        "updated_by": actor.user_id,
    }
    try:
        with unique_writes(conn, form, [unique_values], [""], [record_id]):
            result = conn.execute(
                table.update()
                .where(table.c.id == record_id, table.c._version == version)
                .values(assignments)
            )
    except ValidationFailed as exc:
        raise _not_restorable(record_id, exc.errors) from None
    if result.rowcount != 1:
        raise StaleVersion(
            Text("record {record_id} was changed by someone else; reload it", record_id=record_id),
            id=record_id,
        )
    action = "delete" if delete else "restore"
    write_history(conn, form.key, [(record_id, version + 1, action, {})], actor.user_id, now)
    event = RecordDeleted if delete else RecordRestored
    refresh_rollups(conn, form, [row])
    announce(
        conn,
        form,
        [event(form.key, record_id, actor.user_id, version + 1)],
        {record_id: {**row, **assignments}},
    )


def _not_restorable(record_id: int, errors: list[FieldError]) -> Conflict:
    return Conflict(
        Text(
            "record {record_id} cannot be restored: {message}",
            record_id=record_id,
            message=errors[0].message,
        ),
        errors=[e.as_dict() for e in errors],
    )
