"""An import's batches flush their search texts into SQLite's trigram index without merging
its segments, and the index gets FTS5's merging back within each batch's transaction: a
crash can never leave it off. The import merges the index when it ends. SQLite only."""

from __future__ import annotations

from contextlib import nullcontext

import pytest

from meridian.core.actor import Actor
from meridian.http.deps import Workspace
from meridian.records.bulk import create_records
from meridian.records.plan import plan_for
from meridian.records.search import FTS5_AUTOMERGE, merges_deferred
from meridian.schema.catalog import get_form
from meridian.schema.changes import create_app, create_form
from meridian.schema.model import App, Field, Form
from tests.search_index import search_segments


def _form(key: str) -> Form:
    fields = (Field(key="name", label="名称", type="text"),)
    return Form(key=key, app_key="idc", label=key, fields=fields, title_field="name")


def test_batches_flush_without_merging_and_leave_merging_on(
    workspace: Workspace, admin: Actor
) -> None:
    if workspace.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL indexes _search itself")
    with workspace.transaction() as conn:
        create_app(conn=conn, actor=admin, app=App(key="idc", label="IDC"))
        for key in ("site", "room"):
            create_form(conn=conn, actor=admin, form=_form(key))
        site, room = get_form(conn, "site"), get_form(conn, "room")

    def batch(form: Form, number: int, deferred: bool) -> None:
        items = [
            {"name": f"北京星河瀚海{number}号数据中心{n}机房 beijing xinghe {n * 7919}"}
            for n in range(400)
        ]
        with workspace.transaction() as conn:
            # The texts are flushed at the history's INSERT … SELECT, inside the deferral.
            with merges_deferred(conn, plan_for(form).tables) if deferred else nullcontext():
                create_records(conn=conn, actor=admin, form=form, items=items)

    for number in range(10):
        batch(site, number, deferred=True)
        batch(room, number, deferred=False)
    with workspace.read() as conn:
        assert search_segments(conn, "data_site") == 10  # one per batch, none merged
        assert search_segments(conn, "data_room") < 10  # four of a level merged into one
        setting = conn.exec_driver_sql(
            "SELECT v FROM data_site___search_config WHERE k = 'automerge'"
        ).scalar()
        assert setting == FTS5_AUTOMERGE
