"""Deduplication as the import run asks for it (``run_decisions.DuplicateFinder``): per batch,
the pairs :func:`find_duplicates` finds, kept for review under the import's id, and one
:class:`Decision` per row from the reviewed decisions, else the import's ``--on-duplicate``.

A row that duplicates a stored record (or a record an earlier batch made) is merged into it —
its values fill the record's empty fields (:func:`merged_values`), those an earlier row of the
batch merging into it left empty — or skipped. A row that
duplicates an earlier row of the *same* batch has no record to merge into yet: on ``merge`` it
is merged into the record that row creates (``Decision(into_row=…)``: the write creates the
batch's new records first, then fills their blank fields from the rows merged into them); on
``skip`` it is skipped with a reason naming that row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.core.i18n import N_, Text
from meridian.dataio.dedup import (
    NAME_THRESHOLD,
    Candidate,
    find_duplicates,
    merged_values,
    plan_rows,
)
from meridian.dataio.dedup import (
    Decision as Choice,
)
from meridian.dataio.duplicates import store_candidates, stored_decisions
from meridian.dataio.run_decisions import Decision, PendingRow
from meridian.records.readable import Readable
from meridian.records.reads import dump_rows
from meridian.schema.model import Form

_REASONS = {
    "same_value": N_("same {field} as record {record_id}"),
    "same_name": N_("same name as record {record_id}"),
    "similar_name": N_("a name like record {record_id}'s ({score}%)"),
}


@dataclass
class DedupFinder:
    """The import's duplicate finder: ``mode`` is ``merge`` or ``skip`` (what an undecided
    pair becomes); ``batch_key`` names the import whose pairs are stored for review (None:
    not stored)."""

    actor: Actor
    form: Form
    mode: Choice
    tz: ZoneInfo
    batch_key: str | None = None
    threshold: float = NAME_THRESHOLD
    found: list[Candidate] = field(default_factory=list)

    def find_duplicates(self, conn: Connection, batch: Sequence[PendingRow]) -> list[Decision]:
        rows = [(row.number, row.values) for row in batch]
        candidates = find_duplicates(
            conn=conn,
            actor=self.actor,
            form=self.form,
            rows=rows,
            threshold=self.threshold,
            tz=self.tz,
        )
        self.found.extend(candidates)
        decided = {}
        if self.batch_key is not None:
            store_candidates(
                conn, batch_key=self.batch_key, form_key=self.form.key, candidates=candidates
            )
            numbers = [row.number for row in batch]
            if numbers:
                decided = stored_decisions(
                    conn, batch_key=self.batch_key, rows=(min(numbers), max(numbers))
                )
        plans = plan_rows(candidates, decided, self.mode)
        why = {c.row: c for c in candidates}
        targets = {p.record_id for p in plans.values() if p.action == "merge" and p.record_id}
        stored = self._stored(conn, targets)
        filled: dict[int, dict[str, Any]] = {}  # by the batch's earlier merges, per record
        decisions = []
        for row in batch:
            plan = plans.get(row.number)
            if plan is None or plan.action == "create":
                decisions.append(Decision())
            elif plan.action == "merge" and plan.record_id is not None:
                held = filled.setdefault(plan.record_id, {})
                values = merged_values({**stored.get(plan.record_id, {}), **held}, row.values)
                held.update(values)
                decisions.append(
                    Decision("merge", plan.record_id, values, _reason(why[row.number], self.form))
                )
            elif plan.action == "merge":
                decisions.append(
                    Decision(
                        "merge",
                        into_row=plan.into_row,
                        reason=Text("the same as row {row}", row=plan.into_row),
                    )
                )
            else:
                candidate = why[row.number]
                decisions.append(
                    Decision("skip", candidate.record_id, reason=_reason(candidate, self.form))
                )
        return decisions

    def _stored(self, conn: Connection, ids: set[int]) -> dict[int, dict[str, Any]]:
        """The records rows merge into, as the API shows them: one query."""
        if not ids:
            return {}
        readable = Readable.of(conn, form_access(conn, self.actor, self.form), self.tz)
        rows = conn.execute(readable.select().where(readable.table.c.id.in_(sorted(ids)))).all()
        records = dump_rows(conn, readable.plan, rows, actor=self.actor, tz=self.tz)
        return {record["id"]: record for record in records}


def _reason(candidate: Candidate, form: Form) -> Text:
    if candidate.record_id is None:
        return Text("the same as row {row}", row=candidate.other_row)
    field = form.get_field(candidate.field)
    return Text(
        _REASONS[candidate.reason],
        field=field.label if field is not None else candidate.field,
        record_id=candidate.record_id,
        score=candidate.score,
    )


def duplicate_finder(
    *,
    actor: Actor,
    form: Form,
    mode: str,
    tz: ZoneInfo,
    batch_key: str | None = None,
    review: bool = False,
) -> DedupFinder | None:
    """The finder for ``--on-duplicate``: None for ``keep`` (every row a record of its own)
    unless the pairs are wanted for ``review`` (the wizard's import, where a pair decided
    ``merge`` or ``skip`` counts whatever the default)."""
    if mode == "keep" and not review:
        return None
    choice: Choice = "merge" if mode == "merge" else "skip" if mode == "skip" else "keep"
    return DedupFinder(actor=actor, form=form, mode=choice, tz=tz, batch_key=batch_key)
