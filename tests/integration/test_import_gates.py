"""An import is one more path a stage gate holds on (issue 16): rows whose stage the pipeline
refuses are rejected with every unmet criterion, the other rows of their batch are written,
and their stage history begins. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from meridian.core.actor import Actor
from meridian.dataio.mapping import suggest_mapping
from meridian.dataio.mappings import suggested
from meridian.dataio.reading import read_sheet
from meridian.dataio.run_store import outcomes_of
from meridian.dataio.running import begin_import, run_import
from meridian.db.tables import stage_visits
from meridian.http.deps import Workspace
from meridian.schema.catalog import get_form
from tests.stages_support import install_sales


def test_an_import_cannot_pass_a_stage_gate(
    client: TestClient, workspace: Workspace, admin: Actor, tmp_path: Path
) -> None:
    install_sales(client)
    source = tmp_path / "商机.csv"
    source.write_text(
        "名称,金额,阶段,输单原因\n"
        "机柜 10 个,50000,线索,\n"  # the first stage: nothing to meet
        "带宽 1G,,签约,\n"  # 签约 needs amount > 0
        "专线,120000,签约,\n"  # met
        "CDN,8000,输单,\n"  # 输单 needs a loss reason
        "托管,9000,输单,价格\n",  # met
        encoding="utf-8",
    )
    with workspace.read() as conn:
        form = get_form(conn, "deal")
    mapping = suggested(form, suggest_mapping(read_sheet(source, None).header, form))
    state, resumed = begin_import(workspace.engine, admin, "deal", source, mapping)
    assert not resumed
    ended = run_import(workspace.engine, admin, state, source, mapping, workspace.tz, batch_rows=10)

    assert (ended.created, ended.rejected) == (3, 2)
    with workspace.read() as conn:
        outcomes = {o.number: o for o in outcomes_of(conn, ended.id)}
        assert {n: o.outcome for n, o in outcomes.items()} == {
            2: "created",
            3: "rejected",
            4: "created",
            5: "rejected",
            6: "created",
        }
        assert [(e["field"], e["code"]) for e in outcomes[3].detail] == [("stage", "condition")]
        assert [(e["field"], e["code"]) for e in outcomes[5].detail] == [
            ("loss_reason", "required_field")
        ]
        created = [outcomes[n].record_id for n in (2, 4, 6)]
        opened = conn.execute(
            sa.select(stage_visits.c.record_id, stage_visits.c.stage_key)
            .where(stage_visits.c.record_id.in_(created), stage_visits.c.left_at.is_(None))
            .order_by(stage_visits.c.record_id)
        ).all()
    assert [tuple(row) for row in opened] == list(
        zip(created, ["lead", "won", "lost"], strict=True)
    )
