"""The approval engine as a plugin: its timeout scan, the lock on records in approval (a
write guard, and the row fact it reads with a record's row), the ``approval`` gate criterion
stages may require, and the ``start_approval`` criterion with its subscriber (a stage that
starts a flow on entry)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from meridian.flows.approvals import timeouts
from meridian.flows.approvals.gate import APPROVAL_CRITERION
from meridian.flows.approvals.lock import RUNNING_APPROVAL, approval_lock
from meridian.flows.approvals.stage_start import START_CRITERION, start_on_stage_entry
from meridian.flows.stages.criteria import CriterionKind
from meridian.jobs.queue import Handler
from meridian.plugins.hookspecs import hookimpl
from meridian.records.guards import RowFact, WriteGuard
from meridian.records.subscribers import Subscriber

if TYPE_CHECKING:
    from meridian.http.deps import Workspace


@hookimpl
def register_job_handlers(meridian: Workspace) -> Mapping[str, Handler]:
    return {timeouts.SCAN: timeouts.scan_timeouts}


@hookimpl
def register_write_guards() -> Sequence[WriteGuard]:
    return [approval_lock]


@hookimpl
def register_row_facts() -> Sequence[RowFact]:
    return [RUNNING_APPROVAL]


@hookimpl
def register_gate_criteria() -> Sequence[CriterionKind]:
    return [APPROVAL_CRITERION, START_CRITERION]


@hookimpl
def register_subscribers() -> Sequence[Subscriber]:
    return [start_on_stage_entry]
