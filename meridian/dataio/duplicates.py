"""The duplicate pairs of one import, kept for review (``sys_duplicate_candidate``): stored once
when found, decided per pair or for all, and read back as the decisions :func:`plan_rows`
takes.

An import is named by its ``batch_key`` (the import run's id as text); each call is one
statement, whatever the number of pairs, and a batch's calls read only its rows' pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.dataio.dedup import DECISIONS, Candidate, Decision
from meridian.db.tables import duplicate_candidates
from meridian.errors import FieldError, ValidationFailed

_C = duplicate_candidates.c


def store_candidates(
    conn: Connection, *, batch_key: str, form_key: str, candidates: Sequence[Candidate]
) -> None:
    """Keep ``candidates`` for review; storing the same import's pairs again replaces them
    (a resumed run finds the same pairs), and decisions already taken on them are kept."""
    if not candidates:
        return
    rows = {c.row for c in candidates}
    decided = {
        (row.row, row.other_row, row.record_id): (row.decision, row.decided_by, row.decided_at)
        for row in conn.execute(
            sa.select(
                _C.row, _C.other_row, _C.record_id, _C.decision, _C.decided_by, _C.decided_at
            ).where(
                _C.batch_key == batch_key,
                _C.row.between(min(rows), max(rows)),
                _C.decision.is_not(None),
            )
        )
    }
    conn.execute(
        duplicate_candidates.delete().where(_C.batch_key == batch_key, _C.row.in_(sorted(rows)))
    )
    undecided = (None, None, None)
    conn.execute(
        duplicate_candidates.insert(),
        [
            dict(
                zip(
                    ("decision", "decided_by", "decided_at"),
                    decided.get((c.row, c.other_row, c.record_id), undecided),
                    strict=True,
                ),
                batch_key=batch_key,
                form_key=form_key,
                row=c.row,
                other_row=c.other_row,
                record_id=c.record_id,
                reason=c.reason,
                field_key=c.field,
                score=c.score,
                value=c.value[:500],
            )
            for c in candidates
        ],
    )


def list_candidates(conn: Connection, *, batch_key: str) -> list[dict[str, Any]]:
    """The import's pairs by row, each with its decision (None: the import's default)."""
    rows = conn.execute(
        sa.select(duplicate_candidates)
        .where(_C.batch_key == batch_key)
        .order_by(_C.row, _C.other_row, _C.record_id)
    )
    return [dict(row._mapping) for row in rows]


def decide(
    conn: Connection,
    *,
    actor: Actor,
    batch_key: str,
    decision: str,
    candidate_ids: Sequence[int] | None = None,
) -> int:
    """Set ``decision`` on the given pairs of the import, or on all of them (None); returns
    how many were decided. An unknown decision or a pair of another import is refused (422)
    and nothing changes."""
    if decision not in DECISIONS:
        raise ValidationFailed(
            [
                FieldError(
                    "decision",
                    "invalid_decision",
                    Text("a decision is one of {allowed}", allowed=", ".join(DECISIONS)),
                    decision,
                )
            ]
        )
    where = [_C.batch_key == batch_key]
    if candidate_ids is not None:
        wanted = sorted(set(candidate_ids))
        known = set(conn.scalars(sa.select(_C.id).where(*where, _C.id.in_(wanted))))
        unknown = [i for i in wanted if i not in known]
        if unknown:
            raise ValidationFailed(
                [
                    FieldError(
                        "candidates",
                        "unknown_candidate",
                        Text("no duplicate pair {candidate} in this import", candidate=unknown[0]),
                        unknown[0],
                    )
                ]
            )
        where.append(_C.id.in_(wanted))
    result = conn.execute(
        duplicate_candidates.update()
        .where(*where)
        .values(decision=decision, decided_by=actor.user_id, decided_at=utcnow(conn))
    )
    return int(result.rowcount)


def stored_decisions(
    conn: Connection, *, batch_key: str, rows: tuple[int, int] | None = None
) -> dict[tuple[int, tuple[str, int]], Decision]:
    """The decisions taken on the import's pairs, keyed as :func:`plan_rows` reads them;
    those of the rows from ``rows[0]`` to ``rows[1]`` alone when given (a batch's: read
    through the index on the import and row, where all of a million-row import's pairs
    read for each batch grew with the square of the file)."""
    decisions: dict[tuple[int, tuple[str, int]], Decision] = {}
    where = [_C.batch_key == batch_key, _C.decision.is_not(None)]
    if rows is not None:
        where.append(_C.row.between(*rows))
    statement = sa.select(_C.row, _C.other_row, _C.record_id, _C.decision).where(*where)
    for row, other_row, record_id, decision in conn.execute(statement):
        other = ("record", record_id) if record_id is not None else ("row", other_row)
        decisions[(row, other)] = decision
    return decisions
