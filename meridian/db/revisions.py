"""Revision tokens: when a process may keep what it derived from rarely changed data.

A subject (the rules, say) has a token that every transaction changing the subject replaces
with a fresh random one. A process that derived something from the subject keeps it under the
token it read in the same statement; while the database still shows that token, nothing has
changed. Random rather than counted, so two databases — tests run many in one process — never
share a token, and a database restored from a backup never claims to be one it is not.
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from meridian.db.tables import revisions


def token_of(name: str) -> ColumnElement[str | None]:
    """The subject's token as a scalar subquery, to read in the same statement as the data
    (NULL until the subject first changes)."""
    return sa.select(revisions.c.token).where(revisions.c.name == name).scalar_subquery()


_CURRENT = sa.select(revisions.c.token).where(revisions.c.name == sa.bindparam("name"))
"""Built once: every save reads a token, and building the statement cost more than running it."""


def current_token(conn: Connection, name: str) -> str | None:
    return conn.scalar(_CURRENT, {"name": name})


def bump(conn: Connection, name: str) -> None:
    """Mark the subject changed, in the caller's transaction."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    token = secrets.token_hex(16)
    conn.execute(
        insert(revisions)
        .values(name=name, token=token)
        .on_conflict_do_update(index_elements=[revisions.c.name], set_={"token": token})
    )
