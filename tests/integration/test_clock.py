"""One clock for the workspace: a test that moves it moves time for every part at once."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from meridian.db.tables import audit_log, outbox
from meridian.schema.catalog import get_form
from meridian.schema.compile import compile_form
from tests.conftest import FakeClock

MOMENT = datetime(2031, 3, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def test_moving_the_workspace_clock_moves_time_for_every_part(
    client: TestClient, engine: Engine, fake_clock: FakeClock
) -> None:
    fake_clock.follow(lambda: MOMENT)
    client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"})
    form = {
        "key": "lead",
        "label": "线索",
        "fields": [
            {"key": "name", "label": "名称", "type": "text"},
            {"key": "opened", "label": "录入日", "type": "formula", "expression": "TODAY()"},
        ],
    }
    assert client.post("/api/v1/apps/crm/forms", json=form).status_code == 201
    created = client.post("/api/v1/forms/lead/records", json={"name": "ACME-LEAD"})
    assert created.status_code == 201, created.text
    assert created.json()["opened"] == "2031-03-01"  # formulas: TODAY() in the workspace zone

    with engine.connect() as conn:
        table = compile_form(get_form(conn, "lead")).main
        row = conn.execute(sa.select(table.c.created_at, table.c.updated_at)).one()
        event_at = conn.scalar(sa.select(sa.func.max(outbox.c.created_at)))
        audited_at = conn.scalar(sa.select(sa.func.max(audit_log.c.at)))
    assert row.created_at == row.updated_at == MOMENT  # the records writer
    assert event_at == MOMENT  # the outbox
    assert audited_at == MOMENT  # the audit trail (the form's creation)
