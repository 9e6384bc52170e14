"""Writing one batch of an import through the records write path, row by row accounted.

New records go through the bulk create (``records.writing.prepare_insert`` + ``write_insert``):
validation, permissions, the write guards, formulas, numbering, history, search text, events
and rules, exactly as any bulk create. The values the converter checked already
(``BatchRow.stored``: each distinct cell once for the whole file) are taken as stored values;
the actor's field rights, defaults, the required rule and every other value are checked here,
per row. That path is all or nothing, and an import must not lose a batch to one bad row:
each error names its item, so the rows it names are rejected with their reasons and the rest
are written again — what may refuse runs under a savepoint, so a refused attempt leaves
nothing behind (the writes themselves under one only on PostgreSQL: see :func:`_create`).
Updates and merges go through ``update_record`` one at a time (few rows are duplicates), each
under its own savepoint, the records they change read once for the batch; what an update
replaced is kept with its outcome so the import can be rolled back. A merge with nothing to
fill — most of a file imported again — is not written at all (:func:`_change`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.core.i18n import Text
from meridian.dataio.converting import CellReport
from meridian.dataio.run_decisions import Decision
from meridian.dataio.run_rows import BatchRow
from meridian.dataio.run_store import RowOutcome
from meridian.db.sets import one_of
from meridian.errors import (
    ErrorCollector,
    FieldError,
    MeridianError,
    StaleVersion,
    ValidationFailed,
)
from meridian.records import reads, service
from meridian.records.guards import WriteIntent
from meridian.records.plan import plan_for
from meridian.records.readable import Readable
from meridian.records.values import ParsedRecord, RecordParser
from meridian.records.writing import (
    check_parsed,
    has_expressions,
    prepare_insert,
    writable,
    write_insert,
)
from meridian.schema.fieldtypes import ValueContext
from meridian.schema.model import Form

_ITEM = re.compile(r"^(\d+)\.(.*)$")
_JSON_SCALARS = (str, int, float, bool, type(None))


def write_batch(
    conn: Connection,
    actor: Actor,
    form: Form,
    rows: Sequence[BatchRow],
    decisions: Sequence[Decision | None],
    tz: ZoneInfo,
) -> list[RowOutcome]:
    """Write the batch's rows as decided (``None``: the row was refused before, see its
    refusals); every row gets exactly one outcome, in row order. New records are created
    first, so a row merging into the record an earlier row of the batch makes finds it."""
    outcomes: dict[int, RowOutcome] = {}
    creating: list[BatchRow] = []
    changing: list[tuple[BatchRow, Decision]] = []
    for row, decision in zip(rows, decisions, strict=True):
        if decision is None:
            outcomes[row.number] = rejected(row.number, [_cell_error(c) for c in row.refusals])
        elif decision.action == "create":
            creating.append(row)
        elif decision.action == "skip":
            reason = decision.reason or Text(
                "a duplicate of record {record_id}; skipped", record_id=decision.record_id
            )
            error = FieldError("", "duplicate_skipped", reason, decision.record_id)
            outcomes[row.number] = rejected(row.number, [error], decision.record_id)
        else:
            changing.append((row, decision))
    for outcome in _create(conn, actor, form, creating, tz):
        outcomes[outcome.number] = outcome
    by_number = {row.number: row for row in rows} if changing else {}
    late: list[BatchRow] = []
    resolved: list[tuple[BatchRow, Decision]] = []
    for row, decision in changing:
        if decision.into_row is not None:
            earlier = outcomes.get(decision.into_row)
            if earlier is None or earlier.outcome != "created":
                late.append(row)  # the row it duplicates was not created: this one is
                continue
            held = by_number[decision.into_row].values
            values = {k: v for k, v in row.values.items() if held.get(k) in (None, "", [])}
            decision = Decision("merge", earlier.record_id, values=values)
        resolved.append((row, decision))
    for outcome in _change(conn, actor, form, resolved, tz):
        outcomes[outcome.number] = outcome
    for outcome in _create(conn, actor, form, late, tz):
        outcomes[outcome.number] = outcome
    return [outcomes[row.number] for row in rows]


def _create(
    conn: Connection, actor: Actor, form: Form, rows: list[BatchRow], tz: ZoneInfo
) -> list[RowOutcome]:
    """Create the rows' records. The rows are checked once — values (:func:`_parse_rows`),
    then a unique value an earlier row of the batch holds (:func:`_repeated_in_batch`), then
    references and unique values stored (``check_parsed``) — and those with errors set aside;
    the rest are written, and rows a later stage refuses (a formula, a guard — each stage
    reports every item it refuses) are set aside and the others written again, so a batch
    takes a few attempts at most."""
    if not rows:
        return []
    outcomes: list[RowOutcome] = []
    prefixes = [f"{index}." for index in range(len(rows))]
    errors = ErrorCollector()
    parsed = _parse_rows(conn, actor, form, rows, tz, prefixes, errors)
    pending = _set_aside(rows, errors, list(range(len(rows))), outcomes)
    pending = _set_aside(
        rows, _repeated_in_batch(form, rows, parsed, pending, prefixes), pending, outcomes
    )
    if pending:
        errors = ErrorCollector()
        check_parsed(
            conn,
            actor,
            form,
            [parsed[i] for i in pending],
            tz,
            [prefixes[i] for i in pending],
            errors,
        )
    derived = [row.derived for row in rows]
    while pending:
        pending = _set_aside(rows, errors, pending, outcomes)
        if not pending:
            break
        # What may refuse (checks, numbering, formulas, guards) runs under a savepoint, so a
        # refused attempt leaves nothing; the writes join it only on PostgreSQL, where a
        # concurrent writer taking a unique value makes them refuse before writing. SQLite
        # cannot refuse there (the batch holds the write lock), and its savepoint would copy
        # every page the writes touch into a sub-journal: 23 µs of a record's 50 µs INSERT
        # at 300,000 records, growing with the table.
        guarded = conn.dialect.name == "postgresql"
        try:
            with conn.begin_nested():
                prepared = prepare_insert(
                    conn,
                    actor,
                    form,
                    [rows[i].values for i in pending],
                    tz,
                    prefixes=[prefixes[i] for i in pending],
                    intent=WriteIntent(),
                    parsed=[parsed[i] for i in pending],
                    prechecked=True,
                    derived=[derived[i] for i in pending],
                )
                if guarded:  # refused, it takes the numbers it was given back with it
                    ids = write_insert(conn, prepared, merge_later=True).ids
        except ValidationFailed as refused:
            errors = ErrorCollector()
            errors.errors.extend(
                refused.errors or [FieldError("", refused.code, str(refused), None)]
            )
            continue
        if not guarded:
            ids = write_insert(conn, prepared, merge_later=True).ids
        outcomes.extend(
            RowOutcome(rows[i].number, "created", record_id)
            for i, record_id in zip(pending, ids, strict=True)
        )
        break
    return outcomes


def _repeated_in_batch(
    form: Form,
    rows: Sequence[BatchRow],
    parsed: Sequence[ParsedRecord],
    pending: list[int],
    prefixes: Sequence[str],
) -> ErrorCollector:
    """Rows holding a unique value an earlier row of the batch holds, refused naming that row;
    the earlier row goes on. As it would were the two in different batches (the later finds
    the value stored), so a row's outcome does not hang on where the file is cut into
    batches — ``check_parsed`` alone refuses every row of a batch sharing a value, as an API
    batch, all or nothing, must."""
    errors = ErrorCollector()
    for field in plan_for(form).column_fields:
        if not field.unique:
            continue
        first: dict[Any, int] = {}
        for index in pending:
            value = parsed[index].columns.get(field.key)
            if value is None:
                continue
            held = first.setdefault(value, index)
            if held != index:
                where = Text("row {row}", row=rows[held].number)
                message = Text(
                    "{label} {value!r} is already used by {where}",
                    label=field.label,
                    value=value,
                    where=where,
                )
                errors.add(prefixes[index] + field.key, "duplicate", message, value)
    return errors


def _set_aside(
    rows: Sequence[BatchRow],
    errors: ErrorCollector,
    pending: list[int],
    outcomes: list[RowOutcome],
) -> list[int]:
    """The pending rows without errors; those with errors rejected with them."""
    if not errors.errors:
        return pending
    by_item = _by_item(errors.errors, pending)
    for index, item_errors in by_item.items():
        outcomes.append(rejected(rows[index].number, item_errors))
    return [index for index in pending if index not in by_item]


def _parse_rows(
    conn: Connection,
    actor: Actor,
    form: Form,
    rows: Sequence[BatchRow],
    tz: ZoneInfo,
    prefixes: Sequence[str],
    errors: ErrorCollector,
) -> list[ParsedRecord]:
    """``records.writing.parse_items`` for rows whose values the converter checked: the
    actor's field rights first (a hidden or read-only field is refused, checked or not), then
    the values not checked yet, the defaults and the required rule; every error into
    ``errors``. ``PermissionDenied`` when the actor may not create records."""
    access = form_access(conn, actor, form)
    access.require("create")
    items: list[Any] = [row.values for row in rows]
    checked: list[Any] = [row.stored for row in rows]
    if not access.unrestricted:  # some fields hidden or read-only: each row's are refused
        for index, (values, prefix) in enumerate(zip(items, prefixes, strict=True)):
            allowed = writable(access, values, prefix, errors, conn)
            if allowed is not values:
                items[index] = allowed
                checked[index] = {k: v for k, v in checked[index].items() if k in allowed}
    return RecordParser(form).parse_new(items, checked, ValueContext(tz), errors, prefixes)


def _by_item(errors: Sequence[FieldError], pending: Sequence[int]) -> dict[int, list[FieldError]]:
    """The errors by the item they name (``3.uscc`` → item 3, field ``uscc``); an error that
    names no pending item is every pending item's."""
    by_item: dict[int, list[FieldError]] = {}
    unplaced: list[FieldError] = []
    alive = set(pending)
    for error in errors:
        found = _ITEM.match(error.field)
        if found is None or int(found.group(1)) not in alive:
            unplaced.append(error)
            continue
        placed = FieldError(found.group(2), error.code, error.message, error.value, error.detail)
        by_item.setdefault(int(found.group(1)), []).append(placed)
    if not by_item:  # nothing names an item: every pending item carries the errors
        return dict.fromkeys(pending, unplaced)
    return by_item


