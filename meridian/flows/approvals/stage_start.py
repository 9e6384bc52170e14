"""A stage that starts an approval when a record enters it.

A stage of a pipeline names the flow in its criteria, as the kind ``start_approval``
``{"flow": key, "submitter": "mover" | "owner"}`` — the pipeline document's own place for what
a stage does, so stages need no new setting. The criterion never holds a record back; what it
does is the subscriber below: it hears ``StageEntered`` in the mover's transaction and starts
the flow on the record in the name of the mover (the default; the record's owner when the mover
is Meridian itself) or of the owner. A gate requiring the approval (``approval``) on a later
stage then waits for it, as with a flow started by hand or by a rule.

Starting is idempotent (``operations.start_many``, like ``start_by_rule``): a record that
already has this flow in progress is left alone, and one in another flow's approval starts
nothing (that approval's lock refused the move anyway unless Meridian made it). A bulk move
starts all of its records' approvals set-based.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access.actors import load_actor
from meridian.core.actor import Actor
from meridian.core.i18n import Text
from meridian.db.sets import one_of
from meridian.errors import ErrorCollector, Unauthenticated
from meridian.events.lifecycle import StageEntered
from meridian.flows.approvals.definitions import latest_flow
from meridian.flows.approvals.operations import start_many
from meridian.flows.stages.criteria import CriterionKind
from meridian.flows.stages.model import Criterion, load_pipelines
from meridian.flows.stages.texts import N_, in_both
from meridian.records.guards import ProposedWrite
from meridian.records.subscribers import Changes
from meridian.schema.compile import compile_form
from meridian.schema.model import Form

KIND = "start_approval"
SUBMITTERS = ("mover", "owner")


def _never_unmet(
    conn: Connection, form: Form, criterion: Criterion, writes: Sequence[ProposedWrite]
) -> set[int]:
    return set()


def _describe(conn: Connection, form: Form, criterion: Criterion) -> dict[str, str]:
    flow = latest_flow(conn, criterion.config["flow"])
    label = flow["label"] if flow else criterion.config["flow"]
    return in_both(N_("entering starts the approval “{flow}”"), flow=label)


def _check(
    conn: Connection, form: Form, config: Mapping[str, Any], prefix: str, errors: ErrorCollector
) -> None:
    key = config.get("flow")
    flow = latest_flow(conn, key) if isinstance(key, str) else None
    if flow is None or flow["form"] != form.key:
        errors.add(f"{prefix}flow", "unknown_flow", Text("an approval flow of this form"), key)
    submitter = config.get("submitter", "mover")
    if submitter not in SUBMITTERS:
        message = Text("one of {choices}", choices=", ".join(SUBMITTERS))
        errors.add(f"{prefix}submitter", "invalid_submitter", message, submitter)


START_CRITERION = CriterionKind(KIND, _never_unmet, _describe, _check)


def _submitter(conn: Connection, user_id: int | None) -> Actor | None:
    if user_id is None:
        return None
    try:
        return load_actor(conn, user_id)
    except Unauthenticated:
        return None


def start_on_stage_entry(conn: Connection, changes: Changes) -> None:
    """The ``register_subscribers`` subscriber: each record entering a stage that names a flow
    has that flow started — one short read of the batch's records, then one set-based start
    per flow for all of them (``operations.start_many``)."""
    entered = [e for e in changes.events if isinstance(e, StageEntered)]
    if not entered:
        return
    form = changes.form
    pipelines = load_pipelines(conn, form.key)
    if not any(c.kind == KIND for p in pipelines.pipelines for s in p.stages for c in s.criteria):
        return
    table = compile_form(form).main
    columns = [table.c.id, table.c.owner_id] + [
        table.c[p.selector_field] for p in pipelines.pipelines if p.selector_field
    ]
    rows: dict[int, Mapping[str, Any]] = {
        row["id"]: dict(row)
        for row in conn.execute(
            sa.select(*columns).where(one_of(conn, table.c.id, [e.record_id for e in entered]))
        ).mappings()
    }
    starts: dict[str, list[tuple[int, Actor]]] = {}
    actors: dict[int | None, Actor | None] = {}

    def submitter_of(user_id: int | None) -> Actor | None:
        if user_id not in actors:
            actors[user_id] = _submitter(conn, user_id)
        return actors[user_id]

    for event in entered:
        row = rows.get(event.record_id)
        pipeline = pipelines.for_row(row) if row is not None else None
        stage = pipeline.stage(event.stage) if pipeline is not None else None
        if row is None or stage is None:
            continue
        for criterion in stage.criteria:
            if criterion.kind != KIND:
                continue
            mover = criterion.config.get("submitter", "mover") == "mover"
            submitter = submitter_of(event.actor_id) if mover else None
            submitter = submitter or submitter_of(row["owner_id"])
            if submitter is None:
                continue
            starts.setdefault(criterion.config["flow"], []).append((event.record_id, submitter))
    for flow_key, batch in starts.items():
        start_many(conn=conn, flow_key=flow_key, form_key=form.key, starts=batch)
