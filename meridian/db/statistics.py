"""Planner statistics, gathered by Meridian itself so no plan depends on an operator's ANALYZE.

Both databases choose between indexes by the statistics ANALYZE leaves behind. Without them
SQLite takes every index for selective: on 1M opportunities a page filtered on the stage (six
values) and sorted by amount read a sixth of the table through the stage index and sorted it,
148 ms, where the amount index gives the page in 8 ms. So statistics are gathered

- after a bulk load, as soon as a table has doubled since the load last gathered them and at
  its end (``solutions.loader``), so a load's own checks are planned for the table as it is;
- after a schema change, for the tables it changed (``schema.changes``);
- every ten minutes for any table whose row count moved by a tenth since its statistics were
  gathered (the ``statistics.refresh`` job), which catches loads through the API.

SQLite reads at most ``SQLITE_ANALYSIS_LIMIT`` rows of each index (``PRAGMA analysis_limit``):
an estimate good enough to choose between indexes, in milliseconds instead of seconds at 1M
rows. PostgreSQL samples on its own.

PostgreSQL answers from an index alone (the kanban's counts per stage, a page's ids) only for
pages its visibility map marks all-visible, and only VACUUM marks them. A table just loaded has
none marked, so the kanban's counts over 100k opportunities read the whole table (62 ms)
instead of the stage index. Autovacuum would mark them in time, where it is on (it is off on
some servers), so Meridian does not wait for it: at the end of a bulk load and in the periodic
job, a table with many rows inserted, updated or deleted since its last VACUUM is vacuumed and
analysed in one step (:func:`vacuum`; outside any transaction, taking no lock a reader or
writer waits for).
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from meridian.db.engine import read_transaction, transaction

REFRESH = "statistics.refresh"
"""The job kind that refreshes stale statistics, scheduled every ten minutes."""

REFRESH_CRON = "*/10 * * * *"

SQLITE_ANALYSIS_LIMIT = 1000
"""Rows of each index SQLite's ANALYZE reads; 0 would read them all."""

GROWTH = 0.1
"""Refresh a table's statistics once its row count moved by this share of what they counted…"""

MIN_CHANGE = 500
"""…and by at least this many rows, so small tables are not analysed over and over."""


SQLITE_READ_IN_FULL = frozenset({"flow_stage_visit"})
"""Tables whose every index leads with a column of a few values spread over all rows (the
stage visits: ``form_key``). Sampling the first rows of such an index sees one value and takes
it for selective — 1,001 rows of 363k for ``form_key = 'opportunity'`` — and the planner then
drives a report from the visits instead of the records (1.1 s of CPU against 0.3 s at 100k
opportunities). They are read in full: 64 ms at 363k visits."""


def analyze(conn: Connection, tables: Iterable[str]) -> None:
    """Gather statistics for ``tables`` now, in the caller's transaction."""
    quote = conn.dialect.identifier_preparer.quote
    names = sorted(set(tables))
    if not names:
        return
    sqlite = conn.dialect.name == "sqlite"
    for name in names:
        if sqlite:
            limit = 0 if name in SQLITE_READ_IN_FULL else SQLITE_ANALYSIS_LIMIT
            conn.exec_driver_sql(f"PRAGMA analysis_limit = {limit}")
        conn.exec_driver_sql(f"ANALYZE {quote(name)}")


def stale_tables(conn: Connection) -> list[str]:
    """The tables whose statistics no longer describe them: never gathered for a table of
    ``MIN_CHANGE`` rows or more, or a row count that moved by ``GROWTH`` since."""
    if conn.dialect.name == "postgresql":
        return list(
            conn.scalars(
                sa.text(
                    "SELECT relname FROM pg_stat_user_tables "
                    "WHERE schemaname = current_schema() "
                    "AND n_mod_since_analyze >= :least + :growth * n_live_tup "
                    "ORDER BY relname"
                ),
                {"least": MIN_CHANGE, "growth": GROWTH},
            )
        )
    return _stale_sqlite_tables(conn)


