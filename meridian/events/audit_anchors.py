"""Anchors: the audit trail's head, written down somewhere the database's users cannot reach.

The keyed chain shows any entry edited, inserted or removed before the newest — but not the
newest entries deleted with the head row moved back to the last one kept: every hash left is
still one the key made. An anchor line (``<entry id> <hash> <when>``) copied off the database
host — a file on another machine, a ticket, a printout — closes that gap: a later check
finds each anchored entry still in the trail with the same hash, so the trail has only grown
since. Deleting entries newer than the last anchor stays undetectable until the next anchor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.clock import utcnow
from meridian.db.tables import audit_head, audit_log
from meridian.errors import MeridianError
from meridian.events.audit import ChainReport

_LINE = re.compile(r"^(?P<id>[0-9]{1,19}) (?P<hash>[0-9a-f]{64})(?: (?P<at>\S+))?$")
_CHUNK = 500


@dataclass(frozen=True)
class Anchor:
    """One head written down: entry ``entry_id`` had ``hash`` when it was taken."""

    entry_id: int
    hash: str
    at: str = ""

    @property
    def line(self) -> str:
        return f"{self.entry_id} {self.hash} {self.at}".rstrip()


class BadAnchorFile(MeridianError):
    code = "bad_anchor_file"
    title = "Unreadable anchor file"


def current_anchor(conn: Connection) -> Anchor:
    """The trail's head now, as an anchor to keep."""
    head = conn.execute(sa.select(audit_head).where(audit_head.c.id == 1)).one()
    return Anchor(int(head.last_id), head.last_hash, utcnow(conn).isoformat(timespec="seconds"))


def read_anchors(path: Path) -> list[Anchor]:
    """Every anchor in the file; blank lines and ``#`` comments are skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadAnchorFile(f"cannot read {path}: {exc}") from None
    anchors = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise BadAnchorFile(
                f"{path} line {number}: expected '<entry id> <hash> [time]', got {line[:80]!r}"
            )
        anchors.append(Anchor(int(match["id"]), match["hash"], match["at"] or ""))
    return anchors


def check_anchors(conn: Connection, anchors: list[Anchor]) -> ChainReport | None:
    """None when every anchored entry is still there with its anchored hash; else a report
    naming the first anchor that no longer holds."""
    ordered = sorted(anchors, key=lambda anchor: anchor.entry_id)
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        stored = dict(
            conn.execute(
                sa.select(audit_log.c.id, audit_log.c.hash).where(
                    audit_log.c.id.in_([anchor.entry_id for anchor in chunk])
                )
            ).all()
        )
        for anchor in chunk:
            if anchor.entry_id == 0:
                continue  # anchored while the trail was empty
            found = stored.get(anchor.entry_id)
            if found is None:
                return ChainReport(
                    0, anchor.entry_id, f"it was anchored at {anchor.at or '?'} and is gone"
                )
            if found != anchor.hash:
                return ChainReport(
                    0, anchor.entry_id, f"it differs from its anchor of {anchor.at or '?'}"
                )
    return None
