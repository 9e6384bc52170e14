"""A model-based test of stage moves: random moves (forward, skip, back with and without a
reason, lost with and without a loss reason, reopen), one at a time and in bulk, at random
moments, checked after every step against a small model of what the pipeline allows — and
the stage history against its invariants: a record's visits never overlap, each starts when
the one before ended, exactly the current stage is open, and their durations add up to the
time since the record first entered a stage."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from meridian.core.actor import Actor
from meridian.db.tables import stage_visits
from meridian.errors import ValidationFailed
from meridian.flows.stages.pipelines import save_pipeline
from meridian.http.deps import Workspace
from meridian.records import bulk, service
from meridian.records.guards import WriteIntent
from meridian.schema.catalog import get_form
from tests.conftest import FakeClock
from tests.forms import install_forms
from tests.stages_support import FORMS, STAGES

ORDER = [key for key, _, _ in STAGES]  # lead, interest, proposal, negotiation, won, lost
STEPS = 160
RECORDS = 5


def _model_allows(source: str, target: str, reason: bool, loss_reason: bool) -> bool:
    """What the pipeline allows, written independently of the engine: forward one step (to
    won from negotiation), lost from any open stage with a loss reason, back or reopen with a
    reason."""
    if target == source:
        return True
    if target == "lost":
        return source not in ("won", "lost") and loss_reason
    if source == "lost":
        return reason
    if ORDER.index(target) < ORDER.index(source):
        return reason
    return ORDER.index(target) == ORDER.index(source) + 1


def _pipeline() -> dict[str, Any]:
    stages: list[dict[str, Any]] = [
        {"key": key, "label": label, "label_en": label_en, "category": "open"}
        for key, label, label_en in STAGES
    ]
    stages[4]["category"] = "won"
    stages[5]["category"] = "lost"
    stages[5]["entry"] = [{"kind": "required_field", "config": {"field": "loss_reason"}}]
    return {"key": "sales", "label": "销售", "stage_field": "stage", "stages": stages}


def _check_history(
    workspace: Workspace, expected: dict[int, str], first: dict[int, datetime], now: datetime
) -> None:
    with workspace.read() as conn:
        rows = conn.execute(
            sa.select(stage_visits).order_by(stage_visits.c.record_id, stage_visits.c.id)
        ).all()
    by_record: dict[int, list[Any]] = {}
    for row in rows:
        by_record.setdefault(row.record_id, []).append(row)
    assert set(by_record) == set(expected)
    for record_id, visits in by_record.items():
        open_visits = [v for v in visits if v.left_at is None]
        assert len(open_visits) == 1 and open_visits[0] is visits[-1], record_id
        assert visits[-1].stage_key == expected[record_id]
        for before, after in itertools.pairwise(visits):
            assert before.left_at == after.entered_at  # no gap, no overlap
            assert before.stage_key != after.stage_key
            assert before.entered_at <= before.left_at
        total = sum(((v.left_at or now) - v.entered_at for v in visits), timedelta())
        assert total == now - first[record_id]
        for visit in visits:
            if visit.move in ("back", "reopen"):
                assert visit.reason
    _check_advanced(by_record, ORDER)


def _check_advanced(by_record: dict[int, list[Any]], order: list[str]) -> None:
    """Each visit's ``advanced`` as the engine kept it is the definition, computed here: a
    visit of the record at or after it entered a stage further on that is not lost."""
    for record_id, visits in by_record.items():
        for visit in visits:
            went_on = any(
                later.entered_at >= visit.entered_at
                and later.category != "lost"
                and order.index(later.stage_key) > order.index(visit.stage_key)
                for later in visits
            )
            assert visit.advanced is went_on, (record_id, visit.id, visit.stage_key)


def _visits_by_record(workspace: Workspace) -> dict[int, list[Any]]:
    with workspace.read() as conn:
        rows = conn.execute(
            sa.select(stage_visits).order_by(stage_visits.c.record_id, stage_visits.c.id)
        ).all()
    by_record: dict[int, list[Any]] = {}
    for row in rows:
        by_record.setdefault(row.record_id, []).append(row)
    return by_record


@pytest.mark.parametrize("seed", [7, 2026])
def test_random_moves_keep_the_stage_history_consistent(
    workspace: Workspace, fake_clock: FakeClock, seed: int
) -> None:
    rng = random.Random(seed)
    moment = [datetime(2026, 12, 1, 1, 0, tzinfo=UTC)]
    fake_clock.follow(lambda: moment[0])
    system = Actor.system()
    with workspace.transaction() as conn:
        install_forms(conn, FORMS[0])
        form = get_form(conn, "deal")
        save_pipeline(conn, actor=system, form=form, document=_pipeline())
        ids = bulk.create_records(
            conn=conn,
            actor=system,
            form=form,
            items=[{"name": f"deal {i}", "stage": "lead"} for i in range(RECORDS)],
        )
    expected = dict.fromkeys(ids, "lead")
    first = dict.fromkeys(ids, moment[0])
    refused = accepted = 0
    for _ in range(STEPS):
        moment[0] += timedelta(seconds=rng.choice([1, 59, 3600, 86400 * 3]))
        chosen = rng.sample(ids, rng.choice([1, 1, 1, 2]))
        target = rng.choice(ORDER)
        reason = rng.random() < 0.6
        loss_reason = rng.random() < 0.6
        values: dict[str, Any] = {"stage": target}
        if loss_reason:
            values["loss_reason"] = "价格"
        else:
            values["loss_reason"] = None
        intent = WriteIntent(reason="客户要求" if reason else None)
        allowed = all(_model_allows(expected[i], target, reason, loss_reason) for i in chosen)
        try:
            with workspace.transaction() as conn:
                form = get_form(conn, "deal")
                if len(chosen) == 1:
                    service.update_record(
                        conn=conn,
                        actor=system,
                        form=form,
                        record_id=chosen[0],
                        values=values,
                        intent=intent,
                    )
                else:
                    bulk.update_records(
                        conn=conn,
                        actor=system,
                        form=form,
                        record_ids=chosen,
                        values=values,
                        intent=intent,
                    )
        except ValidationFailed as exc:
            assert not allowed, (expected, chosen, target, reason, loss_reason, exc.errors)
            assert exc.code == "stage_gate"
            refused += 1
        else:
            assert allowed, (expected, chosen, target, reason, loss_reason)
            for record_id in chosen:
                expected[record_id] = target
            accepted += 1
        _check_history(workspace, expected, first, moment[0])
    assert refused > 20 and accepted > 20
    history = _visits_by_record(workspace)
    assert any(v.advanced for visits in history.values() for v in visits)
    assert any(not v.advanced for visits in history.values() for v in visits[:-1])
    # The stages change order: which visits went on is computed again from the definition.
    document = _pipeline()
    document["stages"].reverse()
    with workspace.transaction() as conn:
        save_pipeline(conn, actor=system, form=get_form(conn, "deal"), document=document)
    reordered = [s["key"] for s in document["stages"]]
    assert reordered != ORDER
    _check_advanced(_visits_by_record(workspace), reordered)