def _stale_sqlite_tables(conn: Connection) -> list[str]:
    names = list(
        conn.scalars(
            sa.text(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
            )
        )
    )
    counted: dict[str, int] = {}
    if conn.scalar(sa.text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")):
        # The first number of each entry is the table's row count when it was analysed.
        counted = {
            row.tbl: int(row.rows)
            for row in conn.execute(
                sa.text(
                    "SELECT tbl, max(CAST(stat AS INTEGER)) AS rows FROM sqlite_stat1 GROUP BY tbl"
                )
            )
        }
    quote = conn.dialect.identifier_preparer.quote
    stale = []
    for name in names:
        rows = int(conn.scalar(sa.text(f"SELECT count(*) FROM {quote(name)}")) or 0)
        before = counted.get(name, 0)
        if abs(rows - before) >= MIN_CHANGE + GROWTH * before:
            stale.append(name)
    return stale


VISIBLE_SHARE = 0.8
"""A table of ``VISIBLE_PAGES`` or more whose pages are less than this share all-visible (as
its last VACUUM or ANALYZE counted them) is vacuumed again…"""

VISIBLE_PAGES = 128
"""…so a VACUUM that could not mark pages (another session held a snapshot older than their
rows) is tried again at the next refresh; smaller tables are read whole cheaply anyway."""


def unvacuumed_tables(conn: Connection) -> list[str]:
    """PostgreSQL's tables with ``MIN_CHANGE`` rows or more, and ``GROWTH`` of them, inserted
    or left dead since their last VACUUM, or with too few of their pages all-visible
    (``VISIBLE_SHARE``; index-only scans need them); none on SQLite, which needs no VACUUM
    for this."""
    if conn.dialect.name != "postgresql":
        return []
    return list(
        conn.scalars(
            sa.text(
                "SELECT s.relname FROM pg_stat_user_tables AS s"
                " JOIN pg_class AS c ON c.oid = s.relid"
                " WHERE s.schemaname = current_schema()"
                " AND (s.n_ins_since_vacuum + s.n_dead_tup >= :least + :growth * s.n_live_tup"
                " OR (c.relpages >= :pages AND c.relallvisible < :share * c.relpages))"
                " ORDER BY s.relname"
            ),
            {
                "least": MIN_CHANGE,
                "growth": GROWTH,
                "pages": VISIBLE_PAGES,
                "share": VISIBLE_SHARE,
            },
        )
    )


def vacuum(engine: Engine, tables: Iterable[str]) -> None:
    """On PostgreSQL, ``VACUUM (ANALYZE)`` each of ``tables``: its visibility map set, so
    index-only scans read no table pages, its dead rows reclaimed and its statistics gathered.
    VACUUM cannot run in a transaction: each runs on a connection of its own in autocommit.
    Nothing on SQLite."""
    names = sorted(set(tables))
    if engine.dialect.name != "postgresql" or not names:
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        quote = conn.dialect.identifier_preparer.quote
        for name in names:
            conn.exec_driver_sql(f"VACUUM (ANALYZE) {quote(name)}")


def refresh_stale(engine: Engine) -> list[str]:
    """Gather statistics for every stale table, and on PostgreSQL vacuum every table that
    needs it (:func:`vacuum`); returns their names.

    The tables are found in a read-only transaction (counting rows blocks no writer) and each
    is analysed in its own short transaction, so a writer waits at most for one table.
    """
    with read_transaction(engine) as conn:
        stale = stale_tables(conn)
        unvacuumed = unvacuumed_tables(conn)
    for name in stale:
        if name not in unvacuumed:  # analysed by its VACUUM below
            with transaction(engine) as conn:
                analyze(conn, [name])
    vacuum(engine, unvacuumed)
    return sorted({*stale, *unvacuumed})
