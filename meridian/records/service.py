"""The one write path for records: validate → write row → history → events, in one transaction.

Every function takes the caller's connection (inside its transaction) and the acting user.
Nothing here commits; the caller's ``transaction()`` decides, so a failure anywhere leaves
no trace.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row
from sqlalchemy.sql.elements import ColumnElement

from meridian.access.permissions import FormAccess, form_access
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.timezones import DEFAULT_TIME_ZONE
from meridian.db.bulk import insert_many
from meridian.db.ids import reserve_ids
from meridian.db.sets import one_of
from meridian.errors import (
    Conflict,
    ErrorCollector,
    FieldError,
    NotFound,
    PermissionDenied,
    StaleVersion,
    ValidationFailed,
)
from meridian.events.audit import audit
from meridian.events.records import RecordDeleted, RecordRestored, RecordUpdated
from meridian.records.expand import expand_links
from meridian.records.formulas import FormulaRunner
from meridian.records.history import read_history, write_creations, write_history
from meridian.records.numbering import assign_numbers
from meridian.records.plan import FormPlan, plan_for
from meridian.records.references import check_references, check_unique
from meridian.records.search import record_search_text
from meridian.records.subscribers import announce, announce_created
from meridian.records.values import ParsedRecord, RecordParser
from meridian.schema.compile import FormTables
from meridian.schema.expressions import (
    compile_form_expressions,
    linked_rollups_onto,
    refresh_linked_rollup,
)
from meridian.schema.fieldtypes import ValueContext, field_type
from meridian.schema.model import SYSTEM_COLUMNS, Form

MAX_BULK = 1000
SYSTEM_OUTPUT = tuple(column for column in SYSTEM_COLUMNS if column != "_search")
_SYSTEM_CONVERTERS: dict[str, Callable[[Any], Any] | None] = {
    key: (datetime.isoformat if key.endswith("_at") else None) for key in SYSTEM_OUTPUT
}


def create_record(
    *,
    conn: Connection,
    actor: Actor,
    form: Form,
    values: Mapping[str, Any],
    tz: ZoneInfo = DEFAULT_TIME_ZONE,
) -> dict[str, Any]:
    """Create one record and return it as the API shows it."""
    [record_id] = _insert(conn, actor, form, [values], tz, prefixes=[""])
    return get_record(conn=conn, actor=actor, form=form, record_id=record_id, tz=tz)


def create_records(
    *,
    conn: Connection,
    actor: Actor,
    form: Form,
    items: Sequence[Mapping[str, Any]],
    tz: ZoneInfo = DEFAULT_TIME_ZONE,
) -> list[int]:
    """Create up to ``MAX_BULK`` records, all or nothing; every error names its item."""
    if not isinstance(items, Sequence) or not items or len(items) > MAX_BULK:
        raise ValidationFailed(
            [
                FieldError(
                    "items", "invalid_batch", f"give 1 to {MAX_BULK} records", len(items or [])
                )
            ]
        )
    return _insert(
        conn, actor, form, items, tz, prefixes=[f"items.{i}." for i in range(len(items))]
    )


def _insert(
    conn: Connection,
    actor: Actor,
    form: Form,
    items: Sequence[Mapping[str, Any]],
    tz: ZoneInfo,
    *,
    prefixes: list[str],
) -> list[int]:
    plan = plan_for(form)
    ctx = ValueContext(tz)
    errors = ErrorCollector()
    access = form_access(conn, actor, form)
    access.require("create")
    parser = RecordParser(form)
    parsed = [
        parser.parse(
            _writable(access, item, prefix, errors), ctx, errors, prefix=prefix, creating=True
        )
        for item, prefix in zip(items, prefixes, strict=True)
    ]
    check_references(conn, form, parsed, errors, prefixes)
    check_unique(conn, form, parsed, errors, prefixes, [None] * len(parsed))
    errors.raise_if_any()
    now = utcnow()
    for f in plan.column_fields:
        if f.type == "auto_number":
            for record, number in zip(
                parsed, assign_numbers(conn, form, f, len(parsed), now, tz), strict=True
            ):
                record.columns[f.key] = number
    blank = dict.fromkeys((f.key for f in plan.column_fields), None)
    rows = []
    for record in parsed:
        row = {**blank, **record.columns}
        row.update(
            _version=1,
            owner_id=record.columns.get("owner_id", actor.user_id),
            created_at=now,
            created_by=actor.user_id,
            updated_at=now,
            updated_by=actor.user_id,
            deleted_at=None,
            _search=record_search_text(plan.search_fields, row),
        )
        rows.append(row)
    if _has_expressions(form):
        runner = FormulaRunner(conn, form, compile_form_expressions(conn, form), tz)
        runner.apply(rows, [record.lines for record in parsed], errors, prefixes)
        errors.raise_if_any()
    table = plan.tables.main
    ids = reserve_ids(conn, table, len(rows))
    for record_id, row in zip(ids, rows, strict=True):
        row["id"] = record_id
    insert_many(conn, table, rows)
    _write_sides(conn, form, plan.tables, list(zip(ids, parsed, strict=True)), replace=False)
    write_creations(conn, form.key, table, ids, actor.user_id, now)
    _refresh_rollups(conn, form, rows)
    announce_created(conn, form, table, ids, actor.user_id, dict(zip(ids, rows, strict=True)))
    return ids


def _refresh_rollups(conn: Connection, form: Form, rows: Sequence[Mapping[Any, Any]]) -> None:
    """Recompute rollups that aggregate this form, for the records these rows link to."""
    for parent, field in linked_rollups_onto(conn, form.key):
        assert field.rollup is not None
        link_key = field.rollup.source.partition(".")[2]
        parents = {row[link_key] for row in rows if row.get(link_key) is not None}
        refresh_linked_rollup(conn, parent, field, parents)


def _has_expressions(form: Form) -> bool:
    return bool(form.validations) or any(f.type == "formula" for f in form.active_fields)


def _dump_lines(
    plan: FormPlan, key: str, lines: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    return [plan.line_dumpers[key].dump(line) for line in lines]


def _write_sides(
    conn: Connection,
    form: Form,
    tables: FormTables,
    records: Sequence[tuple[int, ParsedRecord]],
    *,
    replace: bool,
) -> None:
    """Write line items and many-to-many pairs; on update, given lists replace the old ones."""
    for key, lines_table in tables.lines.items():
        field_def = form.get_field(key)
        assert field_def is not None
        blank = dict.fromkeys((f.key for f in field_def.fields if f.key in lines_table.c), None)
        touched = [(rid, rec.lines[key]) for rid, rec in records if key in rec.lines]
        if replace and touched:
            conn.execute(
                lines_table.delete().where(
                    lines_table.c._parent_id.in_([rid for rid, _ in touched])
                )
            )
        rows = [
            {**blank, **line, "_parent_id": rid, "_position": position}
            for rid, lines in touched
            for position, line in enumerate(lines)
        ]
        if rows:
            conn.execute(lines_table.insert(), rows)
    for key, pairs_table in tables.links.items():
        touched_pairs = [(rid, rec.pairs[key]) for rid, rec in records if key in rec.pairs]
        if replace and touched_pairs:
            conn.execute(
                pairs_table.delete().where(
                    pairs_table.c.source_id.in_([rid for rid, _ in touched_pairs])
                )
            )
        pair_rows = [
            {"source_id": rid, "target_id": target} for rid, ids in touched_pairs for target in ids
        ]
        if pair_rows:
            conn.execute(pairs_table.insert(), pair_rows)


def _writable(access: FormAccess, values: Any, prefix: str, errors: ErrorCollector) -> Any:
    """``values`` without the fields the actor may not write, each reported as an error: a
    hidden field as unknown (its existence is not given away), a read-only one as such."""
    if not isinstance(values, Mapping) or access.unrestricted:
        return values
    allowed = {}
    for key, value in values.items():
        if key in access.hidden:
            errors.add(
                prefix + key,
                "unknown_field",
                f"form {access.form.key!r} has no field {key!r}",
                value,
            )
        elif key in access.read_only:
            errors.add(prefix + key, "read_only", f"you may not change {key!r}", value)
        else:
            allowed[key] = value
    return allowed


def _load_row(
    conn: Connection,
    table: sa.Table,
    record_id: int,
    *,
    deleted: bool | None = False,
    visible_to: ColumnElement[bool] | None = None,
) -> Row[Any]:
    """The row, or ``NotFound`` — also when ``visible_to`` (the actor's read scope) excludes
    it, so a record the actor may not read does not give its existence away."""
    query = sa.select(table).where(table.c.id == record_id)
    if visible_to is not None:
        query = query.where(visible_to)
    if deleted is not None:
        query = query.where(
            table.c.deleted_at.is_not(None) if deleted else table.c.deleted_at.is_(None)
        )
    row = conn.execute(query).first()
    if row is None:
        state = "in the trash" if deleted else "found"
        raise NotFound(
            f"record {record_id} of form {table.name[5:]!r} is not {state}", id=record_id
        )
    return row


def update_record(
    *,
    conn: Connection,
    actor: Actor,
    form: Form,
    record_id: int,
    values: Mapping[str, Any],
    expected_version: int | None = None,
    tz: ZoneInfo = DEFAULT_TIME_ZONE,
) -> dict[str, Any]:
    """Change the given fields; a stale ``expected_version`` or a concurrent write gets 412."""
    plan = plan_for(form)
    table = plan.tables.main
    access = form_access(conn, actor, form)
    readable = access.rows(conn, table, "read", tz)
    current = _load_row(conn, table, record_id, visible_to=readable)._mapping
    _require_rows(conn, access, table, record_id, "update", tz)
    version = current["_version"]
    if expected_version is not None and expected_version != version:
        raise StaleVersion(
            f"record {record_id} is at version {version}, not {expected_version}; reload it",
            id=record_id,
            current_version=version,
        )
    errors = ErrorCollector()
    values = _writable(access, values, "", errors)
    parsed = RecordParser(form).parse(values, ValueContext(tz), errors, creating=False)
    check_references(conn, form, [parsed], errors, [""])
    check_unique(conn, form, [parsed], errors, [""], [record_id])
    errors.raise_if_any()
    proposed = {**current, **parsed.columns}
    if _has_expressions(form):
        runner = FormulaRunner(conn, form, compile_form_expressions(conn, form), tz)
        current_lines = _stored_lines_of(conn, plan, [record_id], runner.children)[record_id]
        runner.apply([proposed], [{**current_lines, **parsed.lines}], errors, [""])
        errors.raise_if_any()
    changed = {
        key: value
        for key, value in proposed.items()
        if key in plan.writable and current[key] != value
    }
    changes = {key: [old, new] for key, old, new in _dumped_pairs(plan, current, changed)}
    old_sides = _read_sides(conn, plan, [record_id]).get(record_id, {})
    for key, lines in parsed.lines.items():
        new_lines = _dump_lines(plan, key, lines)
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
    now = utcnow()
    merged = {**current, **changed}
    assignments = {
        **changed,
        "_version": version + 1,
        "updated_at": now,
        "updated_by": actor.user_id,
    }
    if any(f.key in changed for f in plan.search_fields):
        assignments["_search"] = record_search_text(plan.search_fields, merged)
    result = conn.execute(
        table.update()
        .where(table.c.id == record_id, table.c._version == version)
        .values(assignments)
    )
    if result.rowcount != 1:
        raise StaleVersion(
            f"record {record_id} was changed by someone else; reload it", id=record_id
        )
    side_changes = ParsedRecord(
        lines={k: v for k, v in parsed.lines.items() if k in changes},
        pairs={k: v for k, v in parsed.pairs.items() if k in changes},
    )
    _write_sides(conn, form, plan.tables, [(record_id, side_changes)], replace=True)
    write_history(conn, form.key, [(record_id, version + 1, "update", changes)], actor.user_id, now)
    _refresh_rollups(conn, form, [current, proposed])
    announce(
        conn,
        form,
        [RecordUpdated(form.key, record_id, actor.user_id, version + 1, changes)],
        {record_id: {**current, **assignments}},
    )
    return get_record(conn=conn, actor=actor, form=form, record_id=record_id, tz=tz)


def _dumped_pairs(
    plan: FormPlan, current: Mapping[Any, Any], changed: Mapping[str, Any]
) -> list[tuple[str, Any, Any]]:
    fields = {f.key: f for f in plan.column_fields}
    result = []
    for key, new in changed.items():
        if key == "owner_id":
            result.append((key, current[key], new))
            continue
        f = fields[key]
        kind = field_type(f)
        old = current[key]
        result.append(
            (
                key,
                None if old is None else kind.dump(f, old),
                None if new is None else kind.dump(f, new),
            )
        )
    return result


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


def delete_records(
    *,
    conn: Connection,
    actor: Actor,
    form: Form,
    record_ids: Sequence[int],
    tz: ZoneInfo = DEFAULT_TIME_ZONE,
) -> int:
    """Move up to ``MAX_BULK`` records to the trash at once, all or nothing.

    Set-based — one read, one UPDATE, one history insert — so a bulk delete costs a few
    statements whatever its size; each record still gets its history entry, its event and
    its rules. A record the actor may not read is not found; one they may read but not delete
    is refused; either way nothing is deleted.
    """
    ids = _selection(record_ids)
    table = plan_for(form).tables.main
    access = form_access(conn, actor, form)
    rows = _chosen_rows(conn, access, table, ids, "delete", tz)
    chosen = one_of(conn, table.c.id, ids)
    now = utcnow()
    conn.execute(
        table.update()
        .where(chosen)
        .values(
            deleted_at=now,
            _version=table.c._version + 1,
            updated_at=now,
            updated_by=actor.user_id,
        )
    )
    write_history(
        conn,
        form.key,
        [(row.id, row._version + 1, "delete", {}) for row in rows],
        actor.user_id,
        now,
    )
    _refresh_rollups(conn, form, [row._mapping for row in rows])
    announce(
        conn,
        form,
        [RecordDeleted(form.key, row.id, actor.user_id, row._version + 1) for row in rows],
        {
            row.id: {
                **row._mapping,
                "deleted_at": now,
                "_version": row._version + 1,
                "updated_at": now,
                "updated_by": actor.user_id,
            }
            for row in rows
        },
    )
    return len(rows)


def _selection(record_ids: Sequence[int]) -> list[int]:
    ids = sorted(set(record_ids))
    if not ids or len(ids) > MAX_BULK:
        message = f"give 1 to {MAX_BULK} record ids"
        raise ValidationFailed([FieldError("ids", "invalid_selection", message, len(ids))])
    return ids


def _chosen_rows(
    conn: Connection,
    access: FormAccess,
    table: sa.Table,
    ids: Sequence[int],
    operation: str,
    tz: ZoneInfo,
) -> list[Row[Any]]:
    """The live rows of ``ids``, locked for the transaction, once every one is known to be
    readable (else ``NotFound`` naming the others, as for one record) and open to
    ``operation`` (else ``PermissionDenied`` naming those that are not)."""
    form = access.form
    chosen = one_of(conn, table.c.id, ids)
    live = (
        sa.select(table)
        .where(chosen, table.c.deleted_at.is_(None))
        .order_by(table.c.id)  # one lock order, so overlapping bulk writes cannot deadlock
        .with_for_update()
    )
    readable = access.rows(conn, table, "read", tz)
    rows = list(conn.execute(live if readable is None else live.where(readable)))
    missing = sorted(set(ids) - {row.id for row in rows})
    if missing:
        raise NotFound(
            f"records {missing[:50]} of form {form.key!r} are not found", ids=missing[:50]
        )
    allowed_rows = access.rows(conn, table, operation, tz)
    if allowed_rows is not None:
        allowed = set(conn.scalars(sa.select(table.c.id).where(chosen, allowed_rows)))
        if refused := [i for i in ids if i not in allowed]:
            raise PermissionDenied(
                f"you may not {operation} records {refused[:50]} of form {form.key!r}",
                ids=refused[:50],
                operation=operation,
            )
    return rows


def update_records(
    *,
    conn: Connection,
    actor: Actor,
    form: Form,
    record_ids: Sequence[int],
    values: Mapping[str, Any],
    tz: ZoneInfo = DEFAULT_TIME_ZONE,
) -> int:
    """Give up to ``MAX_BULK`` records the same values (the grid's bulk edit), all or nothing;
    returns how many changed.

    Each record is checked and recomputed as :func:`update_record` would (formulas,
    validations, unique values) and gets its own history entry, event and rules, but the
    reads and writes are set-based: a few statements whatever the selection. Line items are
    changed one record at a time.
    """
    ids = _selection(record_ids)
    plan = plan_for(form)
    table = plan.tables.main
    access = form_access(conn, actor, form)
    rows = [row._mapping for row in _chosen_rows(conn, access, table, ids, "update", tz)]
    errors = ErrorCollector()
    values = _writable(access, values, "", errors)
    parsed = RecordParser(form).parse(values, ValueContext(tz), errors, creating=False)
    for key in parsed.lines:
        message = "line items are changed one record at a time / 明细行请逐条修改"
        errors.add(key, "one_at_a_time", message, values.get(key))
    check_references(conn, form, [parsed], errors, [""])
    for f in plan.column_fields:
        if f.unique and parsed.columns.get(f.key) is not None and len(ids) > 1:
            message = f"{f.label} is unique; {len(ids)} records cannot share one value"
            errors.add(f.key, "duplicate", message, values.get(f.key))
    if len(ids) == 1:
        check_unique(conn, form, [parsed], errors, [""], ids)
    errors.raise_if_any()
    proposed = [{**row, **parsed.columns} for row in rows]
    if _has_expressions(form):
        runner = FormulaRunner(conn, form, compile_form_expressions(conn, form), tz)
        lines = _stored_lines_of(conn, plan, [row["id"] for row in rows], runner.children)
        prefixes = [f"{row['id']}." for row in rows]
        runner.apply(proposed, [lines[row["id"]] for row in rows], errors, prefixes)
        errors.raise_if_any()
    now = utcnow()
    linked = _read_sides(conn, plan, ids) if parsed.pairs else {}
    entries: list[tuple[int, int, str, dict[str, Any]]] = []
    assigned: dict[int, dict[str, Any]] = {}
    relinked: list[tuple[int, ParsedRecord]] = []
    for current, new in zip(rows, proposed, strict=True):
        changed = {k: v for k, v in new.items() if k in plan.writable and current[k] != v}
        changes = {key: [old, new] for key, old, new in _dumped_pairs(plan, current, changed)}
        before = linked.get(current["id"], {})
        for key, targets in parsed.pairs.items():
            if sorted(targets) != sorted(before.get(key, [])):
                changes[key] = [before.get(key, []), targets]
        if not changes:
            continue
        version = current["_version"] + 1
        assignments = {
            **changed,
            "_version": version,
            "updated_at": now,
            "updated_by": actor.user_id,
        }
        if any(f.key in changed for f in plan.search_fields):
            assignments["_search"] = record_search_text(plan.search_fields, {**current, **changed})
        entries.append((current["id"], version, "update", changes))
        assigned[current["id"]] = assignments
        pairs = {key: targets for key, targets in parsed.pairs.items() if key in changes}
        if pairs:
            relinked.append((current["id"], ParsedRecord(pairs=pairs)))
    _assign(conn, table, assigned)
    _write_sides(conn, form, plan.tables, relinked, replace=True)
    write_history(conn, form.key, entries, actor.user_id, now)
    _refresh_rollups(conn, form, [*rows, *proposed])
    announce(
        conn,
        form,
        [RecordUpdated(form.key, i, actor.user_id, v, changes) for i, v, _, changes in entries],
        {row["id"]: {**row, **assigned[row["id"]]} for row in rows if row["id"] in assigned},
    )
    return len(entries)


def _assign(conn: Connection, table: sa.Table, assigned: Mapping[int, Mapping[str, Any]]) -> None:
    """One executemany UPDATE per set of changed columns (formulas may change more columns
    on some records than on others)."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for record_id, assignments in assigned.items():
        row = {f"_new_{key}": value for key, value in assignments.items()}
        by_columns.setdefault(tuple(sorted(assignments)), []).append({"_record": record_id, **row})
    for columns, rows in by_columns.items():
        # Parameter names start with "_new_"/"_record", which no column name does: SQLAlchemy
        # refuses a bind parameter named like a column of the table it updates.
        statement = (
            table.update()
            .where(table.c.id == sa.bindparam("_record"))
            .values({key: sa.bindparam(f"_new_{key}") for key in columns})
        )
        conn.execute(statement, rows)


def _stored_lines_of(
    conn: Connection, plan: FormPlan, ids: Sequence[int], keys: Sequence[str]
) -> dict[int, dict[str, list[dict[str, Any]]]]:
    """The line items of many records as stored, one query per child table."""
    result: dict[int, dict[str, list[dict[str, Any]]]] = {i: {k: [] for k in keys} for i in ids}
    for key in keys:
        table = plan.tables.lines[key]
        query = (
            sa.select(table)
            .where(one_of(conn, table.c._parent_id, ids))
            .order_by(table.c._parent_id, table.c._position)
        )
        for line in conn.execute(query).mappings():
            result[line["_parent_id"]][key].append(dict(line))
    return result


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
    row = _load_row(conn, table, record_id, deleted=not delete, visible_to=readable)._mapping
    _require_rows(conn, access, table, record_id, "delete", tz)
    version = row["_version"]
    if expected_version is not None and expected_version != version:
        raise StaleVersion(
            f"record {record_id} is at version {version}, not {expected_version}", id=record_id
        )
    if not delete:
        errors = ErrorCollector()
        unique_values = ParsedRecord(
            columns={f.key: row[f.key] for f in plan.column_fields if f.unique}
        )
        check_unique(conn, form, [unique_values], errors, [""], [record_id])
        if errors.errors:
            raise Conflict(
                f"record {record_id} cannot be restored: {errors.errors[0].message}",
                errors=[e.as_dict() for e in errors.errors],
            )
    now = utcnow()
    assignments = {
        "deleted_at": now if delete else None,
        "_version": version + 1,
        "updated_at": now,
        "updated_by": actor.user_id,
    }
    result = conn.execute(
        table.update()
        .where(table.c.id == record_id, table.c._version == version)
        .values(assignments)
    )
    if result.rowcount != 1:
        raise StaleVersion(
            f"record {record_id} was changed by someone else; reload it", id=record_id
        )
    action = "delete" if delete else "restore"
    write_history(conn, form.key, [(record_id, version + 1, action, {})], actor.user_id, now)
    event = RecordDeleted if delete else RecordRestored
    _refresh_rollups(conn, form, [row])
    announce(
        conn,
        form,
        [event(form.key, record_id, actor.user_id, version + 1)],
        {record_id: {**row, **assignments}},
    )


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
    plan = plan_for(access.visible)
    table = plan.tables.main
    row = _load_row(
        conn,
        table,
        record_id,
        deleted=None if include_deleted else False,
        visible_to=access.rows(conn, table, "read", tz),
    )
    [record] = dump_rows(conn, plan, [row], expand=expand, actor=actor, tz=tz)
    audit_sensitive_reads(conn, actor, plan.form, [record])
    return record


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


def _require_rows(
    conn: Connection,
    access: FormAccess,
    table: sa.Table,
    record_id: int,
    operation: str,
    tz: ZoneInfo,
) -> None:
    """``PermissionDenied`` unless ``operation`` may touch the (readable) record."""
    allowed = access.rows(conn, table, operation, tz)
    if allowed is None:
        return
    if conn.execute(sa.select(table.c.id).where(table.c.id == record_id, allowed)).first() is None:
        raise PermissionDenied(
            f"you may not {operation} record {record_id} of form {access.form.key!r}",
            id=record_id,
            operation=operation,
        )


def dump_rows(
    conn: Connection,
    plan: FormPlan,
    rows: Sequence[Row[Any]],
    *,
    expand: Sequence[str] = (),
    actor: Actor | None = None,
    tz: ZoneInfo = DEFAULT_TIME_ZONE,
    raw: Mapping[str, Callable[[Any], Any]] = MappingProxyType({}),
) -> list[dict[str, Any]]:
    """Rows → API records, reading line items, pairs and expansions set-based for the page;
    ``raw`` readers for the columns selected raw (see :class:`ListColumns`)."""
    ids = [row.id for row in rows]
    sides = _read_sides(conn, plan, ids)
    read = plan.dumper.reader(rows[0]._fields if rows else (), _SYSTEM_CONVERTERS, raw)
    records = []
    for row in rows:
        record = read(row)
        record.update(sides[row.id])
        records.append(record)
    if expand:
        expand_links(conn, plan.form, records, expand, actor, tz)
    return records


def _read_sides(conn: Connection, plan: FormPlan, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Line items and many-to-many ids of live fields, one query per side table."""
    tables = plan.tables
    result: dict[int, dict[str, Any]] = {rid: {} for rid in ids}
    if not ids:
        return result
    for key, lines_table in tables.lines.items():
        if key not in plan.line_dumpers:
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
        if key not in plan.live_keys:
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
    table = plan_for(form).tables.main
    _load_row(conn, table, record_id, deleted=None, visible_to=access.rows(conn, table, "read", tz))
    entries = read_history(conn, form.key, record_id)
    if access.hidden:
        for entry in entries:
            entry["changes"] = {
                key: change for key, change in entry["changes"].items() if key not in access.hidden
            }
    return entries
