"""A document's number and its row: claimed before rendering, completed after.

Rendering a PDF takes a tenth of a second or more, and no lock is held meanwhile. A short
transaction first claims the number: a record's first document for a template takes the next
number of the template's sequence (its counter row locked for that transaction only), later
ones keep it as new versions. The document's row is written then, ``pending``, so the number
is never lost: when rendering fails the row is marked ``failed`` and the record's next
generation takes it over with the same number and version. A second transaction stores the
file and marks the row ``done``. Numbers thus stay gap-free and unique however many
generations run at once, on PostgreSQL (row lock) and on SQLite (``BEGIN IMMEDIATE``) alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.actor import Actor
from meridian.core.i18n import Text
from meridian.db.locks import serialize
from meridian.db.tables import documents
from meridian.errors import Conflict
from meridian.records.numbering import reserve
from meridian.schema.values.autonumber import parse_pattern

PENDING, DONE, FAILED = "pending", "done", "failed"
STALE_PENDING = timedelta(minutes=10)
"""A pending row older than this belongs to a generation that died; the next one takes it."""


@dataclass(frozen=True)
class Claim:
    """A document row waiting for its file."""

    document_id: int
    number: str
    version: int
    issued: datetime


def claim_number(
    conn: Connection,
    *,
    actor: Actor,
    form_key: str,
    record_id: int,
    template: dict[str, Any],
    hidden: Mapping[str, list[str]],
    now: datetime,
    tz: ZoneInfo,
) -> Claim:
    """In the caller's (short) write transaction: the record's number and the new version,
    written as a pending document. Two generations for one record queue on a lock named for
    the record, so they cannot both take a first number. ``hidden`` is what the generator
    could not see (``meridian.documents.visibility``): readers hiding more never see the row."""
    key = template["key"]
    serialize(conn, f"document:{form_key}:{record_id}:{key}")
    latest = conn.execute(
        sa.select(
            documents.c.id,
            documents.c.number,
            documents.c.version,
            documents.c.state,
            documents.c.created_at,
        )
        .where(
            documents.c.form_key == form_key,
            documents.c.record_id == record_id,
            documents.c.template_key == key,
        )
        .order_by(documents.c.version.desc())
        .limit(1)
    ).first()
    values = {
        "template_version": template["version"],
        "state": PENDING,
        "created_by": actor.user_id,
        "created_at": now,
        "hidden_fields": dict(hidden),
    }
    if latest is not None and latest.state != DONE:
        if latest.state == PENDING and latest.created_at > now - STALE_PENDING:
            raise Conflict(
                Text(
                    "document {number} of this record is being generated; try again shortly",
                    number=latest.number,
                ),
                reason="document_pending",
            )
        conn.execute(documents.update().where(documents.c.id == latest.id).values(values))
        return Claim(latest.id, latest.number, latest.version, now)
    if latest is not None:
        number, version = latest.number, latest.version + 1
    else:
        pattern = parse_pattern(template["number_pattern"])
        local = now.astimezone(tz)
        sequence = f"document:{form_key}.{key}:{pattern.sequence_key(local)}"
        number, version = pattern.format(reserve(conn, sequence, 1), local), 1
    result = conn.execute(
        documents.insert().values(
            form_key=form_key,
            record_id=record_id,
            template_key=key,
            number=number,
            version=version,
            **values,
        )
    )
    assert result.inserted_primary_key is not None
    return Claim(int(result.inserted_primary_key[0]), number, version, now)


def complete(conn: Connection, claim: Claim, *, file_id: int, signing_key_id: int | None) -> None:
    conn.execute(
        documents.update()
        .where(documents.c.id == claim.document_id)
        .values(state=DONE, file_id=file_id, signing_key_id=signing_key_id)
    )


def fail(conn: Connection, claim: Claim) -> None:
    """The generation failed: the number stays with the record for its next generation."""
    conn.execute(documents.update().where(documents.c.id == claim.document_id).values(state=FAILED))
