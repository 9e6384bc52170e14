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
  :func:`meridian.dataio.cleansing.company_key` with the legal suffix taken off
  (有限公司, 股份公司 …); equal keys score 100, others by rapidfuzz's ratio, kept at or above
  ``threshold``. Names are compared only within a *block* — rows whose name, without a
  leading place name (北京, 广东深圳 …), starts with the same characters — so the work grows
  with the block sizes, not with the square of the file. Existing records are found per
  block with one ``LIKE`` over the search text per chunk of blocks (served by the pg_trgm
  index on PostgreSQL; a scan on SQLite).

Existing records are those the importing actor may read (:class:`Readable`): a row is never
paired with a record its importer could not open.

What happens to a paired row is decided per pair or for all (:data:`DECISIONS`), stored by
:mod:`meridian.dataio.duplicates`, and turned into one plan per row by :func:`plan_rows`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from rapidfuzz import fuzz, process
from sqlalchemy.engine import Connection

from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.core.timezones import DEFAULT_TIME_ZONE
from meridian.dataio.cleansing import company_key
from meridian.db.sets import one_of
from meridian.records.readable import Readable
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Field, Form
from meridian.schema.values.region import children

NAME_THRESHOLD = 90.0
"""The least similarity (0–100, rapidfuzz ratio of the company keys) that pairs two names."""
BLOCK_LENGTH = 2
"""How many leading characters of a name (place name taken off) make its block."""
MAX_BLOCK = 2000
"""The most existing records read for one block; a block larger than this is too common a
beginning to tell anything, and is compared with its first records only."""
_CHUNK = 900
_BLOCKS_PER_QUERY = 40

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
    stored in a column of its own."""
    field = form.get_field(form.title_field) if form.title_field else None
    if field is None or not field_type(field).has_plain_column(field):
        return None
    return field


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
        for members in _blocks(rows, named.key).values():
            found.extend(_similar_within(members, named.key, threshold))
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

_LEGAL_SUFFIXES = ("股份有限公司", "有限责任公司", "有限公司", "股份公司", "集团公司", "公司")
_PLACE_SUFFIXES = ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市")


def name_key(name: str) -> str:
    """The company key without its legal suffix: what two names are scored on."""
    key = company_key(name)
    for suffix in _LEGAL_SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[: -len(suffix)]
    return key


def block_of(key: str) -> str:
    """The block of a name key: its first characters after leading place names and any
    bracketed part (北京字节跳动 → 字节, 腾讯科技(深圳) → 腾讯)."""
    core = _strip_places(key.split("(")[0] or key)
    return core[:BLOCK_LENGTH]


def _strip_places(key: str) -> str:
    places = _place_names()
    changed = True
    while changed:
        changed = False
        for place in places:  # longest first
            if key.startswith(place) and len(key) > len(place) + 1:
                key = key[len(place) :]
                changed = True
                break
    return key


@lru_cache(maxsize=1)
def _place_names() -> tuple[str, ...]:
    names: set[str] = {"中国", "中华"}
    for province in children():
        for division in (province, *children(province.code)):
            names.add(division.name)
            for suffix in _PLACE_SUFFIXES:
                if division.name.endswith(suffix) and len(division.name) > len(suffix) + 1:
                    names.add(division.name[: -len(suffix)])
                    break
    return tuple(sorted(names, key=len, reverse=True))


def _blocks(rows: Rows, key: str) -> dict[str, list[tuple[int, str, str]]]:
    """Rows by block: (row number, name key, name as given)."""
    blocks: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    for number, values in rows:
        name = values.get(key)
        if not isinstance(name, str) or not name.strip():
            continue
        compared = name_key(name)
        if compared:
            blocks[block_of(compared)].append((number, compared, name))
    return blocks


def _similar_within(
    members: list[tuple[int, str, str]], field: str, threshold: float
) -> list[Candidate]:
    if len(members) < 2:
        return []
    keys = [key for _, key, _ in members]
    found = []
    for j in range(1, len(members)):
        number, key, name = members[j]
        best = process.extractOne(key, keys[:j], scorer=fuzz.ratio, score_cutoff=threshold)
        if best is not None:
            _, score, i = best
            reason = SAME_NAME if key == keys[i] else SIMILAR_NAME
            found.append(Candidate(number, reason, field, round(score, 1), name, members[i][0]))
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
    field = name_field(readable.form)
    if field is None:
        return []
    blocks = {block: members for block, members in _blocks(rows, field.key).items() if block}
    table = readable.table
    searched = (
        table.c._search if field_type(field).searchable else sa.func.lower(table.c[field.key])
    )
    found: list[Candidate] = []
    names = list(blocks)
    for start in range(0, len(names), _BLOCKS_PER_QUERY):
        chunk = names[start : start + _BLOCKS_PER_QUERY]
        patterns = [searched.like(f"%{_escape_like(block)}%", escape="\\") for block in chunk]
        statement = (
            readable.select(table.c.id, table.c[field.key])
            .where(sa.or_(*patterns), table.c[field.key].is_not(None))
            .order_by(table.c.id)
            .limit(MAX_BLOCK * len(chunk))
        )
        stored: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for record_id, name in conn.execute(statement):
            key = name_key(name)
            for block in chunk:
                if block in key and len(stored[block]) < MAX_BLOCK:
                    stored[block].append((record_id, key))
        for block in chunk:
            if stored[block]:
                found.extend(_similar_to_stored(blocks[block], stored[block], field.key, threshold))
    return found


def _similar_to_stored(
    members: list[tuple[int, str, str]],
    stored: list[tuple[int, str]],
    field: str,
    threshold: float,
) -> list[Candidate]:
    stored_keys = [key for _, key in stored]
    found = []
    for number, key, name in members:
        best = process.extractOne(key, stored_keys, scorer=fuzz.ratio, score_cutoff=threshold)
        if best is not None:
            _, score, i = best
            reason = SAME_NAME if key == stored_keys[i] else SIMILAR_NAME
            found.append(
                Candidate(number, reason, field, round(score, 1), name, record_id=stored[i][0])
            )
    return found


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


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
