"""Gap-free, race-free auto-numbers from a counter row locked by the writing transaction.

The counter is bumped in the same transaction as the insert: a rolled-back insert rolls the
number back too (no gaps), and a concurrent writer waits on the row lock (no duplicates).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from meridian.db.tables import sequences
from meridian.schema.model import Field, Form
from meridian.schema.values.autonumber import parse_pattern


def reserve(conn: Connection, name: str, count: int) -> int:
    """Take ``count`` numbers from sequence ``name``; returns the first."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(insert(sequences).values(name=name, value=0).on_conflict_do_nothing())
    last = conn.execute(
        sequences.update()
        .where(sequences.c.name == name)
        .values(value=sequences.c.value + count)
        .returning(sequences.c.value)
    ).scalar_one()
    return int(last) - count + 1


def assign_numbers(
    conn: Connection, form: Form, field: Field, count: int, now: datetime, tz: ZoneInfo
) -> list[str]:
    """The next ``count`` numbers of an auto-number field, formatted in the workspace time."""
    assert field.auto_pattern is not None
    pattern = parse_pattern(field.auto_pattern)
    local = now.astimezone(tz)
    name = f"{form.key}.{field.key}:{pattern.sequence_key(local)}"
    first = reserve(conn, name, count)
    return [pattern.format(first + offset, local) for offset in range(count)]
