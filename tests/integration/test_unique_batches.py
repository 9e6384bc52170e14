"""A bulk create's unique values are checked together — on SQLite handed to one statement as
a JSON array, however many — and refused exactly as one by one: a value a live record holds,
a value two records of the batch share; a trashed record's value is free. SQLite and
PostgreSQL."""

from __future__ import annotations

import pytest

from meridian.core.actor import Actor
from meridian.errors import ValidationFailed
from meridian.http.deps import Workspace
from meridian.records.bulk import create_records
from meridian.records.service import delete_record
from meridian.schema.catalog import get_form
from meridian.schema.changes import create_app, create_form
from meridian.schema.model import App, Field, Form

SITE = Form(
    key="site",
    app_key="idc",
    label="机房",
    fields=(
        Field(key="code", label="编号", type="text", unique=True),
        Field(key="rack", label="机柜号", type="integer", unique=True),
    ),
)


def test_a_batch_is_refused_for_the_unique_values_it_repeats(
    workspace: Workspace, admin: Actor
) -> None:
    with workspace.transaction() as conn:
        create_app(conn=conn, actor=admin, app=App(key="idc", label="IDC"))
        create_form(conn=conn, actor=admin, form=SITE)
        form = get_form(conn, "site")
        held = create_records(
            conn=conn,
            actor=admin,
            form=form,
            items=[{"code": "BJ-01", "rack": 1}, {"code": "SH-07", "rack": 7}],
        )
        delete_record(conn=conn, actor=admin, form=form, record_id=held[1])  # frees SH-07, 7
    items = [{"code": f"GZ-{n:02d}", "rack": 100 + n} for n in range(40)]
    items[3] = {"code": "BJ-01", "rack": 1}  # both held by a live record
    items[5] = {"code": "SH-07", "rack": 7}  # held by a trashed record: free
    items[9]["code"] = items[8]["code"]  # two of the batch share a code
    with pytest.raises(ValidationFailed) as refused, workspace.transaction() as conn:
        create_records(conn=conn, actor=admin, form=form, items=items)
    assert sorted((e.field, e.code, e.value) for e in refused.value.errors) == [
        ("items.3.code", "duplicate", "BJ-01"),
        ("items.3.rack", "duplicate", 1),
        ("items.8.code", "duplicate", "GZ-08"),
        ("items.9.code", "duplicate", "GZ-08"),
    ]
    assert f"record {held[0]}" in str(next(e for e in refused.value.errors if e.value == 1).message)
    del items[9], items[3]
    with workspace.transaction() as conn:
        assert len(create_records(conn=conn, actor=admin, form=form, items=items)) == 38
