"""Bulk writes: up to ``MAX_BULK`` records created, changed or trashed at once, all or nothing,
set-based — a few statements whatever the selection — yet each record checked, recorded and
announced as a one-at-a-time write would be."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from meridian.access.permissions import FormAccess, form_access, operation_name
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.core.timezones import DEFAULT_TIME_ZONE
from meridian.db.sets import one_of
from meridian.errors import ErrorCollector, FieldError, NotFound, PermissionDenied, ValidationFailed
from meridian.events.records import RecordDeleted, RecordUpdated
from meridian.records.formulas import FormulaRunner
from meridian.records.guards import ProposedWrite, WriteBatch, WriteIntent, guard_writes
from meridian.records.history import write_history
from meridian.records.plan import plan_for
from meridian.records.reads import read_sides
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
    dumped_pairs,
    has_expressions,
    insert_echoed,
    refresh_rollups,
    stored_lines_of,
    writable,
    write_sides,
)
from meridian.schema.expressions import compile_form_expressions
from meridian.schema.fieldtypes import ValueContext
from meridian.schema.model import Form
from meridian.schema.name_keys import name_key_values

MAX_BULK = 1000


def create_records(
    *,
    conn: Connection,
    actor: Actor,
    form: Form,
    items: Sequence[Mapping[str, Any]],
    tz: ZoneInfo = DEFAULT_TIME_ZONE,
    intent: WriteIntent | None = None,
) -> list[int]:
    """Create up to ``MAX_BULK`` records, all or nothing; every error names its item."""
    if not isinstance(items, Sequence) or not items or len(items) > MAX_BULK:
        raise ValidationFailed(
            [
                FieldError(
                    "items",
                    "invalid_batch",
                    Text("give 1 to {limit} records", limit=MAX_BULK),
                    len(items or []),
                )
            ]
        )
    return insert_echoed(
        conn,
        actor,
        form,
        items,
        tz,
        prefixes=[f"items.{i}." for i in range(len(items))],
        intent=intent,
    ).ids


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
    trashed = [
        ProposedWrite(row.id, f"{row.id}.", row._mapping, row._mapping, frozenset()) for row in rows
    ]
    guard_writes(conn, WriteBatch(form, actor, "delete", trashed, WriteIntent()))
    chosen = one_of(conn, table.c.id, ids)
    now = utcnow(conn)
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
    refresh_rollups(conn, form, [row._mapping for row in rows])
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
        message = Text("give 1 to {limit} record ids", limit=MAX_BULK)
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
            Text("records {value} of form {key!r} are not found", value=missing[:50], key=form.key),
            ids=missing[:50],
        )
    allowed_rows = access.rows(conn, table, operation, tz)
    if allowed_rows is not None:
        allowed = set(conn.scalars(sa.select(table.c.id).where(chosen, allowed_rows)))
        if refused := [i for i in ids if i not in allowed]:
            raise PermissionDenied(
                Text(
                    "you may not {operation} records {value} of form {key!r}",
                    operation=operation_name(operation),
                    value=refused[:50],
                    key=form.key,
                ),
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
    intent: WriteIntent | None = None,
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
    values = writable(access, values, "", errors, conn)
    parsed = RecordParser(form).parse(values, ValueContext(tz), errors, creating=False)
    for key in parsed.lines:
        message = Text("line items are changed one record at a time")
        errors.add(key, "one_at_a_time", message, values.get(key))
    linked = read_sides(conn, plan, ids) if parsed.pairs else {}
    # A link all the chosen records already share is kept; any other must be readable.
    stored = [linked_ids(form, {**row, **linked.get(row["id"], {})}) for row in rows]
    kept = [{key: set.intersection(*(links[key] for links in stored)) for key in stored[0]}]
    check_references(conn, form, [parsed], errors, [""], actor=actor, tz=tz, kept=kept)
    for f in plan.column_fields:
        if f.unique and parsed.columns.get(f.key) is not None and len(ids) > 1:
            message = Text(
                "{label} is unique; {count} records cannot share one value",
                label=f.label,
                count=len(ids),
            )
            errors.add(f.key, "duplicate", message, values.get(f.key))
    if len(ids) == 1:
        check_unique(conn, form, [parsed], errors, [""], ids)
    errors.raise_if_any()
    proposed = [{**row, **parsed.columns} for row in rows]
    if has_expressions(form):
        runner = FormulaRunner(conn, form, compile_form_expressions(conn, form), tz)
        lines = stored_lines_of(conn, plan, [row["id"] for row in rows], runner.children)
        prefixes = [f"{row['id']}." for row in rows]
        runner.apply(proposed, [lines[row["id"]] for row in rows], errors, prefixes)
        errors.raise_if_any()
    now = utcnow(conn)
    entries: list[tuple[int, int, str, dict[str, Any]]] = []
    assigned: dict[int, dict[str, Any]] = {}
    relinked: list[tuple[int, ParsedRecord]] = []
    for current, new in zip(rows, proposed, strict=True):
        changed = {k: v for k, v in new.items() if k in plan.writable and current[k] != v}
        changes = {key: [old, new] for key, old, new in dumped_pairs(plan, current, changed)}
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
        if plan.name_field in changed:
            assignments.update(name_key_values(plan.name_field, changed))
        entries.append((current["id"], version, "update", changes))
        assigned[current["id"]] = assignments
        pairs = {key: targets for key, targets in parsed.pairs.items() if key in changes}
        if pairs:
            relinked.append((current["id"], ParsedRecord(pairs=pairs)))
    intent = intent or WriteIntent()
    by_id = {row["id"]: row for row in rows}
    proposals = [
        ProposedWrite(
            record_id,
            f"{record_id}.",
            by_id[record_id],
            {**by_id[record_id], **assigned[record_id]},
            frozenset(changes),
        )
        for record_id, _, _, changes in entries
    ]
    guard_writes(conn, WriteBatch(form, actor, "update", proposals, intent))
    with unique_writes(conn, form, [parsed], [""], ids):
        _assign(conn, table, assigned)
    searched = {i: values["_search"] for i, values in assigned.items() if "_search" in values}
    index_search_texts(conn, plan.tables, searched)
    write_sides(conn, form, plan.tables, relinked, replace=True)
    write_history(conn, form.key, entries, actor.user_id, now)
    refresh_rollups(conn, form, [*rows, *proposed])
    announce(
        conn,
        form,
        [RecordUpdated(form.key, i, actor.user_id, v, changes) for i, v, _, changes in entries],
        {row["id"]: {**row, **assigned[row["id"]]} for row in rows if row["id"] in assigned},
        intent,
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
