"""Duplicate detection for rows about to be imported: within the file and against the records
already stored, by exact keys and by similar company names (issue 19, item 4).

A row is paired with what it may duplicate — an earlier row of the same file or an existing
record — as a :class:`Candidate` with a score and a reason:

- ``same_value``: a field whose type is a party's key (``FieldType.duplicate_key``: USCC,
  phone, email) holds the same value. Values arrive as the API holds them, already
  normalised by their field type (E.164 phones, upper-case USCC, lower-case email), so the
  comparison is plain equality: a dictionary within the file, ``IN`` queries on the column
  against the table (one per 900 values).
- ``same_name`` / ``similar_name``: the form's title field, compared by
  :func:`meridian.schema.values.company.name_key` (the company key with the legal suffix —
  有限公司, 股份公司 … — taken off); equal keys score 100, others by rapidfuzz's ratio, kept at
  or above ``threshold``. A name is scored only against the names that share the first half
  or the last half of its key (``dedup_halves.halves``): one edit anywhere — a character
  changed, added or dropped — leaves one of the halves whole, so every name one edit away is among
  them, while a key's half is rare enough that the work grows with the rows, not with the
  table. Stored records are found by prefix ranges on the name keys the write path keeps
  indexed (``schema/name_keys.py``) — every record in range, none left out; within the file,
  by the same ranges over the rows' keys sorted in memory. Names several edits apart are
  still paired when the edits fall in one half.

Existing records are those the importing actor may read (:class:`Readable`): a row is never
paired with a record its importer could not open.

What happens to a paired row is decided per pair or for all (:data:`DECISIONS`), stored by
:mod:`meridian.dataio.duplicates`, and turned into one plan per row by :func:`plan_rows`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from rapidfuzz import fuzz, process
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.core.timezones import DEFAULT_TIME_ZONE
from meridian.dataio.dedup_halves import halves, most_edits
from meridian.db.sets import one_of
from meridian.records.plan import plan_for
from meridian.records.readable import Readable
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Field, Form
from meridian.schema.name_keys import NAME_KEY, NAME_REVERSED
from meridian.schema.values.company import name_key

NAME_THRESHOLD = 90.0
"""The least similarity (0–100, rapidfuzz ratio of the company keys) that pairs two names."""
_CHUNK = 900
_LOOKUPS_PER_QUERY = 200

Decision = Literal["merge", "keep", "skip"]
DECISIONS: tuple[Decision, ...] = ("merge", "keep", "skip")
"""merge: the row's values go into the record it duplicates (an existing record, or the one
the earlier row made); keep: the row becomes a record of its own; skip: the row is left out."""

SAME_VALUE = "same_value"
SAME_NAME = "same_name"
SIMILAR_NAME = "similar_name"


@dataclass(frozen=True)
class Candidate:
    """One row that may duplicate an earlier row (``other_row``) or a record (``record_id``).

    :ivar row: the row's number as the sheet shows it.
    :ivar reason: ``same_value``, ``same_name`` or ``similar_name``.
    :ivar field: the field compared.
    :ivar score: 100 for equal values, else the names' similarity.
    :ivar value: the row's value that matched.
    """

    row: int
    reason: str
    field: str
    score: float
    value: str
    other_row: int | None = None
    record_id: int | None = None

    @property
    def other(self) -> tuple[str, int]:
        """What the row is paired with: ("record", id) or ("row", number)."""
        if self.record_id is not None:
            return ("record", self.record_id)
        assert self.other_row is not None
        return ("row", self.other_row)


Rows = Sequence[tuple[int, Mapping[str, Any]]]
"""(row number, the row's values as the API takes them) — what ``converting`` gives."""


def key_fields(form: Form) -> list[Field]:
    """The form's fields whose equal values mean one party (USCC, phone, email)."""
    return [
        f
        for f in form.active_fields
        if field_type(f).duplicate_key and field_type(f).has_plain_column(f)
    ]


def name_field(form: Form) -> Field | None:
    """The field similar names are compared on: the form's title field, when it is text
    stored in a column of its own (the field its records' name keys are made from)."""
    key = plan_for(form).name_field
    return form.get_field(key) if key is not None else None


def find_duplicates(
    *,
    conn: Connection,
    actor: Actor,
    form: Form,
    rows: Rows,
    threshold: float = NAME_THRESHOLD,
    tz: ZoneInfo = DEFAULT_TIME_ZONE,
) -> list[Candidate]:
    """Every pair of a row with an earlier row of ``rows`` or with a record ``actor`` may read,
    by exact keys and similar names; at most one candidate per row and partner (the best),
    ordered by row."""
    readable = Readable.of(conn, form_access(conn, actor, form), tz)
    found = list(find_in_rows(form, rows, threshold))
    found.extend(_against_keys(conn, readable, rows))
    found.extend(_against_names(conn, readable, rows, threshold))
    return best_per_pair(found)


def find_in_rows(form: Form, rows: Rows, threshold: float = NAME_THRESHOLD) -> list[Candidate]:
    """The pairs within ``rows`` alone: each row with the first earlier row sharing a key, and
    with the most similar earlier row of its name block."""
    found: list[Candidate] = []
    for field in key_fields(form):
        first: dict[Any, int] = {}
        for number, values in rows:
            value = values.get(field.key)
            if value is None or value == "":
                continue
            if value in first:
                found.append(
                    Candidate(number, SAME_VALUE, field.key, 100.0, str(value), first[value])
                )
            else:
                first[value] = number
    named = name_field(form)
    if named is not None:
        found.extend(_similar_within(_named_rows(rows, named.key), named.key, threshold))
    return best_per_pair(found)


def best_per_pair(found: Iterable[Candidate]) -> list[Candidate]:
    """One candidate per (row, partner): an exact key before a name, then the higher score."""
    rank = {SAME_VALUE: 0, SAME_NAME: 1, SIMILAR_NAME: 2}
    best: dict[tuple[int, tuple[str, int]], Candidate] = {}
    for candidate in found:
        key = (candidate.row, candidate.other)
        held = best.get(key)
        if held is None or (rank[candidate.reason], -candidate.score) < (
            rank[held.reason],
            -held.score,
        ):
            best[key] = candidate
    return sorted(best.values(), key=lambda c: (c.row, c.other))


# ---- names ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Named:
    """A name to pair: who holds it (a row's number or a record's id), its key, as given."""

    holder: int
    key: str
    name: str


def _after(prefix: str) -> str:
    """The least text greater than every text starting with ``prefix`` (byte order)."""
    last = ord(prefix[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:
        last = 0xE000
    return prefix[:-1] + chr(min(last, 0x10FFFF))


class _Sorted:
    """Names sorted by key and by reversed key, for the prefix ranges of ``halves``."""

    def __init__(self, named: Sequence[_Named]) -> None:
        self.by_key = sorted(named, key=lambda n: (n.key, n.holder))
        self.keys = [n.key for n in self.by_key]
        self.by_reversed = sorted(named, key=lambda n: (n.key[::-1], n.holder))
        self.reversed_keys = [n.key[::-1] for n in self.by_reversed]

    def near(self, key: str, threshold: float) -> list[_Named]:
        """The names that share ``key``'s first half or its last half (or equal it, for a
        short key): every name within one edit of it, and more."""
        found = halves(key, threshold)
        if found is None:
            return self._range(self.by_key, self.keys, key, key + "\x00")
        head, tail = found
        return [
            *self._range(self.by_key, self.keys, head, _after(head)),
            *self._range(self.by_reversed, self.reversed_keys, tail, _after(tail)),
        ]

    @staticmethod
    def _range(named: list[_Named], keys: list[str], low: str, high: str) -> list[_Named]:
        return named[bisect_left(keys, low) : bisect_left(keys, high)]


def _named_rows(rows: Rows, key: str) -> list[_Named]:
    named = []
    for number, values in rows:
        name = values.get(key)
        if not isinstance(name, str) or not name.strip():
            continue
        compared = name_key(name)
        if compared:
            named.append(_Named(number, compared, name))
    return named


def _best(row: _Named, near: list[_Named], threshold: float) -> tuple[_Named, float] | None:
    if not near:
        return None
    best = process.extractOne(
        row.key, [n.key for n in near], scorer=fuzz.ratio, score_cutoff=threshold
    )
    if best is None:
        return None
    _, score, index = best
    return near[index], score


def _similar_within(named: list[_Named], field: str, threshold: float) -> list[Candidate]:
    """Each row with the most similar earlier row among those that share half its key."""
    index = _Sorted(named)
    order = {n.holder: i for i, n in enumerate(named)}
    found = []
    for position, row in enumerate(named):
        earlier = [n for n in index.near(row.key, threshold) if order[n.holder] < position]
        best = _best(row, sorted(earlier, key=lambda n: order[n.holder]), threshold)
        if best is not None:
            other, score = best
            reason = SAME_NAME if row.key == other.key else SIMILAR_NAME
            found.append(
                Candidate(row.holder, reason, field, round(score, 1), row.name, other.holder)
            )
    return found


# ---- against stored records ------------------------------------------------------------------


def _against_keys(conn: Connection, readable: Readable, rows: Rows) -> list[Candidate]:
    found: list[Candidate] = []
    table = readable.table
    for field in key_fields(readable.form):
        wanted: dict[Any, list[int]] = defaultdict(list)
        for number, values in rows:
            value = values.get(field.key)
            if value is not None and value != "":
                wanted[value].append(number)
        values_list = list(wanted)
        column = table.c[field.key]
        for start in range(0, len(values_list), _CHUNK):
            chunk = values_list[start : start + _CHUNK]
            statement = readable.select(column, table.c.id).where(one_of(conn, column, chunk))
            for value, record_id in conn.execute(statement):
                for number in wanted.get(value, ()):
                    found.append(
                        Candidate(
                            number, SAME_VALUE, field.key, 100.0, str(value), record_id=record_id
                        )
                    )
    return found


def _against_names(
    conn: Connection, readable: Readable, rows: Rows, threshold: float
) -> list[Candidate]:
    field = readable.plan.name_field
    if field is None:
        return []
    named = _named_rows(rows, field)
    stored = _Sorted(stored_near(conn, readable, [n.key for n in named], threshold))
    found = []
    for row in named:
        best = _best(row, stored.near(row.key, threshold), threshold)
        if best is not None:
            record, score = best
            reason = SAME_NAME if row.key == record.key else SIMILAR_NAME
            found.append(
                Candidate(
                    row.holder, reason, field, round(score, 1), row.name, record_id=record.holder
                )
            )
    return found


def stored_near(
    conn: Connection, readable: Readable, keys: Sequence[str], threshold: float
) -> list[_Named]:
    """The readable records whose stored name key (``schema/name_keys.py``) shares the head or
    the tail of one of ``keys`` (equals it, for a short key) and is long enough and short
    enough to reach ``threshold`` against it (``most_edits``: a head shared by a hundred
    names is mostly names of other lengths). Every such record is returned, however many:
    none is left out unscored."""
    records: dict[int, _Named] = {}
    for statement, values in near_statements(readable, keys, threshold):
        for record_id, key in conn.execute(statement, values):
            records[record_id] = _Named(record_id, key, key)
    return list(records.values())


def near_statements(
    readable: Readable, keys: Sequence[str], threshold: float
) -> list[tuple[sa.Select[Any], dict[str, Any]]]:
    """The statements :func:`stored_near` runs, each with its values: prefix ranges on the
    indexed ``_name_key`` and ``_name_rev``, each with the lengths its keys can pair with
    (the widest over the batch's keys sharing that head or tail), an ``IN`` for the short keys;
    ``_LOOKUPS_PER_QUERY`` to a statement. A statement's condition is made once per shape
    (:func:`_near_condition`) and given the keys' bounds as values: built anew for each
    batch, its thousands of comparisons cost more than SQLite's lookups."""
    table = readable.table
    key_column, reversed_column = table.c[NAME_KEY], table.c[NAME_REVERSED]
    exact: set[str] = set()
    heads: dict[str, tuple[int, int]] = {}
    tails: dict[str, tuple[int, int]] = {}
    for key in keys:
        found = halves(key, threshold)
        if found is None:
            exact.add(key)
        else:
            edits = most_edits(len(key), threshold)
            low, high = len(key) - edits, len(key) + edits
            for side, part in ((heads, found[0]), (tails, found[1])):
                held = side.get(part)
                side[part] = (
                    (low, high) if held is None else (min(held[0], low), max(held[1], high))
                )
    terms: list[tuple[str, Any]] = [
        *(("head", (h, heads[h])) for h in sorted(heads)),
        *(("tail", (t, tails[t])) for t in sorted(tails)),
    ]
    exact_keys = sorted(exact)
    terms.extend(
        ("exact", exact_keys[start : start + _CHUNK]) for start in range(0, len(exact_keys), _CHUNK)
    )
    made = []
    for start in range(0, len(terms), _LOOKUPS_PER_QUERY):
        chunk = terms[start : start + _LOOKUPS_PER_QUERY]
        kinds = tuple(kind for kind, _ in chunk)
        values: dict[str, Any] = {}
        for position, (kind, value) in enumerate(chunk):
            if kind == "exact":
                values[f"k{position}"] = value
            else:
                part, (shortest, longest) = value
                values[f"lo{position}"], values[f"hi{position}"] = part, _after(part)
                values[f"ls{position}"], values[f"ll{position}"] = shortest, longest
        condition = _near_condition(key_column, reversed_column, kinds)
        made.append((readable.select(table.c.id, key_column).where(condition), values))
    return made


@lru_cache(maxsize=512)
def _near_condition(
    key_column: sa.Column[Any], reversed_column: sa.Column[Any], kinds: tuple[str, ...]
) -> ColumnElement[bool]:
    """``OR`` of one condition per term — a head's range on the key, a tail's on the reversed
    key, an ``IN`` of short keys — its bounds left as values (``lo0``/``hi0``, ``k2`` …)."""
    terms: list[ColumnElement[bool]] = []
    for position, kind in enumerate(kinds):
        if kind == "exact":
            terms.append(key_column.in_(sa.bindparam(f"k{position}", expanding=True)))
            continue
        column = key_column if kind == "head" else reversed_column
        terms.append(
            sa.and_(
                column >= sa.bindparam(f"lo{position}", type_=column.type),
                column < sa.bindparam(f"hi{position}", type_=column.type),
                sa.func.length(column).between(
                    sa.bindparam(f"ls{position}", type_=sa.Integer),
                    sa.bindparam(f"ll{position}", type_=sa.Integer),
                ),
            )
        )
    return sa.or_(*terms)


# ---- what becomes of each row ----------------------------------------------------------------


@dataclass(frozen=True)
class RowPlan:
    """What the import does with one row.

    :ivar action: ``create`` (a new record), ``merge`` (into ``record_id``, or into the record
        ``into_row`` made) or ``skip``.
    """

    action: Literal["create", "merge", "skip"]
    record_id: int | None = None
    into_row: int | None = None


def plan_rows(
    candidates: Sequence[Candidate],
    decisions: Mapping[tuple[int, tuple[str, int]], Decision],
    default: Decision,
) -> dict[int, RowPlan]:
    """The plan of every paired row (a row without a candidate is created): per row the
    decision on its pair — ``decisions`` by (row, partner), else ``default``. A pair with an
    existing record goes before one with an earlier row; a ``skip`` on any pair skips the
    row; ``keep`` on every pair creates it. A row merged into an earlier row that is itself
    skipped or merged follows that row (into its record, or skipped)."""
    by_row: dict[int, list[Candidate]] = defaultdict(list)
    for candidate in candidates:
        by_row[candidate.row].append(candidate)
    plans: dict[int, RowPlan] = {}
    for row in sorted(by_row):
        pairs = sorted(by_row[row], key=lambda c: (c.record_id is None, c.other))
        chosen = [(c, decisions.get((row, c.other), default)) for c in pairs]
        if any(decision == "skip" for _, decision in chosen):
            plans[row] = RowPlan("skip")
            continue
        merging = [c for c, decision in chosen if decision == "merge"]
        if not merging:
            plans[row] = RowPlan("create")
            continue
        target = merging[0]
        if target.record_id is not None:
            plans[row] = RowPlan("merge", record_id=target.record_id)
            continue
        assert target.other_row is not None
        earlier = plans.get(target.other_row, RowPlan("create"))
        if earlier.action == "create":
            plans[row] = RowPlan("merge", into_row=target.other_row)
        else:
            plans[row] = earlier
    return plans


def merged_values(
    existing: Mapping[str, Any], incoming: Mapping[str, Any], *, overwrite: bool = False
) -> dict[str, Any]:
    """The values a merged row writes into the record it duplicates: the row's non-empty
    values for the record's empty fields — and, with ``overwrite``, for every field whose
    value differs. Nothing the record holds is lost unless asked."""
    changes: dict[str, Any] = {}
    for key, value in incoming.items():
        if value is None or value == "" or value == []:
            continue
        held = existing.get(key)
        if held is None or held == "" or held == []:
            changes[key] = value
        elif overwrite and held != value:
            changes[key] = value
    return changes
