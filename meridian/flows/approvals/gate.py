"""The ``approval`` gate criterion: a stage may require an approved approval of a flow.

- ``{"flow": key}``: the record's own latest approval of the flow is approved;
- ``{"flow": key, "link_field": key}``: a live record of the flow's form, linking to this one
  through ``link_field``, has its latest approval of the flow approved — the opportunity's
  签约 stage requires an approved contract approval of one of its contracts.

Judged set-based: one query over the batch's records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.i18n import Text
from meridian.db.sets import one_of
from meridian.db.tables import approvals
from meridian.errors import ErrorCollector
from meridian.flows.approvals.definitions import latest_flow
from meridian.flows.stages.criteria import CriterionKind
from meridian.flows.stages.model import Criterion
from meridian.flows.stages.texts import N_, in_both
from meridian.records.guards import ProposedWrite
from meridian.schema.catalog import get_form
from meridian.schema.compile import compile_form
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Form


def _unmet(
    conn: Connection, form: Form, criterion: Criterion, writes: Sequence[ProposedWrite]
) -> set[int]:
    ids = [w.record_id for w in writes]
    key = criterion.config["flow"]
    link_field = criterion.config.get("link_field")
    flow = latest_flow(conn, key)
    if flow is None:
        return set(ids)
    latest = (
        sa.select(approvals.c.record_id, sa.func.max(approvals.c.id).label("id"))
        .where(approvals.c.form_key == flow["form"], approvals.c.flow_key == key)
        .group_by(approvals.c.record_id)
        .subquery()
    )
    approved = (
        sa.select(approvals.c.record_id)
        .join(latest, latest.c.id == approvals.c.id)
        .where(approvals.c.state == "approved")
    )
    if link_field is None:
        met = conn.scalars(approved.where(one_of(conn, approvals.c.record_id, ids)))
    else:
        source = compile_form(get_form(conn, flow["form"])).main
        met = conn.scalars(
            sa.select(source.c[link_field]).where(
                source.c.deleted_at.is_(None),
                one_of(conn, source.c[link_field], ids),
                source.c.id.in_(approved.scalar_subquery()),
            )
        )
    return set(ids) - set(met)


def _describe(conn: Connection, form: Form, criterion: Criterion) -> dict[str, str]:
    flow = latest_flow(conn, criterion.config["flow"])
    label = flow["label"] if flow else criterion.config["flow"]
    return in_both(N_("the approval “{flow}” must be approved"), flow=label)


def _check(
    conn: Connection, form: Form, config: Mapping[str, Any], prefix: str, errors: ErrorCollector
) -> None:
    key = config.get("flow")
    flow = latest_flow(conn, key) if isinstance(key, str) else None
    link_field = config.get("link_field")
    if link_field is None:
        if flow is None or flow["form"] != form.key:
            errors.add(f"{prefix}flow", "unknown_flow", Text("an approval flow of this form"), key)
        return
    if flow is None:
        errors.add(f"{prefix}flow", "unknown_flow", Text("an approval flow"), key)
        return
    link = get_form(conn, flow["form"]).get_field(str(link_field))
    if link is None or not field_type(link).links_records or link.many or link.target != form.key:
        message = Text(
            "a link field of {source!r} to {target!r}", source=flow["form"], target=form.key
        )
        errors.add(f"{prefix}link_field", "invalid_link_field", message, link_field)


APPROVAL_CRITERION = CriterionKind("approval", _unmet, _describe, _check)
