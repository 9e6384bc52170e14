"""My tasks name each linked record by its form's title field, all in one statement however
many tasks and forms the list holds."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine

from meridian.flows.tasks.titles import record_titles
from meridian.http.deps import Workspace
from tests.stages_support import install_sales


def _made(client: TestClient, form: str, **values: Any) -> int:
    response = client.post(f"/api/v1/forms/{form}/records", json=values)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_tasks_name_their_records_by_title_in_one_query(
    client: TestClient, workspace: Workspace, engine: Engine
) -> None:
    install_sales(client)
    deals = [_made(client, "deal", name=f"机柜扩容 {n}", stage="lead") for n in range(3)]
    quote = _made(client, "quote", title="报价 v2", deal=deals[0])
    linked = [("deal", d) for d in deals] + [("quote", quote)]
    for form, record in linked:
        response = client.post(
            "/api/v1/tasks",
            json={"title": "跟进", "form_key": form, "record_id": record, "due_at": "2026-12-06"},
        )
        assert response.status_code == 201, response.text
    tasks = [{"form_key": f, "record_id": r} for f, r in linked]
    selects: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    with workspace.read() as conn:
        event.listen(engine, "before_cursor_execute", seen)
        try:
            titles = record_titles(conn, tasks)
        finally:
            event.remove(engine, "before_cursor_execute", seen)
    assert titles == {
        **{f"deal:{d}": f"机柜扩容 {n}" for n, d in enumerate(deals)},
        f"quote:{quote}": "报价 v2",
    }
    assert len([s for s in selects if "UNION ALL" in s.upper()]) == 1
