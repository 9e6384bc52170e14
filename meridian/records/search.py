"""Search text for a record, the index that keeps it, and the predicate that finds records by it.

The text holds each searchable value with its full pinyin and initials, so ``hwy`` finds
华为云. PostgreSQL serves the substring match from a pg_trgm index on ``_search``. SQLite serves
it from an FTS5 table with the trigram tokenizer beside the form's table (``search_table_name``),
which the write path keeps in step through :func:`index_search_texts`: a trigger costs
280–560 µs per written row there, one ``executemany`` 44–54 µs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement

from meridian.core.pinyin import search_text
from meridian.db.direct import execute_many
from meridian.db.engine import read_transaction, transaction
from meridian.schema.compile import FormTables, search_table_name
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Field


def searchable_fields(fields: tuple[Field, ...]) -> tuple[Field, ...]:
    return tuple(f for f in fields if field_type(f).searchable)


def record_search_text(fields: tuple[Field, ...], columns: Mapping[str, Any]) -> str | None:
    values = [str(columns[f.key]) for f in fields if columns.get(f.key) is not None]
    return search_text(*values) if values else None


TRIGRAM = 3
"""Characters a term needs before the trigram index can serve it: a shorter one is no trigram
(SQLite 3.40's FTS5 even answers a two-character Han LIKE with nothing), so it scans
``_search`` as before — the page's LIMIT ends the scan early for the common short terms."""


def index_search_texts(
    conn: Connection, tables: FormTables, texts: Mapping[int, str | None], *, new: bool = False
) -> None:
    """Keep SQLite's trigram index in step with ``_search`` for these records (id → the text
    just written): one ``INSERT OR REPLACE`` for the batch, or a plain ``INSERT`` for records
    just created (``new``: their ids never had an entry, as records are never deleted for
    good), which spares FTS5 looking up and deleting an entry for each — 15.3 against 11.6 µs
    a record with the commit, 60,000 records of an import's texts, the two interleaved. Every
    write that sets ``_search`` calls this right after writing the rows; PostgreSQL indexes
    the column itself."""
    if not texts or conn.dialect.name != "sqlite":
        return
    name = conn.dialect.identifier_preparer.quote(search_table_name(tables.main.name))
    verb = "INSERT" if new else "INSERT OR REPLACE"
    execute_many(conn, f"{verb} INTO {name} (rowid, _search) VALUES (?, ?)", list(texts.items()))


FTS5_AUTOMERGE = 4
"""FTS5's own ``automerge`` (segments of a level merged into the next once there are this
many), which Meridian's trigram indexes keep outside :func:`merges_deferred`."""


@contextmanager
def merges_deferred(conn: Connection, tables: FormTables) -> Iterator[None]:
    """Inside: SQLite's trigram index flushes the texts written in this transaction without
    merging its segments (FTS5 ``automerge`` 0), and gets its default back before the
    transaction ends — a crash rolls both back, so the index is never left with merging off.
    For a bulk load that merges the index when it ends (an import).

    Each batch of an import flushes a segment, and merging them four at a time as they come
    rewrites every trigram's list of records at every level: measured on 200,000 records,
    29.6-34.5 µs per record indexed and merged at the end against 22.2-29.5 with merging
    deferred (issue 19). FTS5 still merges when a level holds 16 segments (``crisismerge``),
    the import merges the index in short steps when it ends
    (:func:`merge_search_index_gradually`), and a later write merges in proportion to what it
    writes."""
    if conn.dialect.name != "sqlite":
        yield
        return
    name = conn.dialect.identifier_preparer.quote(search_table_name(tables.main.name))
    conn.exec_driver_sql(f"INSERT INTO {name} ({name}, rank) VALUES ('automerge', 0)")
    try:
        yield
    finally:
        conn.exec_driver_sql(
            f"INSERT INTO {name} ({name}, rank) VALUES ('automerge', {FTS5_AUTOMERGE})"
        )


def merge_search_index(conn: Connection, tables: FormTables) -> None:
    """After a bulk load, SQLite's trigram index merged into one segment (FTS5 ``optimize``).

    Each committed batch leaves a segment, and FTS5 merges four of a level into the next as
    later writes commit: with a load's large segments left in the lower levels, every 64th
    single write then merged one of them inside its own commit — at 1M opportunities
    50–550 ms each (issue 21; one segment: a write's p99 171 → 16 ms). Merging costs about
    3 s CPU per million records, so it is done once a load ends, not by a periodic job."""
    if conn.dialect.name != "sqlite":
        return
    name = conn.dialect.identifier_preparer.quote(search_table_name(tables.main.name))
    conn.exec_driver_sql(f"INSERT INTO {name} ({name}) VALUES ('optimize')")


MERGE_STEP_PAGES = 200
"""Pages of the search index one merging step writes: a few milliseconds of SQLite's write
lock, so writers never wait long behind an import's tidying."""


def merge_search_index_gradually(engine: Engine, tables: FormTables) -> int:
    """After an import, SQLite's trigram index merged towards one segment in short
    transactions (FTS5 ``merge`` with a negative page count), so writers go on between steps
    where ``optimize`` would hold the write lock for seconds at 1M records. Returns the steps
    taken. A step that changes fewer than two rows found nothing left to merge; the steps are
    capped at twice what the index holds, so writes arriving meanwhile cannot keep it busy."""
    if engine.dialect.name != "sqlite":
        return 0
    name = engine.dialect.identifier_preparer.quote(search_table_name(tables.main.name))
    data = engine.dialect.identifier_preparer.quote(search_table_name(tables.main.name) + "_data")
    with read_transaction(engine) as conn:  # counting takes no write lock
        blocks = int(conn.exec_driver_sql(f"SELECT count(*) FROM {data}").scalar() or 0)
    steps, cap = 0, 2 * blocks // MERGE_STEP_PAGES + 2
    while steps < cap:
        steps += 1
        with transaction(engine) as conn:
            before = int(conn.exec_driver_sql("SELECT total_changes()").scalar() or 0)
            conn.exec_driver_sql(
                f"INSERT INTO {name} ({name}, rank) VALUES ('merge', -{MERGE_STEP_PAGES})"
            )
            after = int(conn.exec_driver_sql("SELECT total_changes()").scalar() or 0)
        if after - before < 2:
            break
    return steps


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_predicate(tables: FormTables, query: str, dialect: str) -> ColumnElement[bool]:
    """Substring match on ``_search`` (lower case). PostgreSQL's pg_trgm GIN index serves it.
    On SQLite a term of three characters or more first finds the records whose text holds every
    trigram of the term — a MATCH of the index alone, 2 ms for 4,500 of 1M records where a LIKE
    on the trigram table re-reads each candidate's text (146 ms) — and the escaped LIKE on
    those records' own ``_search`` decides (order, ``%``, ``_``)."""
    term = query.strip().lower()
    exact = tables.main.c._search.like(f"%{_escape_like(term)}%", escape="\\")
    if dialect != "sqlite" or len(term) < TRIGRAM:
        return exact
    name = search_table_name(tables.main.name)  # letters, digits and _ only: no quoting
    index = sa.table(name, sa.column("rowid"))
    # The table's own name on the left: detail=none allows no column filter.
    matches = sa.literal_column(name).op("MATCH")(trigram_query(term))
    found = sa.select(index.c.rowid).where(matches)
    return sa.and_(tables.main.c.id.in_(found), exact)


def trigram_query(term: str) -> str:
    """An FTS5 query for records holding every trigram of ``term``: each one quoted (spaces,
    punctuation and Han are literal inside quotes; a quote is doubled)."""
    grams = dict.fromkeys(term[i : i + TRIGRAM] for i in range(len(term) - TRIGRAM + 1))
    return " AND ".join('"' + gram.replace('"', '""') + '"' for gram in grams)


def columns_search_predicate(
    tables: FormTables, fields: tuple[Field, ...], query: str
) -> ColumnElement[bool]:
    """Substring match on the given text columns themselves (no pinyin): for an actor from
    whom some searchable field is hidden, whose values the search text would give away."""
    pattern = f"%{_escape_like(query.strip().lower())}%"
    matches = [sa.func.lower(tables.main.c[f.key]).like(pattern, escape="\\") for f in fields]
    return sa.or_(*matches) if matches else sa.false()
