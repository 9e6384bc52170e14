"""Serialising changes that row locks cannot: a department move checks rows it does not
write (the tree below its new parent), and removing a department or a role checks that no
row refers to it while another transaction could be adding one."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection


def serialize(conn: Connection, subject: str) -> None:
    """Hold the lock named ``subject`` until the transaction ends.

    PostgreSQL: a transaction-level advisory lock, named within the current schema (advisory
    locks are database-wide; workspaces in other schemas must not wait for each other). SQLite:
    nothing to do, every writer already holds the database's one write lock from
    ``BEGIN IMMEDIATE``. Callers take one subject at a time (or several at once, sorted, with
    :func:`serialize_all`), so two locks can never be taken in opposite orders.
    """
    if conn.dialect.name == "postgresql":
        name = sa.func.concat(sa.func.current_schema(), ":", subject)
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(name))))


def serialize_all(conn: Connection, subjects: Sequence[str]) -> None:
    """Hold the locks named ``subjects`` until the transaction ends, taken in one statement
    and in sorted order — so two callers taking overlapping sets, or a caller taking one of
    them with :func:`serialize`, never wait for each other in a cycle."""
    if conn.dialect.name != "postgresql" or not subjects:
        return
    ordered = sorted(set(subjects))
    subject = sa.func.unnest(sa.literal(ordered, postgresql.ARRAY(sa.Text))).column_valued("s")
    name = sa.func.concat(sa.func.current_schema(), ":", subject)
    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(name))))
