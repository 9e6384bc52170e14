"""The database work of a bulk write replayed as plain SQL: the floor an import is measured
against when the comparison must be of equal work.

Copying the records into a bare table (no secondary index, no history, no search index, no
events, no outcome rows) measures something an import never does: at a million rows its
indexes, its trigram index and its four side tables are most of what SQLite writes. Here every
row the write added, in every table it wrote to, is inserted again by the DB-API's
``executemany`` into a copy of that table made from its own DDL in ``sqlite_master`` — the same
columns, indexes, unique indexes and FTS5 options — in the same number of transactions, each on
a connection of the same engine (Meridian's pragmas: WAL, ``synchronous=NORMAL``, page cache),
with the statements the import adds around its rows (its progress and counts updated, the
trigram index's merging deferred in each transaction and merged in short steps at the end) and
the same checkpointing thread beside it. What is left out is Meridian's Python and its reads
(conversion, checks, deduplication's lookups) — and, with ``--on-duplicate merge``, the
UPDATEs of records merged into: the copy holds each record as the import left it.

SQLite only: the copies need its DDL and rowids.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from meridian.db.checkpoints import checkpoints_beside
from meridian.db.tables import imports
from meridian.records.search import FTS5_AUTOMERGE, MERGE_STEP_PAGES

COPY_PREFIX = "fair_raw_"
FTS5_SHADOWS = ("_data", "_idx", "_content", "_docsize", "_config")


def high_water(engine: Engine) -> dict[str, int]:
    """Each table's highest rowid (0 when empty): the rows a write adds lie above it. Tables
    without rowids are given their row count, so a write that adds to one is noticed (and
    refused by :func:`replay`, which cannot copy them a slice at a time)."""
    with _raw(engine) as raw:
        marks = {}
        for name, sql in _tables(raw):
            what = "count(*)" if "WITHOUT ROWID" in sql.upper() else "max(rowid)"
            marks[name] = int(raw.execute(f'SELECT {what} FROM "{name}"').fetchone()[0] or 0)
        return marks


@dataclass
class Replayed:
    """What the replay wrote and what it took; times summed over the transactions only."""

    rows: dict[str, int]
    transactions: int
    wall: float = 0.0
    thread_cpu: float = 0.0
    on_core: float = 0.0
    waiting: float = 0.0
    merge_wall: float = 0.0
    merge_cpu: float = 0.0
    merge_steps: int = 0
    by_table: dict[str, float] = field(default_factory=dict)
    """The writing thread's CPU seconds in each table's ``executemany`` (the rest of
    ``thread_cpu`` is the transactions' own statements and commits, where FTS5 writes the
    segment its pending texts make)."""

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def replay(engine: Engine, before: dict[str, int], transactions: int, import_id: int) -> Replayed:
    """Insert again every row added since ``before`` (:func:`high_water`) into copies of the
    tables, in ``transactions`` transactions: the k-th takes the k-th slice of each table's
    new rows by rowid — an import batch's records, search texts, history, events and outcome
    rows, as near as slices of equal size come —, each updating import ``import_id``'s
    progress and counts in the copy of ``sys_import`` as the import's batches did. The slices
    are read outside the timing, a slice at a time, on a connection of their own."""
    after = high_water(engine)
    written = [name for name, mark in before.items() if after[name] > mark]
    with _raw(engine) as reader, _raw(engine) as writer:
        sources = [_Source.of(reader, name, before.get(name, 0)) for name in written]
        for source in sources:
            source.copy_schema(writer)
        searches = [s.copy for s in sources if s.virtual]
        progress = (f'"{COPY_PREFIX}{imports.name}"', import_id)
        assert imports.name in written, written
        result = Replayed({s.name: s.rows for s in sources}, transactions)
        with checkpoints_beside(engine) as checkpoints:
            for k in range(transactions):
                slices = [source.next_slice(k, transactions) for source in sources]
                _timed_transaction(writer, sources, slices, searches, progress, result)
                checkpoints.nudge()
            _merge_gradually(writer, searches, result)
        for source in sources:
            copied = writer.execute(f"SELECT count(*) FROM {source.copy}").fetchone()[0]
            assert copied == source.rows, (source.name, copied, source.rows)
        return result


def _timed_transaction(
    writer: Any,
    sources: list[_Source],
    slices: list[list[tuple[Any, ...]]],
    searches: list[str],
    progress: tuple[str, int],
    result: Replayed,
) -> None:
    """One batch's transaction, as the import's: its progress claimed, the trigram index's
    merging deferred around the rows, the rows, the counts, the commit."""
    outcomes = max(len(s) for s in slices)
    table, import_id = progress
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    sched, wall, cpu = schedstat(), time.perf_counter(), time.thread_time()
    writer.execute("BEGIN IMMEDIATE")
    for search in searches:
        writer.execute(f"INSERT INTO {search} ({search}, rank) VALUES ('automerge', 0)")
    for source, rows in zip(sources, slices, strict=True):
        if rows:
            started = time.thread_time()
            writer.executemany(source.insert, rows)
            spent = time.thread_time() - started
            result.by_table[source.name] = result.by_table.get(source.name, 0.0) + spent
    for search in searches:
        writer.execute(
            f"INSERT INTO {search} ({search}, rank) VALUES ('automerge', {FTS5_AUTOMERGE})"
        )
    # Last, where the import's first transaction inserted the import's own row already.
    writer.execute(
        f"UPDATE {table} SET rows_done = rows_done + ?, batches = batches + 1, updated_at = ?"
        " WHERE id = ?",
        (outcomes, now, import_id),
    )
    writer.execute(f"UPDATE {table} SET created = created + ? WHERE id = ?", (outcomes, import_id))
    writer.execute("COMMIT")
    result.wall += time.perf_counter() - wall
    result.thread_cpu += time.thread_time() - cpu
    on_core, waiting = (b - a for a, b in zip(sched, schedstat(), strict=True))
    result.on_core += on_core
    result.waiting += waiting


def _merge_gradually(writer: Any, searches: list[str], result: Replayed) -> None:
    """The trigram indexes merged in short transactions, as the import ends
    (``records.search.merge_search_index_gradually``, its statements)."""
    wall, cpu = time.perf_counter(), time.thread_time()
    for search in searches:
        blocks = writer.execute(f'SELECT count(*) FROM "{search[1:-1]}_data"').fetchone()[0]
        steps, cap = 0, 2 * blocks // MERGE_STEP_PAGES + 2
        while steps < cap:
            steps += 1
            writer.execute("BEGIN IMMEDIATE")
            before = writer.total_changes
            writer.execute(
                f"INSERT INTO {search} ({search}, rank) VALUES ('merge', -{MERGE_STEP_PAGES})"
            )
            changed = writer.total_changes - before
            writer.execute("COMMIT")
            if changed < 2:
                break
        result.merge_steps += steps
    result.merge_wall = time.perf_counter() - wall
    result.merge_cpu = time.thread_time() - cpu


@dataclass
class _Source:
    """A table the write added rows to: its columns, its copy, and where its next slice
    begins."""

    name: str
    columns: tuple[str, ...]
    virtual: bool
    sql: str
    indexes: list[tuple[str, str]]
    rows: int
    reader: Any
    last: int

    @classmethod
    def of(cls, reader: Any, name: str, mark: int) -> _Source:
        sql = reader.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()[0]
        if "WITHOUT ROWID" in sql.upper():
            raise ValueError(f"{name} has no rowids: its new rows cannot be told")
        virtual = sql.upper().startswith("CREATE VIRTUAL TABLE")
        columns = tuple(r[1] for r in reader.execute(f'PRAGMA table_info("{name}")'))
        if virtual:
            columns = ("rowid", *columns)
        indexes = reader.execute(
            "SELECT name, sql FROM sqlite_master"
            " WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
            (name,),
        ).fetchall()
        rows = reader.execute(f'SELECT count(*) FROM "{name}" WHERE rowid > ?', (mark,))
        return cls(name, columns, virtual, sql, indexes, rows.fetchone()[0], reader, mark)

    @property
    def copy(self) -> str:
        return f'"{COPY_PREFIX}{self.name}"'

    @property
    def insert(self) -> str:
        names = ", ".join(f'"{c}"' if c != "rowid" else c for c in self.columns)
        marks = ", ".join("?" * len(self.columns))
        return f"INSERT INTO {self.copy} ({names}) VALUES ({marks})"

    def copy_schema(self, writer: Any) -> None:
        """The table and its indexes made again under the copy's name from their own DDL."""
        writer.execute(_renamed(self.sql, r"CREATE (?:VIRTUAL )?TABLE ", self.name, self.copy))
        for index, sql in self.indexes:
            sql = _renamed(sql, r"CREATE (?:UNIQUE )?INDEX ", index, f'"{COPY_PREFIX}{index}"')
            sql, found = re.subn(rf' ON ("?){re.escape(self.name)}\1 ', f" ON {self.copy} ", sql)
            assert found == 1, sql
            writer.execute(sql)

    def next_slice(self, k: int, of: int) -> list[tuple[Any, ...]]:
        """The k-th of ``of`` slices of the new rows (sizes differ by one at most)."""
        size = (k + 1) * self.rows // of - k * self.rows // of
        if not size:
            return []
        names = ", ".join(f'"{c}"' if c != "rowid" else c for c in self.columns)
        fetched = self.reader.execute(
            f'SELECT rowid, {names} FROM "{self.name}" WHERE rowid > ? ORDER BY rowid LIMIT ?',
            (self.last, size),
        ).fetchall()
        self.last = fetched[-1][0]
        return [row[1:] for row in fetched]


