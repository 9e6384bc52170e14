"""A batch whose first write attempt a later stage refuses (a form's validation rule, after
the records were numbered) leaves nothing of that attempt: the rows it names are rejected,
the others are written with gap-free numbers, one history entry and one search entry each.
The import writes a batch's rows outside a savepoint on SQLite, so only what may refuse runs
under one. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from meridian.core.actor import Actor
from meridian.dataio.mapping import suggest_mapping
from meridian.dataio.mappings import suggested
from meridian.dataio.reading import read_sheet
from meridian.dataio.run_store import outcomes_of
from meridian.dataio.running import begin_import, run_import
from meridian.db.tables import record_history
from meridian.http.deps import Workspace
from meridian.records.listing import RecordQuery, list_records
from meridian.schema.catalog import get_form
from meridian.schema.changes import create_app, create_form
from meridian.schema.model import App, Field, Form, ValidationRule

CONTRACT = Form(
    key="contract",
    app_key="crm",
    label="合同",
    fields=(
        Field(key="title", label="名称", type="text", required=True),
        Field(key="number", label="编号", type="auto_number", auto_pattern="HT-{0000}"),
        Field(key="amount", label="金额", type="integer"),
    ),
    validations=(ValidationRule(expression="amount < 100", message="金额须小于 100"),),
    title_field="title",
)


def test_a_refused_attempt_leaves_no_numbers_history_or_search_entries(
    workspace: Workspace, admin: Actor, tmp_path: Path
) -> None:
    with workspace.transaction() as conn:
        create_app(conn=conn, actor=admin, app=App(key="crm", label="CRM"))
        create_form(conn=conn, actor=admin, form=CONTRACT)
    source = tmp_path / "合同.csv"
    source.write_text("名称,金额\n机柜,10\n带宽,500\n专线,20\n托管,900\nCDN,30\n", encoding="utf-8")
    with workspace.read() as conn:
        form = get_form(conn, "contract")
    mapping = suggested(form, suggest_mapping(read_sheet(source, None).header, form))
    state, _ = begin_import(workspace.engine, admin, "contract", source, mapping)
    ended = run_import(workspace.engine, admin, state, source, mapping, workspace.tz)

    assert (ended.created, ended.rejected) == (3, 2)
    with workspace.read() as conn:
        outcomes = {o.number: o.outcome for o in outcomes_of(conn, ended.id)}
        assert outcomes == {2: "created", 3: "rejected", 4: "created", 5: "rejected", 6: "created"}
        page = list_records(conn=conn, actor=admin, form=form, query=RecordQuery(sort="id"))
        assert [(r["title"], r["number"]) for r in page.items] == [
            ("机柜", "HT-0001"),
            ("专线", "HT-0002"),
            ("CDN", "HT-0003"),
        ]
        ids = [r["id"] for r in page.items]
        history = conn.execute(
            sa.select(record_history.c.record_id).where(record_history.c.form_key == "contract")
        )
        assert sorted(history.scalars()) == ids
        found = list_records(conn=conn, actor=admin, form=form, query=RecordQuery(search="专线"))
        assert [r["id"] for r in found.items] == [ids[1]]
        if conn.dialect.name == "sqlite":  # the trigram index holds the written records alone
            indexed = conn.exec_driver_sql("SELECT rowid FROM data_contract___search ORDER BY 1")
            assert list(indexed.scalars()) == ids
