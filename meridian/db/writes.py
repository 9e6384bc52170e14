"""How many statements have written each table through a connection, counted as they run.

A writer that gets its row back from its own ``INSERT … RETURNING`` or ``UPDATE … RETURNING``
may answer with that row only if nothing wrote the table after it in the same transaction —
a subscriber (an approval started on a stage entry runs its action nodes at once) or a rollup
onto the same form may. Every SQLAlchemy statement goes through here, whichever code sends
it, so the writer compares a count instead of reading the row again; a statement sent to the
driver as text (``db.bulk``'s inserts) is counted by its sender (:func:`count_write`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.dml import UpdateBase

_COUNTS = "meridian_table_writes"


def writes_to(conn: Connection, table: sa.Table) -> int:
    """Statements that wrote ``table`` through this connection so far (ever increasing)."""
    counts: dict[str, int] = conn.info.get(_COUNTS, {})
    return counts.get(table.name, 0)


def count_write(conn: Connection, name: str) -> None:
    """One more statement wrote table ``name`` through ``conn``."""
    counts = conn.info.setdefault(_COUNTS, {})
    counts[name] = counts.get(name, 0) + 1


@event.listens_for(Engine, "before_execute")
def _count(conn: Connection, clause: Any, *_args: Any) -> None:
    if isinstance(clause, UpdateBase):
        name = getattr(clause.table, "name", None)
        if name is not None:
            count_write(conn, name)
