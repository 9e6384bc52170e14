"""Filters compile to SQL with every user value bound as a parameter, never spliced in."""

from __future__ import annotations

import sqlalchemy as sa

from meridian.core.actor import Actor
from meridian.core.timezones import DEFAULT_TIME_ZONE
from meridian.http.deps import Workspace
from meridian.records.query import FilterCompiler, after_cursor, parse_sort
from meridian.schema.changes import create_app, create_form
from meridian.schema.compile import compile_form
from meridian.schema.model import App, Field, Form, SelectOption

DEAL = Form(
    key="deal",
    app_key="crm",
    label="商机",
    fields=(
        Field(key="name", label="名称", type="text"),
        Field(key="amount", label="金额", type="money"),
        Field(
            key="stage",
            label="阶段",
            type="select",
            options=(
                SelectOption(value="lead", label="线索"),
                SelectOption(value="won", label="签约"),
            ),
        ),
    ),
)
HOSTILE = "x'); DROP TABLE data_deal; --"


def test_user_values_are_bound_parameters(workspace: Workspace) -> None:
    with workspace.engine.begin() as conn:
        create_app(conn=conn, actor=Actor.system(), app=App(key="crm", label="CRM"))
        create_form(conn=conn, actor=Actor.system(), form=DEAL)
        where = FilterCompiler(conn, DEAL, DEFAULT_TIME_ZONE).compile(
            {
                "or": [
                    {"field": "name", "op": "contains", "value": HOSTILE},
                    {"field": "amount", "op": "gte", "value": "1000.50"},
                    {"field": "stage", "op": "in", "value": ["won"]},
                ]
            }
        )
        table = compile_form(DEAL).main
        compiled = sa.select(table.c.id).where(where).compile(dialect=conn.dialect)
        assert "DROP" not in str(compiled)
        params = list(compiled.params.values())
        assert "%x'); drop table data\\_deal; --%" in params
        assert 100050 in params  # money compared in minor units, so the index applies
        assert ["won"] in params or "won" in params
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar() == 0
        )


def test_keyset_condition_is_null_aware() -> None:
    table = compile_form(DEAL).main
    sorts = parse_sort(DEAL, "-amount,name")
    condition = after_cursor(table, sorts, [None, "ACME", 7])
    sql = str(condition.compile(compile_kwargs={"literal_binds": True}))
    # descending NULLs come first, so every non-NULL amount follows a NULL one
    assert "data_deal.amount IS NOT NULL" in sql
    assert sql.endswith(
        "data_deal.id > 7"
    )  # the id tie-break follows the last sort (name, ascending)
