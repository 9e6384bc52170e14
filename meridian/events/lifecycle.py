"""Past-tense events of the engines that come next: stages, approvals, imports.

They are declared here, before their engines, so that the engines announce them through the
one path record events take (``records.subscribers.announce``: the outbox and the registered
subscribers, in the writer's transaction) and rules can name them as triggers. The process
engine (``flows``) and import (``dataio``) register those triggers in their own plugins.
"""

from __future__ import annotations

from dataclasses import dataclass

from meridian.events.records import DomainEvent, RecordEvent


@dataclass(frozen=True)
class StageEntered(RecordEvent):
    """A record entered a lifecycle stage (线索→意向→…).

    :ivar stage: the stage's key.
    :ivar previous: the stage it left, or None when the record starts its lifecycle.
    """

    stage: str = ""
    previous: str | None = None


@dataclass(frozen=True)
class StageLeft(RecordEvent):
    """A record left a lifecycle stage; :class:`StageEntered` for the next one follows.

    :ivar stage: the stage it left.
    :ivar dwell_seconds: how long it stayed there (stage dwell time reports read this).
    """

    stage: str = ""
    dwell_seconds: int = 0


@dataclass(frozen=True)
class StageSlaWarned(RecordEvent):
    """A record has spent the warning share of its stage's time limit in the stage (once per
    visit).

    :ivar stage: the stage's key.
    :ivar visit_id: the stage visit (``flow_stage_visit``) the warning is about.
    :ivar due_at: when the limit is reached, ISO 8601.
    """

    stage: str = ""
    visit_id: int = 0
    due_at: str = ""


@dataclass(frozen=True)
class StageSlaBreached(RecordEvent):
    """A record stayed in a stage past its time limit (once per visit, also when the worker
    was down across the deadline).

    :ivar stage: the stage's key.
    :ivar visit_id: the stage visit the breach is about.
    :ivar due_at: when the limit was reached, ISO 8601.
    """

    stage: str = ""
    visit_id: int = 0
    due_at: str = ""


@dataclass(frozen=True)
class ApprovalFinished(RecordEvent):
    """An approval of a record reached its end.

    :ivar approval_id: the approval instance.
    :ivar flow: the approval flow's key.
    :ivar outcome: ``approved``, ``rejected`` or ``withdrawn``.
    """

    approval_id: int = 0
    flow: str = ""
    outcome: str = ""


@dataclass(frozen=True)
class ImportFinished(DomainEvent):
    """An import batch into a form was committed (all of it, or none: then it is not sent).

    :ivar form: the form key.
    :ivar batch_id: the import batch.
    :ivar actor_id: who imported.
    :ivar created: records created.
    :ivar updated: records updated (matched by the dedup key).
    :ivar rejected: rows refused, each listed with its reason in the batch's report.
    """

    form: str
    batch_id: int
    actor_id: int | None
    created: int = 0
    updated: int = 0
    rejected: int = 0
