"""Revision tokens: when a process may keep what it derived from rarely changed data.

A subject (the rules, say) has a token that every transaction changing the subject replaces
with a fresh random one. A process that derived something from the subject keeps it under the
token it read in the same statement; while the database still shows that token, nothing has
changed. Random rather than counted, so two databases — tests run many in one process — never
share a token, and a database restored from a backup never claims to be one it is not.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.elements import ColumnElement

from meridian.db.direct import fetch_all
from meridian.db.tables import revisions


def token_of(name: str) -> ColumnElement[str | None]:
    """The subject's token as a scalar subquery, to read in the same statement as the data
    (NULL until the subject first changes)."""
    return sa.select(revisions.c.token).where(revisions.c.name == name).scalar_subquery()


_CURRENT = sa.select(revisions.c.token).where(revisions.c.name == sa.bindparam("name"))
"""Built once: every save reads a token, and building the statement cost more than running it."""


def current_token(conn: Connection, name: str) -> str | None:
    return conn.scalar(_CURRENT, {"name": name})


ACCESS = "access"
"""Who a user is: name, administrator, locale, roles, departments. Database triggers replace
it whenever ``sys_user``, ``sys_user_role`` or ``sys_user_department`` change, whichever code
(or hand) changes them."""
FORMS = "forms"
"""Every form definition (``meta_form``)."""

_ALL = sa.select(revisions.c.name, revisions.c.token)


@functools.lru_cache(maxsize=8)
def all_sql(dialect: Dialect) -> str:
    """:data:`_ALL` as the driver takes it, per dialect: read by every request, so it goes
    straight to the cursor (``db.direct``)."""
    return str(_ALL.compile(dialect=dialect))


_SNAPSHOT = "meridian_revisions"

_BEGUN = object()
"""The transaction for tokens read as the connection's transaction began (:func:`offer`),
before SQLAlchemy had the transaction object to key them by."""


def snapshot(conn: Connection) -> Mapping[str, str]:
    """Every subject's token, read once per transaction in one small statement.

    A request validates all its caches (form definitions, pipelines, webhooks, rules …)
    against this one read instead of one query per subject. The tokens are kept on the
    connection for the transaction that read them; a ``bump`` in the same transaction
    replaces its own subject's token there too.
    """
    transaction = conn.get_transaction()
    kept = conn.info.get(_SNAPSHOT)
    if kept is not None and transaction is not None:
        if kept[0] is _BEGUN:
            kept = conn.info[_SNAPSHOT] = (transaction, kept[1])
        if kept[0] is transaction:
            tokens: Mapping[str, str] = kept[1]
            return tokens
    tokens = MappingProxyType(dict(fetch_all(conn, all_sql(conn.dialect))))
    if transaction is not None:
        conn.info[_SNAPSHOT] = (transaction, tokens)
    return tokens


def offer(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """The tokens (rows of :func:`all_sql`) read as ``conn``'s transaction began, in the
    same round trip as its ``BEGIN`` (``db.engine``): the transaction's :func:`snapshot`."""
    conn.info[_SNAPSHOT] = (_BEGUN, MappingProxyType(dict(rows)))


def forget(conn: Connection) -> None:
    """A transaction begins on ``conn``: tokens offered for an earlier one are not its own."""
    conn.info.pop(_SNAPSHOT, None)


def token(conn: Connection, name: str) -> str | None:
    """The subject's token as this transaction's :func:`snapshot` read it."""
    return snapshot(conn).get(name)


def bump(conn: Connection, name: str) -> None:
    """Mark the subject changed, in the caller's transaction."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    fresh = secrets.token_hex(16)
    conn.execute(
        insert(revisions)
        .values(name=name, token=fresh)
        .on_conflict_do_update(index_elements=[revisions.c.name], set_={"token": fresh})
    )
    kept = conn.info.get(_SNAPSHOT)
    if kept is not None and (kept[0] is _BEGUN or kept[0] is conn.get_transaction()):
        conn.info[_SNAPSHOT] = (kept[0], MappingProxyType({**kept[1], name: fresh}))