def _change(
    conn: Connection,
    actor: Actor,
    form: Form,
    changes: Sequence[tuple[BatchRow, Decision]],
    tz: ZoneInfo,
) -> list[RowOutcome]:
    """The batch's updates and merges; their outcomes in row order. The records they change
    are read once for the batch, and each change goes through ``update_record`` with what
    it replaced kept (:func:`_update`). A merge with nothing to fill (the row's values are
    all in the record already — most of a file imported again) is not written: on a form
    without formulas, which ``update_record`` would recompute, and into a record no other
    row of the batch changes, such merges are only checked, together and after the writes,
    that the actor may read and update their records (:func:`_unchanged`)."""
    quiet_ok = not has_expressions(form)
    written = {d.record_id for row, d in changes if _values(row, d) or not quiet_ok}
    quiet = [
        (row, d)
        for row, d in changes
        if quiet_ok and not _values(row, d) and d.record_id not in written
    ]
    befores = _read(conn, actor, form, sorted(i for i in written if i is not None), tz)
    outcomes: dict[int, RowOutcome] = {}
    for row, decision in changes:
        if decision.record_id in written:
            outcomes[row.number] = _update(conn, actor, form, row, decision, tz, befores)
    # After the writes, which may have set off rules changing other records: the version
    # each quiet merge leaves is its record's as the batch ends.
    versions = _unchanged(conn, actor, form, [d.record_id for _, d in quiet], tz)
    for row, decision in quiet:
        record_id = decision.record_id
        assert record_id is not None
        if record_id in versions:
            outcome = "merged" if decision.action == "merge" else "updated"
            detail = {"before": {}, "version": versions[record_id]}
            outcomes[row.number] = RowOutcome(row.number, outcome, record_id, detail)
        else:  # unknown or out of reach: update_record says which
            outcomes[row.number] = _update(conn, actor, form, row, decision, tz, befores)
    return [outcomes[row.number] for row, _ in changes]


