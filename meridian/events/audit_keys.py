"""The audit trail's secret key: where it is kept, and keying a trail begun without one.

The key lives outside the database — ``MERIDIAN_AUDIT_KEY``, or ``audit.key`` in the data
directory, made (mode 0600) by the first start that finds neither — so someone who can write
the database but not read the key cannot forge the chain's HMACs. The head row names the key
by :func:`~meridian.events.audit.key_id`, and a process holding another key refuses to start
instead of forking the trail.

A trail begun before keys existed is re-keyed once (docs/access.md, "Upgrading"): its unkeyed
chain is checked, every entry is re-hashed with the key in id order, and a keyed
``audit_chain_keyed`` entry records how many entries there were and whether their old chain
held. That happens by itself only when the key was made by this very start; with a key that
already existed, ``meridian audit rekey`` must ask for it. Otherwise whoever blanked the head's
key name could have a later start launder a rewritten trail.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from meridian.db.engine import transaction
from meridian.db.tables import audit_head, audit_log
from meridian.errors import AuditKeyProblem
from meridian.events.audit import (
    AUDIT_KEY,
    GENESIS,
    audit,
    key_id,
    keyed_digest,
    unkeyed_digest,
    walk_chain,
)

KEY_FILE = "audit.key"
MIN_KEY_LENGTH = 32
_PAGE = 1000


@dataclass(frozen=True)
class AuditKey:
    """The secret, where it came from (for messages), and whether this start made it."""

    secret: bytes
    source: str
    created: bool = False


def load_audit_key(*, configured: str, data_dir: Path) -> AuditKey:
    """The configured key, else the data directory's key file, made now if there is none."""
    if configured:
        if len(configured) < MIN_KEY_LENGTH:
            raise AuditKeyProblem(
                f"MERIDIAN_AUDIT_KEY is too short: use at least {MIN_KEY_LENGTH} random characters"
            )
        return AuditKey(configured.encode(), "MERIDIAN_AUDIT_KEY")
    path = data_dir / KEY_FILE
    created = not path.exists() and _create(path)
    if path.stat().st_mode & 0o077:
        raise AuditKeyProblem(f"{path} may be read by other users: chmod 600 it")
    text = path.read_text(encoding="ascii").strip()
    if len(text) < MIN_KEY_LENGTH:
        raise AuditKeyProblem(f"{path} holds no key: restore it from the backup")
    return AuditKey(text.encode(), str(path), created)


def _create(path: Path) -> bool:
    """Write a new key readable by the owner alone. It is written aside and linked into place,
    so two processes starting at once end up with the same key, never a half-written one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{KEY_FILE}.{secrets.token_hex(6)}")
    handle = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(handle, "w", encoding="ascii") as out:
            out.write(secrets.token_hex(32) + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(draft, path)
        except FileExistsError:
            return False
        return True
    finally:
        draft.unlink(missing_ok=True)


def open_audit_trail(engine: Engine, key: AuditKey, *, rekey: bool = False) -> None:
    """Give the engine's connections the key, and key the trail if it has no key yet.

    ``rekey`` allows re-keying a trail that has entries with a key this start did not make.
    """
    engine.update_execution_options(**{AUDIT_KEY: key.secret})
    wanted = key_id(key.secret)
    with transaction(engine) as conn:
        head = conn.execute(
            sa.select(audit_head).where(audit_head.c.id == 1).with_for_update()
        ).one()
        if head.key_id == wanted:
            return
        if head.key_id is not None:
            raise AuditKeyProblem(
                f"the audit trail is made with key {head.key_id}, but {key.source} holds key "
                f"{wanted}: give this process the trail's key (copy its {KEY_FILE} or set "
                "MERIDIAN_AUDIT_KEY)"
            )
        if head.last_id and not (key.created or rekey):
            raise AuditKeyProblem(
                f"the audit trail's {head.last_id} entries are not keyed yet: run "
                "'meridian audit rekey' once to key them with this key (docs/access.md)"
            )
        conn.execute(audit_head.update().where(audit_head.c.id == 1).values(key_id=wanted))
        if head.last_id:
            _rekey(conn, key.secret)


def _rekey(conn: Connection, secret: bytes) -> None:
    """Re-hash every entry with the key, in id order, and record that it was done."""
    legacy = walk_chain(conn, unkeyed_digest)
    previous, after, count = GENESIS, 0, 0
    while True:
        page = conn.execute(
            sa.select(audit_log).where(audit_log.c.id > after).order_by(audit_log.c.id).limit(_PAGE)
        ).all()
        if not page:
            break
        changes: list[dict[str, Any]] = []
        for row in page:
            entry = {**row._mapping, "prev_hash": previous}
            previous = keyed_digest(entry, secret)
            changes.append({"entry": row.id, "new_prev": entry["prev_hash"], "new_hash": previous})
        conn.execute(
            audit_log.update()
            .where(audit_log.c.id == sa.bindparam("entry"))
            .values(prev_hash=sa.bindparam("new_prev"), hash=sa.bindparam("new_hash")),
            changes,
        )
        after, count = page[-1].id, count + len(page)
    conn.execute(audit_head.update().where(audit_head.c.id == 1).values(last_hash=previous))
    audit(
        conn,
        actor_id=None,
        action="audit_chain_keyed",
        object_type="audit",
        detail={
            "entries": count,
            "unkeyed_chain": "intact"
            if legacy.intact
            else f"broken at entry {legacy.bad_id}: {legacy.reason}",
        },
    )