def _renamed(sql: str, head: str, name: str, new: str) -> str:
    renamed, found = re.subn(rf"^({head})(['\"]?){re.escape(name)}\2(?=[\s(])", rf"\g<1>{new}", sql)
    assert found == 1, sql
    return renamed


def _tables(raw: Any) -> list[tuple[str, str]]:
    """The database's tables, without SQLite's own and the shadow tables of virtual ones
    (their virtual table's copy makes its own)."""
    tables = raw.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    virtual = [n for n, sql in tables if sql.upper().startswith("CREATE VIRTUAL TABLE")]
    shadows = {v + suffix for v in virtual for suffix in FTS5_SHADOWS}
    return [(n, sql) for n, sql in tables if n not in shadows and not n.startswith(COPY_PREFIX)]


@contextmanager
def _raw(engine: Engine) -> Iterator[Any]:
    """A DB-API connection of ``engine`` (its pragmas set; autocommit, so each transaction
    is begun by hand, ``BEGIN IMMEDIATE`` as Meridian's writers do)."""
    connection = engine.raw_connection()
    try:
        yield connection.driver_connection
    finally:
        connection.close()


def schedstat() -> tuple[float, float]:
    """This thread's seconds on a core and waiting in the run queue for one (Linux)."""
    try:
        with open("/proc/thread-self/schedstat") as file:
            on_core, waiting, _ = file.read().split()
    except OSError:
        return (0.0, 0.0)
    return (int(on_core) / 1e9, int(waiting) / 1e9)
