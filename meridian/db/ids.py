"""Reserving primary keys up front, so bulk inserts can use plain ``executemany``.

``INSERT … RETURNING`` in row order degrades to one statement per row on SQLite; taking the
ids first keeps a 1,000-row batch to one ``executemany``.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def reserve_ids(conn: Connection, table: sa.Table, count: int) -> list[int]:
    """``count`` fresh ids for ``table`` (whose ``id`` is its serial primary key).

    PostgreSQL draws them from the column's sequence. SQLite continues from the largest id:
    Meridian opens every SQLite transaction with ``BEGIN IMMEDIATE``, so no other writer can
    take the same numbers before this transaction commits, and rows are never hard-deleted.
    """
    if conn.dialect.name == "postgresql":
        sequence = sa.func.pg_get_serial_sequence(table.name, "id")
        rows = conn.execute(
            sa.select(sa.func.nextval(sequence)).select_from(sa.func.generate_series(1, count))
        )
        return [int(value) for value in rows.scalars()]
    largest = conn.execute(sa.select(sa.func.max(table.c.id))).scalar_one() or 0
    return list(range(largest + 1, largest + 1 + count))