def _values(row: BatchRow, decision: Decision) -> Mapping[str, Any]:
    return decision.values if decision.values is not None else row.values


def _unchanged(
    conn: Connection, actor: Actor, form: Form, ids: Sequence[int | None], tz: ZoneInfo
) -> dict[int, int]:
    """The version of each of ``ids`` the actor may read and update — what ``update_record``
    checks before finding it has nothing to write: one query. A record left out (unknown,
    out of reach) goes through ``update_record``, which refuses it with its reason."""
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    access = form_access(conn, actor, form)
    readable = Readable.of(conn, access, tz)
    table = readable.table
    statement = readable.select(table.c.id, table.c._version).where(
        one_of(conn, table.c.id, wanted)
    )
    may_update = access.rows(conn, table, "update", tz)
    if may_update is not None:
        statement = statement.where(may_update)
    return {int(record_id): int(version) for record_id, version in conn.execute(statement)}


def _read(
    conn: Connection, actor: Actor, form: Form, ids: Sequence[int], tz: ZoneInfo
) -> dict[int, dict[str, Any]]:
    """The records the batch's updates and merges change, as ``get_record`` shows them (the
    sensitive fields' read audited once): one query, however many."""
    if not ids:
        return {}
    readable = Readable.of(conn, form_access(conn, actor, form), tz)
    table = readable.table
    rows = conn.execute(readable.select().where(one_of(conn, table.c.id, ids))).all()
    records = reads.dump_rows(conn, readable.plan, rows, actor=actor, tz=tz)
    reads.audit_sensitive_reads(conn, actor, form, records)
    return {record["id"]: record for record in records}


