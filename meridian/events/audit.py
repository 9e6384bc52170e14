"""The audit trail: append-only, each entry's keyed hash chained to the one before.

Entry ``n`` stores ``prev_hash`` (entry ``n-1``'s hash) and ``hash`` = HMAC-SHA-256, under a
secret key kept outside the database, over its own content and ``prev_hash``. Ids are
consecutive from 1 and a one-row head table holds the newest id and hash, so editing an entry,
deleting one in the middle or deleting the newest ones all break the chain at a place
:func:`verify_chain` names — and without the key nobody can re-hash the entries after an edit
to hide it (issue 13). What the key cannot show — the newest entries deleted and the head row
moved back to match — anchors kept elsewhere show (:mod:`meridian.events.audit_anchors`).
Appends lock the head row, so two writers can never chain onto the same entry.

The key travels with the engine, as the execution option :data:`AUDIT_KEY` that
:mod:`meridian.events.audit_keys` sets when a workspace is opened, so every caller of
:func:`audit` gets it without passing it along.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.clock import utcnow
from meridian.db.tables import audit_head, audit_log
from meridian.errors import AuditKeyProblem

GENESIS = "0" * 64
MAX_PAGE = 500
AUDIT_KEY = "meridian_audit_key"
"""Execution option (on the engine) holding the chain's secret key as bytes."""


def chain_key(conn: Connection) -> bytes:
    """The secret key the connection's engine was opened with."""
    key = conn.get_execution_options().get(AUDIT_KEY)
    if not isinstance(key, bytes) or not key:
        raise AuditKeyProblem("the audit trail has no key: open the database through a workspace")
    return key


def key_id(key: bytes) -> str:
    """A short public name of ``key`` (an HMAC of a constant), stored with the chain."""
    return hmac.new(key, b"meridian audit key id", hashlib.sha256).hexdigest()[:16]


def _canonical(entry: Mapping[str, Any]) -> bytes:
    content = [
        entry["id"],
        entry["at"].isoformat(),
        entry["actor_id"],
        entry["action"],
        entry["object_type"],
        entry["object_id"],
        entry["detail"],
        entry["ip"],
        entry["prev_hash"],
    ]
    canonical = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return canonical.encode()


def keyed_digest(entry: Mapping[str, Any], key: bytes) -> str:
    return hmac.new(key, _canonical(entry), hashlib.sha256).hexdigest()


def unkeyed_digest(entry: Mapping[str, Any]) -> str:
    """How entries were hashed before the chain had a key; read only to re-key such chains."""
    return hashlib.sha256(_canonical(entry)).hexdigest()


def audit(
    conn: Connection,
    *,
    actor_id: int | None,
    action: str,
    object_type: str = "",
    object_id: str | int = "",
    detail: Mapping[str, Any] | None = None,
    ip: str = "",
) -> int:
    """Append one entry in the caller's transaction; returns its id."""
    key = chain_key(conn)
    head = conn.execute(
        sa.select(audit_head.c.last_id, audit_head.c.last_hash)
        .where(audit_head.c.id == 1)
        .with_for_update()
    ).one()
    entry = {
        "id": head.last_id + 1,
        "at": utcnow(conn),
        "actor_id": actor_id,
        "action": action,
        "object_type": object_type,
        "object_id": str(object_id),
        "detail": dict(detail or {}),
        "ip": ip,
        "prev_hash": head.last_hash,
    }
    entry["hash"] = keyed_digest(entry, key)
    conn.execute(audit_log.insert().values(entry))
    conn.execute(
        audit_head.update()
        .where(audit_head.c.id == 1)
        .values(last_id=entry["id"], last_hash=entry["hash"])
    )
    return int(entry["id"])


@dataclass(frozen=True)
class Entry:
    """One entry of :func:`audit_many`."""

    actor_id: int | None
    action: str
    object_type: str = ""
    object_id: str | int = ""
    detail: Mapping[str, Any] | None = None
    ip: str = ""


