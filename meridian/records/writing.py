"""The steps every record write shares — parse and insert, write line items and link pairs,
keep only writable fields, refresh rollups — used by the one-record and the bulk write paths."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from meridian.access.permissions import FormAccess, form_access, operation_name
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.core.ids import is_id
from meridian.core.lazy import ReadWhenAsked
from meridian.core.pinyin import search_text
from meridian.db.bulk import insert_many
from meridian.db.ids import reserve_ids
from meridian.db.sets import one_of
from meridian.db.writes import writes_to
from meridian.errors import ErrorCollector, PermissionDenied
from meridian.records.assignees import may_assign
from meridian.records.formulas import FormulaRunner
from meridian.records.guards import (
    NEW_RECORD,
    ProposedWrite,
    WriteBatch,
    WriteIntent,
    guard_writes,
)
from meridian.records.history import write_creations
from meridian.records.numbering import assign_numbers
from meridian.records.plan import FormPlan, plan_for
from meridian.records.references import check_references, check_unique, unique_writes
from meridian.records.search import index_search_texts, merges_deferred, record_search_text
from meridian.records.subscribers import announce_created
from meridian.records.values import ParsedRecord, RecordParser
from meridian.schema.compile import FormTables
from meridian.schema.expressions import (
    compile_form_expressions,
    linked_rollups_onto,
    refresh_linked_rollup,
)
from meridian.schema.fieldtypes import ValueContext, field_type
from meridian.schema.model import Form
from meridian.schema.name_keys import NAME_KEY, NAME_REVERSED, keys_of, name_key_values


def parse_items(
    conn: Connection,
    actor: Actor,
    form: Form,
    items: Sequence[Mapping[str, Any]],
    tz: ZoneInfo,
    prefixes: Sequence[str],
    errors: ErrorCollector,
) -> list[ParsedRecord]:
    """The items checked field by field as new records (the actor's field rights first), every
    error into ``errors``; ``PermissionDenied`` when the actor may not create records."""
    access = form_access(conn, actor, form)
    access.require("create")
    ctx = ValueContext(tz)
    parser = RecordParser(form)
    return [
        parser.parse(
            writable(access, item, prefix, errors, conn), ctx, errors, prefix=prefix, creating=True
        )
        for item, prefix in zip(items, prefixes, strict=True)
    ]


@dataclass(frozen=True)
class Inserted:
    """What :func:`insert_echoed` wrote: the ids; for one record inserted with ``echo``
    columns, its row as ``RETURNING`` gave it and the table's write count just after."""

    ids: list[int]
    row: Row[Any] | None = None
    writes: int = 0


@functools.lru_cache(maxsize=256)
def _insert_returning(table: sa.Table, echo: tuple[sa.Column[Any], ...]) -> sa.Insert:
    """One record's INSERT giving back its id and the ``echo`` columns; made once per table
    and columns (SQLAlchemy keys a statement's compiled form by walking it, once per statement
    object: a form's ~30 columns cost more to walk than the row costs to write)."""
    shown = list(echo)
    if all(column.name != "id" for column in shown):
        shown.insert(0, table.c.id)
    return table.insert().returning(*shown)


def insert_echoed(
    conn: Connection,
    actor: Actor,
    form: Form,
    items: Sequence[Mapping[str, Any]],
    tz: ZoneInfo,
    *,
    prefixes: list[str],
    intent: WriteIntent | None = None,
    parsed: Sequence[ParsedRecord] | None = None,
    prechecked: bool = False,
    derived: Sequence[Derived | None] | None = None,
    echo: Sequence[sa.Column[Any]] | None = None,
) -> Inserted:
    """Create records of ``items`` (or of ``parsed``: items :func:`parse_items` checked
    already without error, as an import does to set its bad rows aside first; with
    ``prechecked`` their references and unique values too — :func:`check_parsed` in this
    transaction, without error). ``derived``: per record, its search text and name keys
    computed ahead (an import's converting process), taken when the record is written with
    the very values they were made from (:meth:`Derived.fits`), else computed here.

    Many records get their ids reserved first (one statement) and are inserted by one
    ``executemany``. One record takes its id from its INSERT (``RETURNING``, with the ``echo``
    columns, so the writer may answer without reading it again): the write guards judge it
    under a provisional id (:data:`NEW_RECORD`) that what they let through is moved off once
    the real one is known."""
    prepared = prepare_insert(
        conn,
        actor,
        form,
        items,
        tz,
        prefixes=prefixes,
        intent=intent,
        parsed=parsed,
        prechecked=prechecked,
        derived=derived,
    )
    return write_insert(conn, prepared, echo=echo)


@dataclass(frozen=True)
class PreparedInsert:
    """Records checked, numbered, computed and let through by the write guards, not written
    yet (:func:`prepare_insert`); :func:`write_insert` writes them."""

    form: Form
    actor: Actor
    parsed: Sequence[ParsedRecord]
    prefixes: Sequence[str]
    rows: list[dict[str, Any]]
    ids: list[int]
    intent: WriteIntent
    now: datetime


def prepare_insert(
    conn: Connection,
    actor: Actor,
    form: Form,
    items: Sequence[Mapping[str, Any]],
    tz: ZoneInfo,
    *,
    prefixes: Sequence[str],
    intent: WriteIntent | None = None,
    parsed: Sequence[ParsedRecord] | None = None,
    prechecked: bool = False,
    derived: Sequence[Derived | None] | None = None,
) -> PreparedInsert:
    """The part of :func:`insert_echoed` that may refuse (``ValidationFailed``): every check,
    numbering, formulas and the write guards. Of the database it changes only a numbered
    field's counter, so a caller retrying without the refused records needs a savepoint
    around this part alone — not around the writes, where SQLite's savepoint would copy
    every page the inserts touch into its sub-journal (measured at 300,000 records: 23 of
    50 µs per record of the main INSERT, growing with the table)."""
    plan = plan_for(form)
    errors = ErrorCollector()
    if parsed is None:
        parsed = parse_items(conn, actor, form, items, tz, prefixes, errors)
    else:
        form_access(conn, actor, form).require("create")
    if not prechecked:
        check_parsed(conn, actor, form, parsed, tz, prefixes, errors)
    errors.raise_if_any()
    now = utcnow(conn)
    for f in plan.column_fields:
        if field_type(f).numbered:
            for record, number in zip(
                parsed, assign_numbers(conn, form, f, len(parsed), now, tz), strict=True
            ):
                record.columns[f.key] = number
    # Every row: each field blank unless given, the actor the owner unless one is given, the
    # system columns; built as one dict display per record.
    start = dict.fromkeys((f.key for f in plan.column_fields), None)
    start["owner_id"] = actor.user_id
    system = {
        "_version": 1,
        "created_at": now,
        "created_by": actor.user_id,
        "updated_at": now,
        "updated_by": actor.user_id,
        "deleted_at": None,
    }
    rows = []
    sources = _row_sources(plan)
    knowns = derived if derived is not None else [None] * len(parsed)
    for record, known in zip(parsed, knowns, strict=True):
        row = {**start, **record.columns, **system}
        if known is not None and known.fits(sources(row)):
            row["_search"] = known.search
            row[NAME_KEY], row[NAME_REVERSED] = known.name_keys
        else:
            row["_search"] = record_search_text(plan.search_fields, row)
            row.update(name_key_values(plan.name_field, row))
        rows.append(row)
    if has_expressions(form):
        runner = FormulaRunner(conn, form, compile_form_expressions(conn, form), tz)
        runner.apply(rows, [record.lines for record in parsed], errors, prefixes)
        errors.raise_if_any()
    table = plan.tables.main
    one = len(rows) == 1
    ids = [NEW_RECORD] if one else reserve_ids(conn, table, len(rows))
    for record_id, row in zip(ids, rows, strict=True):
        row["id"] = record_id
    intent = intent or WriteIntent()

    def proposed() -> list[ProposedWrite]:
        return [
            ProposedWrite(
                record_id,
                prefix,
                None,
                row,
                frozenset({*record.columns, *record.lines, *record.pairs})
                if record.lines or record.pairs
                else frozenset(record.columns),
            )
            for record_id, row, record, prefix in zip(ids, rows, parsed, prefixes, strict=True)
        ]

    writes = _MadeWhenRead(proposed, len(rows))
    guard_writes(conn, WriteBatch(form, actor, "create", writes, intent))
    return PreparedInsert(form, actor, parsed, prefixes, rows, ids, intent, now)


class _MadeWhenRead(ReadWhenAsked[ProposedWrite]):
    """A create's proposed writes, made when a guard first reads them: the guards judge most
    creates without reading a record (a form without pipelines; the approval lock, which
    never holds a new record), and a batch's thousand frozen writes cost more to make than
    its history costs to write."""

    def __init__(self, make: Callable[[], list[ProposedWrite]], count: int) -> None:
        self._make: Callable[[], list[ProposedWrite]] | None = make
        self._count = count
        self._made: list[ProposedWrite] = []

    def _items(self) -> list[ProposedWrite]:
        if self._make is not None:
            self._made, self._make = self._make(), None
        return self._made

    def __len__(self) -> int:
        return self._count


def write_insert(
    conn: Connection,
    prepared: PreparedInsert,
    *,
    echo: Sequence[sa.Column[Any]] | None = None,
    merge_later: bool = False,
) -> Inserted:
    """Write what :func:`prepare_insert` let through: the rows, their search index entries,
    line items and links, history, rollups and events. On PostgreSQL a writer that took one
    of the unique values meanwhile makes this refuse (``unique_writes``) before it wrote
    anything; on SQLite nothing refuses here. ``merge_later``: a bulk load that merges the
    search index when it ends (an import) has SQLite's index flush these texts without
    merging (``search.merges_deferred``)."""
    form, actor, parsed, prefixes = (
        prepared.form,
        prepared.actor,
        prepared.parsed,
        prepared.prefixes,
    )
    rows, ids, intent, now = prepared.rows, prepared.ids, prepared.intent, prepared.now
    plan = plan_for(form)
    table = plan.tables.main
    one = len(rows) == 1
    echoed: Row[Any] | None = None
    with unique_writes(conn, form, parsed, prefixes, [None] * len(parsed)):
        if one:
            values = {key: value for key, value in rows[0].items() if key != "id"}
            echoed = conn.execute(_insert_returning(table, tuple(echo or ())), values).one()
            ids = [int(echoed._mapping["id"])]
            rows[0]["id"] = ids[0]
            _moved_off_provisional(intent, ids[0])
        else:
            insert_many(conn, table, rows)
    writes = writes_to(conn, table)
    texts = {row["id"]: row["_search"] for row in rows if row["_search"] is not None}
    # FTS5 flushes the texts at the next statement that writes many rows (the history's
    # INSERT … SELECT opens a statement journal), inside the deferral.
    with merges_deferred(conn, plan.tables) if merge_later else contextlib.nullcontext():
        index_search_texts(conn, plan.tables, texts, new=True)
        write_sides(conn, form, plan.tables, list(zip(ids, parsed, strict=True)), replace=False)
        write_creations(conn, form.key, table, ids, actor.user_id, now)
    refresh_rollups(conn, form, rows)
    announce_created(
        conn, form, table, ids, actor.user_id, dict(zip(ids, rows, strict=True)), intent
    )
    return Inserted(ids, echoed if echo else None, writes)


def check_parsed(
    conn: Connection,
    actor: Actor,
    form: Form,
    parsed: Sequence[ParsedRecord],
    tz: ZoneInfo,
    prefixes: Sequence[str],
    errors: ErrorCollector,
) -> None:
    """What a create checks against the database before it writes: links and users the
    records name (:func:`check_references`) and unique values free and distinct in the batch
    (:func:`check_unique`); every error into ``errors``. A caller that sets refused records
    aside and writes the rest with ``insert_echoed(prechecked=True)`` has the rest checked:
    references are judged per record, and records distinct from every other of a batch stay
    distinct in any part of it."""
    check_references(conn, form, parsed, errors, prefixes, actor=actor, tz=tz)
    check_unique(conn, form, parsed, errors, prefixes, [None] * len(parsed))


class Derived(NamedTuple):
    """A record's search text and name keys computed ahead of its write, from ``source``:
    the values of the fields they are made of (:func:`derived_sources`). A named tuple: an
    import makes one per row in its converting process and again in the writer, where a
    frozen dataclass cost four times as much to make."""

    source: tuple[Any, ...]
    search: str | None
    name_keys: tuple[str | None, str | None]

    def fits(self, source: tuple[Any, ...]) -> bool:
        """Whether the record is written with the values these were made from, so that
        computing them again would give the same: each value the very object, or an equal
        text or integer (``1 == 1.0 == True``, ``Decimal("1.0") == 1`` and ``0.0 == -0.0``
        are equal and read differently)."""
        mine = self.source
        # The values an import's converting process handed over are the very objects its
        # source holds (pickle keeps one object once), so identity settles nearly every record.
        return len(mine) == len(source) and (
            all(map(operator.is_, mine, source)) or all(map(_same, mine, source))
        )


_PLAIN = frozenset({str, int})


def _same(a: Any, b: Any) -> bool:
    return a is b or (a.__class__ is b.__class__ and a.__class__ in _PLAIN and a == b)


def derived_sources(plan: FormPlan) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """The values of a row the search text and name keys are made of, in a fixed order."""
    keys = [f.key for f in plan.search_fields]
    if plan.name_field is not None:
        keys.append(plan.name_field)

    def sources(row: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(row.get(key) for key in keys)

    return sources


def _row_sources(plan: FormPlan) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """:func:`derived_sources` for a row holding every column (a row :func:`prepare_insert`
    builds), read by one ``itemgetter``."""
    keys = [f.key for f in plan.search_fields]
    if plan.name_field is not None:
        keys.append(plan.name_field)
    if len(keys) < 2:
        return derived_sources(plan)
    return operator.itemgetter(*keys)


def derive(plan: FormPlan, values: Mapping[str, Any]) -> Derived:
    """The search text and name keys of a record to be written with ``values`` (its stored
    values, blank fields left out), as :func:`insert_echoed` would compute them."""
    return deriver(plan)(values)


def deriver(plan: FormPlan) -> Callable[[Mapping[str, Any]], Derived]:
    """:func:`derive` for one form, its fields looked up once: an import derives every row of
    a file. The text is :func:`record_search_text`'s and the keys
    :func:`~meridian.schema.name_keys.name_key_values`', made from the source tuple itself."""
    searched = [f.key for f in plan.search_fields]
    name = plan.name_field
    keys = (*searched, name) if name is not None else tuple(searched)
    count = len(searched)

    def derived(values: Mapping[str, Any]) -> Derived:
        source = tuple(map(values.get, keys))
        texts = [str(value) for value in source[:count] if value is not None]
        return Derived(
            source,
            search_text(*texts) if texts else None,
            keys_of(source[count]) if name is not None else (None, None),
        )

    return derived


def _moved_off_provisional(intent: WriteIntent, record_id: int) -> None:
    """What the guards let through for the new record, under its real id."""
    for code, refusals in intent.overridden.items():
        intent.overridden[code] = [
            dataclasses.replace(r, record_id=record_id) if r.record_id == NEW_RECORD else r
            for r in refusals
        ]


def refresh_rollups(conn: Connection, form: Form, rows: Sequence[Mapping[Any, Any]]) -> None:
    """Recompute rollups that aggregate this form, for the records these rows link to."""
    for parent, field in linked_rollups_onto(conn, form.key):
        assert field.rollup is not None
        link_key = field.rollup.source.partition(".")[2]
        parents = {row[link_key] for row in rows if row.get(link_key) is not None}
        refresh_linked_rollup(conn, parent, field, parents)


def has_expressions(form: Form) -> bool:
    return plan_for(form).has_expressions


def dump_lines(
    plan: FormPlan, key: str, lines: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    return [plan.line_dumpers[key].dump(line) for line in lines]


def write_sides(
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


def writable(
    access: FormAccess,
    values: Any,
    prefix: str,
    errors: ErrorCollector,
    conn: Connection | None = None,
) -> Any:
    """``values`` without the fields the actor may not write, each reported as an error: a
    hidden field as unknown (its existence is not given away), a read-only one as such, and
    an ``owner_id`` outside the people the owner picker offers (whose records the actor may
    update: :func:`meridian.records.assignees.may_assign`)."""
    if not isinstance(values, Mapping) or access.unrestricted:
        return values
    owner: Any = values.get("owner_id")
    if conn is not None and is_id(owner) and not may_assign(conn, access, owner):
        errors.add(
            prefix + "owner_id",
            "owner_out_of_scope",
            Text(
                "you may not give records to user {owner_id}: their records are outside what "
                "you may update",
                owner_id=owner,
            ),
            owner,
        )
        values = {k: v for k, v in values.items() if k != "owner_id"}
    allowed = {}
    for key, value in values.items():
        if key in access.hidden:
            errors.add(
                prefix + key,
                "unknown_field",
                Text("form {form!r} has no field {key!r}", form=access.form.key, key=key),
                value,
            )
        elif key in access.read_only:
            errors.add(
                prefix + key, "read_only", Text("you may not change {key!r}", key=key), value
            )
        else:
            allowed[key] = value
    return allowed


def require_rows(
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
            Text(
                "you may not {operation} record {record_id} of form {key!r}",
                operation=operation_name(operation),
                record_id=record_id,
                key=access.form.key,
            ),
            id=record_id,
            operation=operation,
        )


def dumped_pairs(
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


def stored_lines_of(
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
