"""What a change of the stage field is: a start, a step forward, a step back, a loss, a reopen —
and whether the pipeline allows it.

Allowed by default: forward to the next stage that is not lost (or to any stage listed in the
stage's ``forward_to``), to a lost stage from any open one, back to any earlier stage with a
reason, and from a lost stage back to any other (a reopen) with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from meridian.flows.stages.model import Pipeline, Stage

MoveKind = Literal["start", "forward", "back", "lose", "reopen"]


@dataclass(frozen=True)
class Move:
    """One record's change of stage within its pipeline."""

    record_id: int
    prefix: str
    pipeline: Pipeline
    source: Stage | None
    target: Stage
    kind: MoveKind
    allowed: bool


def classify(pipeline: Pipeline, source: Stage | None, target: Stage) -> tuple[MoveKind, bool]:
    """The kind of the move from ``source`` to ``target`` and whether it is allowed."""
    if source is None:
        return "start", True
    if target.category == "lost":
        return "lose", source.category == "open"
    if source.category == "lost":
        return "reopen", True
    if target.position < source.position:
        return "back", True
    if source.forward_to is not None:
        return "forward", target.key in source.forward_to
    return "forward", target.key == next_stage(pipeline, source)


def next_stage(pipeline: Pipeline, source: Stage) -> str | None:
    """The stage a plain step forward leads to: the next one that is not lost."""
    later = [s for s in pipeline.stages if s.position > source.position and s.category != "lost"]
    return min(later, key=lambda s: s.position).key if later else None


def allowed_targets(pipeline: Pipeline, source: Stage) -> list[Stage]:
    """Every stage a record in ``source`` may move to (back-moves need a reason)."""
    return [s for s in pipeline.stages if s.key != source.key and classify(pipeline, source, s)[1]]


def needs_reason(kind: MoveKind) -> bool:
    return kind in ("back", "reopen")
