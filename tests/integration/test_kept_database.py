"""A module's kept database (``tests/conftest.py::kept_database``) is put back exactly.

Modules whose setup is expensive share one database per dialect and test process and put it
back before each test; a test that wrote must leave the next one nothing of its writes —
rows added, changed or deleted, sequences moved, tables made, columns added — and no report
result it had kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from meridian.core.actor import Actor
from meridian.http.deps import Workspace
from meridian.records.service import create_record
from meridian.reports.cache import ResultCache
from meridian.schema.catalog import get_form
from tests.conftest import DIALECTS, FakeClock, KeptDatabase, kept_database
from tests.forms import install_forms, lead_form

LONG_AGO = datetime(2001, 1, 1, tzinfo=UTC)
LEAD = lead_form({"key": "name", "label": "名称", "type": "text"})


def _build(workspace: Workspace) -> None:
    with workspace.transaction() as conn:
        install_forms(conn, LEAD)
        for name in ("ACME", "Globex"):
            create_record(
                conn=conn, actor=Actor.system(), form=get_form(conn, "lead"), values={"name": name}
            )


@pytest.fixture(scope="module", params=DIALECTS)
def kept(request: pytest.FixtureRequest) -> Iterator[KeptDatabase[None]]:
    with kept_database(request, request.param, _build) as kept:
        yield kept


def _look(workspace: Workspace) -> dict[str, Any]:
    with workspace.read() as conn:
        return {
            "leads": conn.execute(sa.text("SELECT id, name FROM data_lead ORDER BY id")).all(),
            "history": conn.execute(sa.text("SELECT count(*) FROM sys_record_history")).scalar(),
            "roles": conn.execute(sa.text("SELECT * FROM sys_role ORDER BY key")).all(),
            "tables": sorted(sa.inspect(conn).get_table_names()),
            "tokens": dict(conn.execute(sa.text("SELECT name, token FROM sys_revision")).all()),
        }


def _write(workspace: Workspace) -> None:
    with workspace.transaction() as conn:
        form = get_form(conn, "lead")
        for name in ("Initech", "Umbrella"):
            create_record(conn=conn, actor=Actor.system(), form=form, values={"name": name})
        conn.execute(sa.text("UPDATE data_lead SET name = 'changed' WHERE name = 'ACME'"))
        conn.execute(sa.text("DELETE FROM data_lead WHERE name = 'Globex'"))
        conn.execute(sa.text("UPDATE sys_role SET label = 'changed'"))
        conn.execute(sa.text("CREATE TABLE probe_extra (x integer)"))


def test_putting_back_undoes_every_write(kept: KeptDatabase[None]) -> None:
    workspace = kept.put_back()
    built = _look(workspace)
    assert [name for _, name in built["leads"]] == ["ACME", "Globex"]
    _write(workspace)
    assert _look(workspace)["leads"] != built["leads"]
    assert isinstance(workspace.clock, FakeClock)
    workspace.clock.follow(lambda: LONG_AGO)
    workspace = kept.put_back()
    assert workspace.clock.now() > LONG_AGO  # the system's time again, as at the build
    again = _look(workspace)
    assert {key: again[key] for key in ("leads", "history", "roles", "tables")} == {
        key: built[key] for key in ("leads", "history", "roles", "tables")
    }
    assert again["tokens"].keys() == built["tokens"].keys()
    assert all(again["tokens"][name] != token for name, token in built["tokens"].items() if token)
    # The lead's id sequence is back where the setup left it.
    with workspace.transaction() as conn:
        made = create_record(
            conn=conn, actor=Actor.system(), form=get_form(conn, "lead"), values={"name": "next"}
        )
    assert made["id"] == 3


def test_a_report_result_kept_before_putting_back_is_not_served_after(
    kept: KeptDatabase[None],
) -> None:
    """The report cache files a result under the database's data revision (SQLite's
    ``data_version``, PostgreSQL's current snapshot) for one engine: the database put back
    under the same engine must read as a new revision, not as one a result was kept for."""
    cache = ResultCache()

    def count(workspace: Workspace) -> int:
        with workspace.read() as conn:
            return cache.through(
                conn, "leads", lambda: conn.scalar(sa.text("SELECT count(*) FROM data_lead"))
            )

    for _ in range(2):
        workspace = kept.put_back()
        _write(workspace)
        assert count(workspace) == 3
        workspace = kept.put_back()
        assert count(workspace) == 2
    assert cache.results  # the results were kept: the revisions told them apart


def test_a_changed_shape_is_built_again(kept: KeptDatabase[None]) -> None:
    """On SQLite the whole database is put back; PostgreSQL's schema is put back row by row,
    so a column added to a table has it built again, on a fresh schema."""
    workspace = kept.put_back()
    built = _look(workspace)
    with workspace.transaction() as conn:
        conn.execute(sa.text("ALTER TABLE data_lead ADD COLUMN probe integer"))
    _write(workspace)
    workspace = kept.put_back()
    with workspace.read() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("data_lead")}
    assert "probe" not in columns
    again = _look(workspace)
    assert {key: again[key] for key in ("leads", "history", "roles", "tables")} == {
        key: built[key] for key in ("leads", "history", "roles", "tables")
    }
