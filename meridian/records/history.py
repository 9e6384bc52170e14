"""Field-level change history: one row per change with old → new values."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.db.bulk import insert_many
from meridian.db.sets import one_of
from meridian.db.tables import record_history, record_merges
from meridian.db.types import JSONType, UTCDateTime


def write_history(
    conn: Connection,
    form_key: str,
    entries: Sequence[tuple[int, int, str, dict[str, Any]]],
    actor_id: int | None,
    at: datetime,
) -> None:
    """``entries`` are (record id, version, action, {field: [old, new]})."""
    if not entries:
        return
    rows = [
        {
            "form_key": form_key,
            "record_id": record_id,
            "version": version,
            "action": action,
            "changes": changes,
            "actor_id": actor_id,
            "at": at,
        }
        for record_id, version, action, changes in entries
    ]
    insert_many(conn, record_history, rows)


def write_creations(
    conn: Connection,
    form_key: str,
    table: sa.Table,
    ids: Sequence[int],
    actor_id: int | None,
    at: datetime,
) -> None:
    """One ``create`` entry per new record, written by one INSERT … SELECT over the new rows.

    A creation is logged without its values: they are the record's first version, and each
    later change logs old → new, so the history stays complete at a fraction of the cost.
    One record's entry is a plain INSERT of one prepared statement (nothing to build, nothing
    to read back), sent as the driver takes it (``db.bulk.insert_many``).
    """
    if len(ids) == 1:
        insert_many(
            conn,
            record_history,
            [
                {
                    "form_key": form_key,
                    "record_id": ids[0],
                    "version": 1,
                    "action": "create",
                    "changes": {},
                    "actor_id": actor_id,
                    "at": at,
                }
            ],
        )
        return
    new_rows = sa.select(
        sa.literal(form_key, sa.String),
        table.c.id,
        sa.literal(1, sa.Integer),
        sa.literal("create", sa.String),
        sa.literal({}, JSONType),
        sa.literal(actor_id, sa.BigInteger),
        sa.literal(at, UTCDateTime()),
    ).where(one_of(conn, table.c.id, ids))
    columns = ("form_key", "record_id", "version", "action", "changes", "actor_id", "at")
    conn.execute(record_history.insert().from_select(columns, new_rows))


def read_history(conn: Connection, form_key: str, record_id: int) -> list[dict[str, Any]]:
    """The record's changes, oldest first, with those of the records merged into it (each
    entry says whose it is: ``record_id``), so a merged record's past stays on view."""
    ids = [record_id, *merged_into(conn, form_key, record_id)]
    rows = conn.execute(
        sa.select(record_history)
        .where(record_history.c.form_key == form_key, one_of(conn, record_history.c.record_id, ids))
        .order_by(record_history.c.id)
    )
    return [
        {
            "id": row.id,
            "record_id": row.record_id,
            "version": row.version,
            "action": row.action,
            "changes": row.changes,
            "actor_id": row.actor_id,
            "at": row.at.isoformat(),
        }
        for row in rows
    ]


def merged_into(conn: Connection, form_key: str, record_id: int) -> list[int]:
    """Every record merged into ``record_id``, also through records merged before: one query
    per generation of merges."""
    found: list[int] = []
    frontier = [record_id]
    while frontier:
        frontier = [
            loser
            for loser in conn.scalars(
                sa.select(record_merges.c.loser_id).where(
                    record_merges.c.form_key == form_key,
                    one_of(conn, record_merges.c.survivor_id, frontier),
                )
            )
            if loser not in found and loser != record_id
        ]
        found.extend(frontier)
    return found
