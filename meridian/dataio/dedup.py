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
  indexed (``schema/name_keys.py``) — every record in range that can reach the threshold
  (its length; the pieces of the rest of the key it must hold, ``dedup_halves.pieces``),
  none left out; within the file, by the same ranges over the rows' keys sorted in memory.
  Names several edits apart are still paired when the edits fall in one half.

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
from typing import Any, Literal
from zoneinfo import ZoneInfo

from rapidfuzz import fuzz, process
from sqlalchemy.engine import Connection

from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.core.timezones import DEFAULT_TIME_ZONE
from meridian.dataio.dedup_halves import after, edit_groups, pieces, ranges
from meridian.dataio.dedup_lookups import Lookups
from meridian.records.plan import plan_for
from meridian.records.readable import Readable
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Field, Form
from meridian.schema.name_keys import NAME_KEY, NAME_REVERSED
from meridian.schema.values.company import name_key

NAME_THRESHOLD = 90.0
"""The least similarity (0–100, rapidfuzz ratio of the company keys) that pairs two names."""

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
    lookups = Lookups(conn, Readable.of(conn, form_access(conn, actor, form), tz))
    field = name_field(form)
    named = _named_rows(rows, field.key) if field is not None else []  # each name keyed once
    found = list(find_in_rows(form, rows, threshold, named))
    found.extend(_against_keys(lookups, rows))
    if field is not None and lookups.readable.plan.name_field == field.key:
        found.extend(_against_names(lookups, field.key, named, threshold))
    return best_per_pair(found)


