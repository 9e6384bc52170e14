"""The ``approval`` gate criterion: a stage may require an approved approval of a flow
(``{"flow": key}``) — the contract's 签约 stage requires the contract approval. Judged
set-based: one query over the batch's records for their latest approval of the flow."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.db.sets import one_of
from meridian.db.tables import approvals
from meridian.errors import ErrorCollector
from meridian.flows.approvals.definitions import latest_flow
from meridian.flows.stages.criteria import CriterionKind
from meridian.flows.stages.model import Criterion
from meridian.flows.stages.texts import N_, in_both
from meridian.records.guards import ProposedWrite
from meridian.schema.model import Form


def _unmet(
    conn: Connection, form: Form, criterion: Criterion, writes: Sequence[ProposedWrite]
) -> set[int]:
    ids = [w.record_id for w in writes]
    latest = (
        sa.select(approvals.c.record_id, sa.func.max(approvals.c.id).label("id"))
        .where(
            approvals.c.form_key == form.key,
            approvals.c.flow_key == criterion.config["flow"],
            one_of(conn, approvals.c.record_id, ids),
        )
        .group_by(approvals.c.record_id)
        .subquery()
    )
    approved = conn.scalars(
        sa.select(approvals.c.record_id)
        .join(latest, latest.c.id == approvals.c.id)
        .where(approvals.c.state == "approved")
    )
    return set(ids) - set(approved)


def _describe(conn: Connection, form: Form, criterion: Criterion) -> dict[str, str]:
    flow = latest_flow(conn, criterion.config["flow"])
    label = flow["label"] if flow else criterion.config["flow"]
    return in_both(N_("the approval “{flow}” must be approved"), flow=label)


def _check(
    conn: Connection, form: Form, config: Mapping[str, Any], prefix: str, errors: ErrorCollector
) -> None:
    key = config.get("flow")
    flow = latest_flow(conn, key) if isinstance(key, str) else None
    if flow is None or flow["form"] != form.key:
        errors.add(f"{prefix}flow", "unknown_flow", "an approval flow of this form", key)


APPROVAL_CRITERION = CriterionKind("approval", _unmet, _describe, _check)