def audit_many(conn: Connection, entries: list[Entry]) -> None:
    """Append ``entries`` in order, chained as :func:`audit` chains one: the head locked once,
    one multi-row INSERT, the head moved once."""
    if not entries:
        return
    key = chain_key(conn)
    head = conn.execute(
        sa.select(audit_head.c.last_id, audit_head.c.last_hash)
        .where(audit_head.c.id == 1)
        .with_for_update()
    ).one()
    now = utcnow(conn)
    last_id, last_hash = head.last_id, head.last_hash
    rows = []
    for entry in entries:
        row = {
            "id": last_id + 1,
            "at": now,
            "actor_id": entry.actor_id,
            "action": entry.action,
            "object_type": entry.object_type,
            "object_id": str(entry.object_id),
            "detail": dict(entry.detail or {}),
            "ip": entry.ip,
            "prev_hash": last_hash,
        }
        row["hash"] = keyed_digest(row, key)
        rows.append(row)
        last_id, last_hash = row["id"], row["hash"]
    conn.execute(audit_log.insert(), rows)
    conn.execute(
        audit_head.update().where(audit_head.c.id == 1).values(last_id=last_id, last_hash=last_hash)
    )


@dataclass(frozen=True)
class ChainReport:
    """The outcome of :func:`verify_chain`: ``bad_id`` is the first entry that does not hold."""

    entries: int
    bad_id: int | None = None
    reason: str = ""

    @property
    def intact(self) -> bool:
        return self.bad_id is None


def in_order(conn: Connection) -> Iterator[Mapping[str, Any]]:
    """Every entry by id, a page at a time, so millions of entries stay in constant memory."""
    after = 0
    while True:
        page = conn.execute(
            sa.select(audit_log).where(audit_log.c.id > after).order_by(audit_log.c.id).limit(1000)
        ).all()
        if not page:
            return
        for row in page:
            yield dict(row._mapping)
        after = page[-1].id


def verify_chain(conn: Connection) -> ChainReport:
    """Walk the whole chain and name the first entry that was edited, or where one is missing."""
    key = chain_key(conn)
    head = conn.execute(sa.select(audit_head).where(audit_head.c.id == 1)).one()
    if head.key_id != key_id(key):
        return ChainReport(0, 1, f"the trail is not keyed with this key (it names {head.key_id})")
    return walk_chain(conn, lambda entry: keyed_digest(entry, key))


def walk_chain(conn: Connection, digest: Callable[[Mapping[str, Any]], str]) -> ChainReport:
    """Check every entry's id, link and ``digest``, then the head row."""
    expected_id, prev_hash, count = 1, GENESIS, 0
    for entry in in_order(conn):
        if entry["id"] != expected_id:
            return ChainReport(count, expected_id, f"entry {expected_id} is missing")
        if entry["prev_hash"] != prev_hash:
            return ChainReport(count, entry["id"], "it does not follow the entry before it")
        if not hmac.compare_digest(digest(entry), entry["hash"]):
            return ChainReport(count, entry["id"], "its content does not match its hash")
        prev_hash, expected_id, count = entry["hash"], expected_id + 1, count + 1
    head = conn.execute(sa.select(audit_head).where(audit_head.c.id == 1)).one()
    if head.last_id != count or head.last_hash != prev_hash:
        return ChainReport(count, count + 1, f"entries {count + 1} to {head.last_id} are missing")
    return ChainReport(count)


def search_audit(
    conn: Connection,
    *,
    actor_id: int | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Entries newest first, narrowed by actor, object, action and time; page with before_id."""
    query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(max(1, min(limit, MAX_PAGE)))
    c = audit_log.c
    for column, value in (
        (c.actor_id, actor_id),
        (c.object_type, object_type),
        (c.object_id, object_id),
        (c.action, action),
    ):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(c.at >= since)
    if until is not None:
        query = query.where(c.at < until)
    if before_id is not None:
        query = query.where(c.id < before_id)
    return [{**row._mapping, "at": row.at.isoformat()} for row in conn.execute(query)]