def find_in_rows(
    form: Form, rows: Rows, threshold: float = NAME_THRESHOLD, named: list[_Named] | None = None
) -> list[Candidate]:
    """The pairs within ``rows`` alone: each row with the first earlier row sharing a key, and
    with the most similar earlier row of its name block (``named``: the rows' names with
    their keys, when the caller made them already)."""
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
    titled = name_field(form)
    if titled is not None:
        if named is None:
            named = _named_rows(rows, titled.key)
        found.extend(_similar_within(named, titled.key, threshold))
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
        found = ranges(key, threshold)
        if found is None:
            return self._range(self.by_key, self.keys, key, key + "\x00")
        head, past_head, tail, past_tail = found
        return [
            *self._range(self.by_key, self.keys, head, past_head),
            *self._range(self.by_reversed, self.reversed_keys, tail, past_tail),
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


def _against_keys(lookups: Lookups, rows: Rows) -> list[Candidate]:
    found: list[Candidate] = []
    for field in key_fields(lookups.readable.form):
        wanted: dict[Any, list[int]] = defaultdict(list)
        for number, values in rows:
            value = values.get(field.key)
            if value is not None and value != "":
                wanted[value].append(number)
        if not wanted:
            continue
        for record_id, value in lookups.equal(field.key, field.key, list(wanted)):
            for number in wanted.get(value, ()):
                found.append(
                    Candidate(number, SAME_VALUE, field.key, 100.0, str(value), record_id=record_id)
                )
    return found


def _against_names(
    lookups: Lookups, field: str, named: list[_Named], threshold: float
) -> list[Candidate]:
    stored = stored_near(lookups, [n.key for n in named], threshold)
    found = []
    for row in named:
        near = stored.near(row.key, threshold)
        if not near:
            continue
        best = process.extractOne(row.key, near, scorer=fuzz.ratio, score_cutoff=threshold)
        if best is not None:
            key, score, _ = best
            reason = SAME_NAME if row.key == key else SIMILAR_NAME
            record_id = stored.ids[key]
            found.append(
                Candidate(row.holder, reason, field, round(score, 1), row.name, record_id=record_id)
            )
    return found


class StoredNames:
    """The stored name keys a batch's lookups fetched, each once with the oldest record
    holding it (``ids``), sorted as they are and reversed for the prefix ranges of
    ``halves``: plain texts, not an object per record (a batch fetches tens of thousands)."""

    def __init__(self, rows: Iterable[tuple[int, str]]) -> None:
        ids: dict[str, int] = {}
        for record_id, key in rows:
            held = ids.get(key)
            if held is None or record_id < held:
                ids[key] = record_id
        self.ids = ids
        self.keys = sorted(ids)
        self.reversed_keys = sorted([key[::-1] for key in ids])

    def near(self, key: str, threshold: float) -> list[str]:
        """The keys that share ``key``'s head (in key order) or its tail (in reversed key
        order), or equal it, for a short key — the order :class:`_Sorted` gives the rows."""
        found = ranges(key, threshold)
        if found is None:
            return [key] if key in self.ids else []
        head, past_head, tail, past_tail = found
        keys, reversed_keys = self.keys, self.reversed_keys
        tails = reversed_keys[
            bisect_left(reversed_keys, tail) : bisect_left(reversed_keys, past_tail)
        ]
        return [
            *keys[bisect_left(keys, head) : bisect_left(keys, past_head)],
            *[reversed_key[::-1] for reversed_key in tails],
        ]


def stored_near(lookups: Lookups, keys: Sequence[str], threshold: float) -> StoredNames:
    """The readable records whose stored name key (``schema/name_keys.py``) shares the head or
    the tail of one of ``keys`` (equals it, for a short key) and may reach ``threshold``
    against it: long enough and short enough (``most_edits``: a head shared by a hundred
    names is mostly names of other lengths) and holding one of the pieces of the rest of the
    key that a name so near must hold (``dedup_halves.pieces``: a head shared by a hundred
    names of the same length is mostly names whose rest is another). Every record that can
    reach the threshold is returned, however many: none is left out unscored."""
    near = near_lookups(keys, threshold)
    rows = [*lookups.equal(NAME_KEY, NAME_KEY, near.exact)]
    for column in (NAME_KEY, NAME_REVERSED):
        rows.extend(lookups.ranges(NAME_KEY, column, near.plain[column]))
        rows.extend(lookups.ranges(NAME_KEY, column, near.filtered[column]))
    return StoredNames(rows)


@dataclass(frozen=True)
class NearLookups:
    """What :func:`stored_near` looks up: the short keys, which only the equal key can match
    (``exact``); per column (``_name_key`` for heads, ``_name_rev`` for tails), prefix ranges
    with the lengths that can pair — ``(low, high, shortest, longest)``, the widest over the
    batch's keys sharing the prefix (``plain``) — and the same with the longest length the
    pieces hold for and the pieces a name that long or shorter must hold, ``(first, count,
    piece)`` × ``MAX_PIECES`` after them (``filtered``)."""

    exact: list[str]
    plain: dict[str, list[tuple[Any, ...]]]
    filtered: dict[str, list[tuple[Any, ...]]]


def near_lookups(keys: Sequence[str], threshold: float) -> NearLookups:
    """The lookups of ``keys``' look-alikes: each key's head on ``_name_key`` and its tail on
    ``_name_rev``, the stored lengths grouped by the edits they allow (``edit_groups``), a
    group filtered by the pieces of the rest of the key where it can be (``pieces``)."""
    exact: set[str] = set()
    plain: dict[str, dict[str, tuple[int, int]]] = {NAME_KEY: {}, NAME_REVERSED: {}}
    filtered: dict[str, dict[tuple[Any, ...], None]] = {NAME_KEY: {}, NAME_REVERSED: {}}
    for key in keys:
        found = ranges(key, threshold)
        if found is None:
            exact.add(key)
            continue
        head, past_head, tail, past_tail = found
        groups = edit_groups(len(key), threshold)
        for column, prefix, past, rest in (
            (NAME_KEY, head, past_head, key[len(head) :]),
            (NAME_REVERSED, tail, past_tail, key[: len(key) - len(tail)][::-1]),
        ):
            # The pieces for the most edits they can be made for serve every shorter length
            # too (fewer edits break fewer pieces); the longer lengths are not filtered.
            held, upto = None, 0
            for _, longest, allowed in groups:
                made = pieces(rest, len(prefix), allowed)
                if made is None:
                    break
                held, upto = made, longest
            shortest, longest = groups[0][0], groups[-1][1]
            if held is None:
                side = plain[column]
                known = side.get(prefix)
                side[prefix] = (
                    (shortest, longest)
                    if known is None
                    else (min(known[0], shortest), max(known[1], longest))
                )
            else:
                filtered[column][(prefix, past, shortest, longest, upto, *held)] = None
    return NearLookups(
        sorted(exact),
        {
            column: [(p, after(p), *bounds) for p, bounds in sorted(side.items())]
            for column, side in plain.items()
        },
        {column: list(terms) for column, terms in filtered.items()},
    )


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
