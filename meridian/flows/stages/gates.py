"""The stage gate: a write guard (``records.guards``) that holds every stage move to its pipeline.

For one batch it finds the records whose stage changes (or that start in a stage), checks the
move is allowed, that a back-move has a reason, and that the target's entry criteria and — for
a step forward — the source's exit criteria hold. Criteria are judged per (criterion, records)
group, so a bulk edit of a thousand records costs one check per criterion, not per record.

Every unmet criterion becomes one :class:`Refusal` with code ``stage_gate``. An actor whose
role may override (administrators, or a role the pipeline names) and who gave an override
reason passes; what they passed over is noted on the intent for the stage history and the
audit trail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from meridian.core.actor import Actor
from meridian.flows.stages.criteria import criterion_kinds, describe
from meridian.flows.stages.model import Criterion, FormPipelines, Pipeline, Stage, load_pipelines
from meridian.flows.stages.moves import Move, classify, needs_reason
from meridian.flows.stages.texts import N_, in_both, said
from meridian.records.guards import ProposedWrite, Refusal, WriteBatch

GATE = "stage_gate"
MEMO = "stages.pipelines"
"""Where the gate leaves the form's pipelines on the intent for the stage history."""


def stage_gate(conn: Connection, batch: WriteBatch) -> list[Refusal]:
    """The ``register_write_guards`` guard of lifecycle stages."""
    form_pipelines = load_pipelines(conn, batch.form.key)
    batch.intent.memo[MEMO] = form_pipelines
    if not form_pipelines.pipelines:
        return []
    moves = stage_moves(form_pipelines, batch.writes)
    if not moves:
        return []
    found = unmet_conditions(conn, batch, moves)
    if not found:
        return []
    refusals = [
        Refusal(
            GATE,
            move.record_id,
            move.prefix,
            field,
            criterion,
            said(texts),
            {**texts, **detail, "stage": move.target.key},
        )
        for move, field, criterion, texts, detail in found
    ]
    if batch.intent.override and all(
        may_override(batch.actor, move.pipeline) for move, *_ in found
    ):
        batch.intent.overridden[GATE] = refusals
        return []
    if batch.intent.override:
        texts = in_both(N_("you may not override this stage gate"))
        move = found[0][0]
        refusals.append(
            Refusal(
                GATE,
                move.record_id,
                move.prefix,
                move.pipeline.stage_field,
                "override_not_permitted",
                said(texts),
                texts,
            )
        )
    return refusals


def may_override(actor: Actor, pipeline: Pipeline) -> bool:
    return actor.is_admin or bool(actor.roles & set(pipeline.override_roles))


def stage_moves(form_pipelines: FormPipelines, writes: Sequence[ProposedWrite]) -> list[Move]:
    """The writes that start a record in a stage or change its stage, as moves."""
    watched = form_pipelines.watched
    moves = []
    for write in writes:
        if write.old is not None and not (write.changed & watched):
            continue
        pipeline = form_pipelines.for_row(write.new)
        if pipeline is None:
            continue
        target = pipeline.stage(write.new.get(pipeline.stage_field))
        if target is None:
            continue
        old_value = None if write.old is None else write.old.get(pipeline.stage_field)
        if write.old is not None and old_value == target.key:
            continue
        source = pipeline.stage(old_value)
        kind, allowed = classify(pipeline, source, target)
        moves.append(Move(write.record_id, write.prefix, pipeline, source, target, kind, allowed))
    return moves


Found = tuple[Move, str, str, dict[str, str], Mapping[str, Any]]


def unmet_conditions(conn: Connection, batch: WriteBatch, moves: Sequence[Move]) -> list[Found]:
    """Every unmet condition of every move: (move, field, criterion name, texts, detail)."""
    found: list[Found] = []
    form = batch.form
    for move in moves:
        field = move.pipeline.stage_field
        source_label = _labels(move.source)
        target_label = _labels(move.target)
        if not move.allowed:
            texts = in_both(
                N_("{source} cannot move straight to {target}"),
                source=source_label,
                target=target_label,
            )
            found.append((move, field, "transition", texts, {"move": move.kind}))
        elif needs_reason(move.kind) and not (batch.intent.reason or "").strip():
            texts = in_both(
                N_("moving back from {source} to {target} needs a reason"),
                source=source_label,
                target=target_label,
            )
            found.append((move, field, "reason", texts, {"move": move.kind}))
    # Criteria, grouped so each is judged once over every record that must meet it.
    groups: dict[int, tuple[Criterion, list[Move]]] = {}
    for move in moves:
        for criterion in _criteria_of(move):
            groups.setdefault(criterion.id, (criterion, []))[1].append(move)
    writes = {w.record_id: w for w in batch.writes}
    kinds = criterion_kinds(conn)
    for criterion, members in groups.values():
        kind = kinds.get(criterion.kind)
        failing = (
            kind.unmet(conn, form, criterion, [writes[m.record_id] for m in members])
            if kind is not None
            else {m.record_id for m in members}
        )
        if not failing:
            continue
        texts = describe(conn, form, criterion)
        field = str(criterion.config.get("field") or "")
        for move in members:
            if move.record_id in failing:
                detail = {"criterion_id": criterion.id, "phase": criterion.phase}
                found.append(
                    (move, field or move.pipeline.stage_field, criterion.kind, texts, detail)
                )
    order = {id(move): index for index, move in enumerate(moves)}
    found.sort(key=lambda item: order[id(item[0])])
    return found


def _criteria_of(move: Move) -> tuple[Criterion, ...]:
    """What a move must meet: the target's entry gate; a step forward (or a win) also the
    source's exit gate. Moving back or losing asks only the target's entry gate (a loss
    reason, typically)."""
    entry = move.target.gate("entry")
    if move.kind == "forward" and move.source is not None:
        return move.source.gate("exit") + entry
    return entry


def _labels(stage: Stage | None) -> tuple[str, str]:
    if stage is None:
        return ("—", "—")
    return (stage.label, stage.label_en or stage.label)
