"""Lifecycle stages as a plugin: the stage gate (a write guard), the stage history (a
subscriber), the gate criterion kinds and the SLA scan job."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from meridian.db.engine import transaction
from meridian.flows.stages.criteria import BUILTIN_CRITERIA, CriterionKind
from meridian.flows.stages.gates import stage_gate
from meridian.flows.stages.history import record_stage_visits
from meridian.flows.stages.sla import BATCH, SCAN, scan_slas
from meridian.jobs.queue import Handler, JobContext
from meridian.plugins.hookspecs import hookimpl
from meridian.records.guards import WriteGuard
from meridian.records.subscribers import Subscriber

if TYPE_CHECKING:
    from meridian.http.deps import Workspace


def run_sla_scan(context: JobContext) -> None:
    """The ``stages.sla_scan`` job: fire what fell due, in batches (``limit``, 5000 by
    default), each its own transaction — a worker killed mid-scan loses only the batch it had
    not committed, and the next scan fires it."""
    limit = int(context.payload.get("limit", BATCH))
    while True:
        with transaction(context.engine) as conn:
            warned, breached = scan_slas(conn, limit=limit)
        if warned < limit and breached < limit:
            return


@hookimpl
def register_write_guards() -> Sequence[WriteGuard]:
    return (stage_gate,)


@hookimpl
def register_subscribers() -> Sequence[Subscriber]:
    return (record_stage_visits,)


@hookimpl
def register_gate_criteria() -> Sequence[CriterionKind]:
    return BUILTIN_CRITERIA


@hookimpl
def register_job_handlers(meridian: Workspace) -> Mapping[str, Handler]:
    return {SCAN: run_sla_scan}
