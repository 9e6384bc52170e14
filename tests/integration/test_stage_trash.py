"""A record moved to the trash leaves its stage (its open visit closes, so its SLA cannot
fire while trashed), one statement for a bulk delete too; restoring it opens a fresh visit."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi.testclient import TestClient

from meridian.db.tables import stage_visits
from meridian.http.deps import Workspace
from tests.stages_support import install_sales


def _open(workspace: Workspace, ids: list[int]) -> dict[int, str]:
    with workspace.read() as conn:
        return dict(
            conn.execute(
                sa.select(stage_visits.c.record_id, stage_visits.c.stage_key).where(
                    stage_visits.c.record_id.in_(ids), stage_visits.c.left_at.is_(None)
                )
            ).all()
        )


def test_trash_closes_the_open_visit_and_restore_opens_a_fresh_one(
    client: TestClient, workspace: Workspace
) -> None:
    install_sales(client)
    ids = [
        client.post("/api/v1/forms/deal/records", json={"name": f"d{n}", "stage": "lead"}).json()[
            "id"
        ]
        for n in range(3)
    ]
    assert _open(workspace, ids) == dict.fromkeys(ids, "lead")
    assert client.delete(f"/api/v1/forms/deal/records/{ids[0]}").status_code in (200, 204)
    assert _open(workspace, ids) == dict.fromkeys(ids[1:], "lead")
    bulk = client.post("/api/v1/forms/deal/records/delete", json={"ids": ids[1:]})
    assert bulk.status_code in (200, 204), bulk.text
    assert _open(workspace, ids) == {}
    restored = client.post(f"/api/v1/forms/deal/records/{ids[0]}/restore")
    assert restored.status_code in (200, 204), restored.text
    assert _open(workspace, ids) == {ids[0]: "lead"}
    with workspace.read() as conn:
        visits = conn.execute(
            sa.select(stage_visits.c.left_at).where(stage_visits.c.record_id == ids[0])
        ).all()
    assert len(visits) == 2 and visits[0].left_at is not None
