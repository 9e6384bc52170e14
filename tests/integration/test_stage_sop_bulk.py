"""A bulk move of 1,000 records into a stage with an SOP task makes the 1,000 tasks with one
INSERT (a multi-row statement), not 1,000 calls; replaying the move's visits makes none twice."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine

from meridian.core.actor import Actor
from meridian.db.tables import stage_visits, tasks
from meridian.flows.stages.history import make_sop_tasks
from meridian.flows.stages.model import load_pipelines
from meridian.http.deps import Workspace
from meridian.records import bulk
from meridian.schema.catalog import get_form
from tests.stages_support import install_sales, pipeline_document

SOP = {
    "kind": "sop_task",
    "config": {
        "item": "call",
        "title": "首次拜访",
        "due_in": {"amount": 2, "unit": "days", "basis": "business"},
    },
}


def test_a_thousand_records_entering_a_stage_get_their_sop_tasks_in_one_insert(
    client: TestClient, workspace: Workspace, engine: Engine, admin: Actor
) -> None:
    install_sales(client)
    document = pipeline_document()
    document["stages"][1]["exit"] = [*document["stages"][1].get("exit", []), SOP]
    assert client.put("/api/v1/forms/deal/pipelines/sales", json=document).status_code == 200
    with workspace.transaction() as conn:
        ids = bulk.create_records(
            conn=conn,
            actor=admin,
            form=get_form(conn, "deal"),
            items=[{"name": f"机柜 {n}", "stage": "lead"} for n in range(1000)],
        )
    statements: list[tuple[str, bool]] = []

    def seen(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if "sys_task" in statement and statement.lstrip().upper().startswith("INSERT"):
            statements.append((statement, many))

    event.listen(engine, "before_cursor_execute", seen)
    started = time.perf_counter()
    try:
        with workspace.transaction() as conn:
            moved = bulk.update_records(
                conn=conn,
                actor=admin,
                form=get_form(conn, "deal"),
                record_ids=ids,
                values={"stage": "interest"},
            )
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    elapsed = time.perf_counter() - started
    print(f"bulk move of 1,000 records with their SOP tasks: {elapsed * 1000:.0f} ms")
    assert moved == 1000
    assert len(statements) == 1, [s for s, _ in statements]
    with workspace.read() as conn:
        made = conn.execute(
            sa.select(tasks.c.record_id, tasks.c.assignee_id, tasks.c.due_at, tasks.c.source_ref)
            .where(tasks.c.source == "stage")
            .order_by(tasks.c.record_id)
        ).all()
        visits = conn.execute(
            sa.select(stage_visits.c.id, stage_visits.c.record_id).where(
                stage_visits.c.stage_key == "interest"
            )
        ).all()
    assert [row.record_id for row in made] == sorted(ids)
    assert {row.assignee_id for row in made} == {admin.user_id}
    assert {row.source_ref for row in made} == {"stage-sop:call"}
    assert len({row.due_at for row in made}) == 1 and made[0].due_at is not None
    # Replayed (a job run twice): the visits' keys exist, nothing is made again.
    with workspace.transaction() as conn:
        form = get_form(conn, "deal")
        (pipeline,) = load_pipelines(conn, "deal").pipelines
        stage = pipeline.stage("interest")
        assert stage is not None

        class _Event:
            def __init__(self, record_id: int) -> None:
                self.record_id = record_id

        make_sop_tasks(
            conn, form, [(v.id, (_Event(v.record_id), None, stage, None)) for v in visits]
        )  # type: ignore[list-item]
    with workspace.read() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(tasks)) == 1000
