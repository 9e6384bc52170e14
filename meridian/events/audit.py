"""The audit trail: append-only, each entry's hash chained to the one before.

Entry ``n`` stores ``prev_hash`` (entry ``n-1``'s hash) and ``hash`` = SHA-256 over its own
content and ``prev_hash``. Ids are consecutive from 1 and a one-row head table holds the newest
id and hash, so editing an entry, deleting one in the middle or deleting the newest ones all
break the chain at a place :func:`verify_chain` names. Appends lock the head row, so two
writers can never chain onto the same entry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.clock import utcnow
from meridian.db.tables import audit_head, audit_log

GENESIS = "0" * 64
MAX_PAGE = 500


def _digest(entry: Mapping[str, Any]) -> str:
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
    return hashlib.sha256(canonical.encode()).hexdigest()


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
    head = conn.execute(
        sa.select(audit_head.c.last_id, audit_head.c.last_hash)
        .where(audit_head.c.id == 1)
        .with_for_update()
    ).one()
    entry = {
        "id": head.last_id + 1,
        "at": utcnow(),
        "actor_id": actor_id,
        "action": action,
        "object_type": object_type,
        "object_id": str(object_id),
        "detail": dict(detail or {}),
        "ip": ip,
        "prev_hash": head.last_hash,
    }
    entry["hash"] = _digest(entry)
    conn.execute(audit_log.insert().values(entry))
    conn.execute(
        audit_head.update()
        .where(audit_head.c.id == 1)
        .values(last_id=entry["id"], last_hash=entry["hash"])
    )
    return int(entry["id"])


@dataclass(frozen=True)
class ChainReport:
    """The outcome of :func:`verify_chain`: ``bad_id`` is the first entry that does not hold."""

    entries: int
    bad_id: int | None = None
    reason: str = ""

    @property
    def intact(self) -> bool:
        return self.bad_id is None


def _in_order(conn: Connection) -> Iterator[Mapping[str, Any]]:
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
    expected_id, prev_hash, count = 1, GENESIS, 0
    for entry in _in_order(conn):
        if entry["id"] != expected_id:
            return ChainReport(count, expected_id, f"entry {expected_id} is missing")
        if entry["prev_hash"] != prev_hash:
            return ChainReport(count, entry["id"], "it does not follow the entry before it")
        if _digest(entry) != entry["hash"]:
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
