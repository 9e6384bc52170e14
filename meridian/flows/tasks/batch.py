"""Tasks Meridian itself makes for many records at once — a stage's SOP tasks when a bulk
move brings a thousand records into the stage: one SELECT finds the keys already made (a
replayed job makes nothing twice), one multi-row INSERT writes the rest. No per-record call.

The rows are trusted (made by Meridian from a pipeline checked when it was saved); an
assignee who is no longer active is left out, as a person's task would refuse them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.clock import utcnow
from meridian.db.sets import one_of
from meridian.db.tables import tasks, users
from meridian.flows.tasks.service import SOURCES


def create_system_tasks(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Insert the tasks whose ``source_key`` is new; answers the ids of those inserted.

    Each row: ``title``, ``source`` (stage/rule), ``source_key``, and optionally ``notes``,
    ``assignee_id``, ``due_at``, ``form_key``, ``record_id``, ``source_ref``."""
    if not rows:
        return []
    assert all(row["source"] in SOURCES and row["source_key"] for row in rows)
    keys = [str(row["source_key"]) for row in rows]
    made = set(
        conn.scalars(sa.select(tasks.c.source_key).where(one_of(conn, tasks.c.source_key, keys)))
    )
    wanted = {row["assignee_id"] for row in rows if row.get("assignee_id") is not None}
    active = (
        set(
            conn.scalars(
                sa.select(users.c.id).where(
                    one_of(conn, users.c.id, sorted(wanted)), users.c.is_active.is_(True)
                )
            )
        )
        if wanted
        else set()
    )
    now = utcnow(conn)
    fresh: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = str(row["source_key"])
        if key in made or key in fresh:
            continue
        assignee = row.get("assignee_id")
        fresh[key] = {
            "title": str(row["title"])[:300],
            "notes": str(row.get("notes") or ""),
            "assignee_id": assignee if assignee in active else None,
            "due_at": row.get("due_at"),
            "form_key": row.get("form_key"),
            "record_id": row.get("record_id"),
            "state": "open",
            "source": row["source"],
            "source_ref": row.get("source_ref"),
            "source_key": key,
            "created_by": None,
            "created_at": now,
            "updated_at": now,
        }
    if not fresh:
        return []
    conn.execute(tasks.insert(), list(fresh.values()))  # one statement, many rows
    return list(
        conn.scalars(
            sa.select(tasks.c.id)
            .where(one_of(conn, tasks.c.source_key, list(fresh)))
            .order_by(tasks.c.id)
        )
    )
