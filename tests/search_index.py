"""Reading SQLite's FTS5 search index in tests."""

from __future__ import annotations

import sqlalchemy as sa


def search_segments(conn: sa.Connection, table: str) -> int:
    """How many segments SQLite's FTS5 index of ``table`` is in: its structure record (id 10
    of the ``_data`` table) is a 4-byte cookie, then the number of levels and of segments."""
    block = conn.exec_driver_sql(f"SELECT block FROM {table}___search_data WHERE id = 10").scalar()
    assert block is not None and block[4] < 0x80 and block[5] < 0x80, block  # one-byte varints
    return int(block[5])