def _update(
    conn: Connection,
    actor: Actor,
    form: Form,
    row: BatchRow,
    decision: Decision,
    tz: ZoneInfo,
    befores: dict[int, dict[str, Any]],
) -> RowOutcome:
    """An update or merge of the record the decision names, kept with what it replaced:
    ``befores[record_id]`` as the batch read it, written only at that version (a record
    changed since — a rule an earlier row's write set off — is read again and written as
    it is now), and left as this write made it for the next row changing it."""
    record_id = decision.record_id
    assert record_id is not None
    values = dict(_values(row, decision))
    outcome = "merged" if decision.action == "merge" else "updated"
    before = befores.get(record_id)
    after: dict[str, Any] | None = None
    try:
        if before is not None:
            try:
                with conn.begin_nested():
                    after = service.update_record(
                        conn=conn,
                        actor=actor,
                        form=form,
                        record_id=record_id,
                        values=values,
                        expected_version=before["_version"],
                        tz=tz,
                    )
            except StaleVersion:
                after = None  # changed since the batch read it: read again
        if after is None:
            with conn.begin_nested():
                before = reads.get_record(
                    conn=conn, actor=actor, form=form, record_id=record_id, tz=tz
                )
                after = service.update_record(
                    conn=conn, actor=actor, form=form, record_id=record_id, values=values, tz=tz
                )
    except ValidationFailed as refused:
        return rejected(row.number, refused.errors, record_id)
    except MeridianError as refused:
        error = FieldError("", refused.code, str(refused), record_id)
        return rejected(row.number, [error], record_id)
    assert before is not None
    befores[record_id] = after
    replaced = {key: before.get(key) for key in values if before.get(key) != after.get(key)}
    detail = {"before": _plain(replaced), "version": after.get("_version")}
    return RowOutcome(row.number, outcome, record_id, detail)


def rejected(number: int, errors: Sequence[FieldError], record_id: int | None = None) -> RowOutcome:
    """A rejected row's outcome; its detail lists each reason (field, code, the sentence, its
    catalog id and values so a report can say it in the reader's language, the value)."""
    return RowOutcome(number, "rejected", record_id, [_error_detail(e) for e in errors])


def _error_detail(error: FieldError) -> dict[str, Any]:
    message = error.message
    detail: dict[str, Any] = {
        "field": error.field,
        "code": error.code,
        "message": str(message),
        "value": _plain(error.value),
    }
    if isinstance(message, Text):
        detail["msgid"] = message.msgid
        detail["params"] = _plain(dict(message.params))
    return detail


def _cell_error(cell: CellReport) -> FieldError:
    reason = cell.reason or Text("the value cannot be read")
    return FieldError(cell.field, cell.refusal or "invalid", reason, cell.cell)


def _plain(value: Any) -> Any:
    """A value as JSON holds it (dates, decimals and the like as their text)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value if isinstance(value, _JSON_SCALARS) else str(value)
