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

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.actor import Actor
from meridian.core.i18n import Text
from meridian.db.locks import serialize, serialize_all
from meridian.db.sets import one_of
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


def claim_numbers(
    conn: Connection,
    *,
    actor: Actor,
    form_key: str,
    record_ids: Sequence[int],
    template: dict[str, Any],
    hidden: Mapping[str, list[str]],
    now: datetime,
    tz: ZoneInfo,
    reclaim: Collection[int] = (),
) -> tuple[list[Claim], Conflict | None]:
    """:func:`claim_number` for many records (a batch) in a few statements: their latest rows
    read at once, failed ones taken over in one UPDATE, new numbers reserved in one go, new
    rows written in one INSERT. ``reclaim`` are pending rows an earlier attempt of the same
    batch claimed and never finished (its worker died): taken over like failed ones.

    Returns the claims in the order of ``record_ids`` up to the first record whose document
    another generation is rendering right now, and that record's ``Conflict`` (else None)."""
    key = template["key"]
    serialize_all(conn, [f"document:{form_key}:{record_id}:{key}" for record_id in record_ids])
    newest = (
        sa.select(documents.c.record_id, sa.func.max(documents.c.version).label("version"))
        .where(
            documents.c.form_key == form_key,
            documents.c.template_key == key,
            one_of(conn, documents.c.record_id, list(record_ids)),
        )
        .group_by(documents.c.record_id)
        .subquery()
    )
    latest = {
        row.record_id: row
        for row in conn.execute(
            sa.select(
                documents.c.id,
                documents.c.record_id,
                documents.c.number,
                documents.c.version,
                documents.c.state,
                documents.c.created_at,
            )
            .join(
                newest,
                sa.and_(
                    documents.c.record_id == newest.c.record_id,
                    documents.c.version == newest.c.version,
                ),
            )
            .where(documents.c.form_key == form_key, documents.c.template_key == key)
        )
    }
    values = {
        "template_version": template["version"],
        "state": PENDING,
        "created_by": actor.user_id,
        "created_at": now,
        "hidden_fields": dict(hidden),
    }
    blocked: Conflict | None = None
    taken_over: dict[int, Claim] = {}
    again: dict[int, tuple[str, int]] = {}
    first: list[int] = []
    for record_id in record_ids:
        row = latest.get(record_id)
        if row is None:
            first.append(record_id)
        elif row.state == DONE:
            again[record_id] = (row.number, row.version + 1)
        elif (
            row.state == PENDING and row.id not in reclaim and row.created_at > now - STALE_PENDING
        ):
            blocked = Conflict(
                Text(
                    "document {number} of this record is being generated; try again shortly",
                    number=row.number,
                ),
                reason="document_pending",
            )
            break
        else:
            taken_over[record_id] = Claim(row.id, row.number, row.version, now)
    if taken_over:
        conn.execute(
            documents.update()
            .where(one_of(conn, documents.c.id, [c.document_id for c in taken_over.values()]))
            .values(values)
        )
    if first:
        pattern = parse_pattern(template["number_pattern"])
        local = now.astimezone(tz)
        sequence = f"document:{form_key}.{key}:{pattern.sequence_key(local)}"
        start = reserve(conn, sequence, len(first))
        for offset, record_id in enumerate(first):
            again[record_id] = (pattern.format(start + offset, local), 1)
    inserted: dict[int, Claim] = {}
    if again:
        rows = [
            {
                "form_key": form_key,
                "record_id": record_id,
                "template_key": key,
                "number": number,
                "version": version,
                **values,
            }
            for record_id, (number, version) in again.items()
        ]
        result = conn.execute(
            documents.insert().returning(
                documents.c.id, documents.c.record_id, sort_by_parameter_order=True
            ),
            rows,
        )
        for row in result:
            number, version = again[row.record_id]
            inserted[row.record_id] = Claim(row.id, number, version, now)
    claimed = {**taken_over, **inserted}
    return [claimed[record_id] for record_id in record_ids if record_id in claimed], blocked


def fail_many(conn: Connection, claims: Sequence[Claim]) -> None:
    """:func:`fail` for many claims (a batch's chunks in flight when it stopped)."""
    if claims:
        conn.execute(
            documents.update()
            .where(one_of(conn, documents.c.id, [c.document_id for c in claims]))
            .values(state=FAILED)
        )
