"""Visits imported in batches (the demo's stage history, a migration from another system):
each batch computes ``advanced`` again for its own records only. Recomputing the whole form per
batch made the 1M demo's history quadratic (200 batches × up to 3.6M visits; it never ended)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from meridian.core.actor import Actor
from meridian.db.tables import stage_visits
from meridian.flows.stages.history import IMPORT_REFRESH_BY_RECORD, import_visits
from meridian.flows.stages.pipelines import save_pipeline
from meridian.http.deps import Workspace
from meridian.schema.catalog import get_form
from tests.forms import install_forms
from tests.stages_support import FORMS, STAGES

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def _visits(record_ids: range) -> list[dict[str, Any]]:
    """Each record entered 线索 (lead), then went on to 意向 (interest), still open."""
    return [
        {
            "record_id": record_id,
            "pipeline_key": "sales",
            "stage_key": key,
            "category": "open",
            "entered_at": T0 + timedelta(hours=step),
            "entered_by": None,
            "left_at": T0 + timedelta(hours=1) if step == 0 else None,
            "move": "start" if step == 0 else "forward",
        }
        for record_id in record_ids
        for step, key in enumerate(("lead", "interest"))
    ]


def test_each_imported_batch_recomputes_its_own_visits_only(workspace: Workspace) -> None:
    with workspace.transaction() as conn:
        install_forms(conn, *FORMS)
        stages = [
            {"key": key, "label": label, "label_en": en, "category": "open"}
            for key, label, en in STAGES
        ]
        pipeline = {"key": "sales", "label": "销售", "stage_field": "stage", "stages": stages}
        save_pipeline(conn, actor=Actor.system(), form=get_form(conn, "deal"), document=pipeline)
    size = IMPORT_REFRESH_BY_RECORD + 1  # a batch too large to name its records one by one
    updated: list[int] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith(f"UPDATE {stage_visits.name}"):
            updated.append(cursor.rowcount)

    with workspace.transaction() as conn:
        import_visits(conn, "deal", _visits(range(1, size + 1)))
    sa.event.listen(workspace.engine, "after_cursor_execute", count)
    try:
        with workspace.transaction() as conn:
            import_visits(conn, "deal", _visits(range(size + 1, 2 * size + 1)))
    finally:
        sa.event.remove(workspace.engine, "after_cursor_execute", count)
    assert updated == [2 * size]  # the second batch's visits, not the first's again
    with workspace.read() as conn:
        rows = conn.execute(sa.select(stage_visits.c.stage_key, stage_visits.c.advanced)).all()
    assert len(rows) == 4 * size
    assert all(advanced is (key == "lead") for key, advanced in rows)
