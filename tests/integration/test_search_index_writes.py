"""SQLite's trigram index gets a created record's text by a plain INSERT (a new id never had
an entry, and FTS5 spares looking one up and deleting it) and a changed record's by INSERT OR
REPLACE, so the index always holds each record's text once, the one written last. SQLite
only."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from meridian.core.actor import Actor
from meridian.http.deps import Workspace
from meridian.records.bulk import create_records
from meridian.records.search import trigram_query
from meridian.records.service import create_record, update_record
from meridian.schema.catalog import get_form
from meridian.schema.changes import create_app, create_form
from meridian.schema.model import App, Field, Form

FORM = Form(
    key="site",
    app_key="idc",
    label="机房",
    fields=(Field(key="name", label="名称", type="text"),),
    title_field="name",
)


def test_created_texts_are_inserted_and_changed_ones_replaced(
    workspace: Workspace, admin: Actor
) -> None:
    if workspace.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL indexes _search itself")
    with workspace.transaction() as conn:
        create_app(conn=conn, actor=admin, app=App(key="idc", label="IDC"))
        create_form(conn=conn, actor=admin, form=FORM)
        form = get_form(conn, "site")
    sent: list[str] = []

    def statement(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        if "data_site___search" in sql and "(rowid, _search)" in sql:
            sent.append(sql.split(" INTO ")[0])

    sa.event.listen(workspace.engine, "before_cursor_execute", statement)
    try:
        with workspace.transaction() as conn:
            items = [{"name": f"北京星河{n}号机房"} for n in range(3)]
            ids = create_records(conn=conn, actor=admin, form=form, items=items)
            one = create_record(conn=conn, actor=admin, form=form, values={"name": "上海瀚海机房"})
            update_record(
                conn=conn, actor=admin, form=form, record_id=ids[0], values={"name": "深圳天元机房"}
            )
    finally:
        sa.event.remove(workspace.engine, "before_cursor_execute", statement)

    assert sent == ["INSERT", "INSERT", "INSERT OR REPLACE"]
    with workspace.read() as conn:
        entries = dict(
            conn.exec_driver_sql("SELECT rowid, _search FROM data_site___search").fetchall()
        )
        found = {
            term: sorted(
                r
                for (r,) in conn.exec_driver_sql(
                    "SELECT rowid FROM data_site___search WHERE data_site___search MATCH ?",
                    (trigram_query(term),),
                )
            )
            for term in ("北京星河", "深圳天元", "上海瀚海")
        }
    assert sorted(entries) == sorted([*ids, one["id"]])
    assert found == {"北京星河": ids[1:], "深圳天元": [ids[0]], "上海瀚海": [one["id"]]}
