"""The reports benchmark's data: the IDC solution with its sample data and stage history, grown
to a million opportunities by set-based copies, and kept between runs.

The sample is loaded the way ``meridian demo`` loads it (the sample generator through the
records service, the approvals and pipelines, the stage history of every opportunity) at a
small scale; then every sample form's rows are doubled by ``INSERT … SELECT`` — ids moved past
the table's highest, links moved by their target form's shift, unique values suffixed with the
new id — and the opportunities' stage visits with them, until the opportunities are as many
as asked (the last step copies only as many as are missing, with their visits). The
statistics are then gathered through Meridian's own ``db.statistics.analyze``.

A SQLite data set is kept under ``/tmp`` keyed by its size and a digest of what it was built
from (the solution's package, pipelines and reports, ``DATA_VERSION``), so a second run reuses
it; a PostgreSQL one lives in a schema named the same way, kept too. Migrations are not in the
digest: opening a kept set upgrades it like any workspace (a new migration's backfill runs over
the million rows once), so a schema change costs a migration, not a rebuild.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from meridian.access.users import create_user
from meridian.app import create_workspace
from meridian.core.actor import Actor
from meridian.db.statistics import analyze
from meridian.db.tables import stage_visits, users
from meridian.http.deps import Workspace
from meridian.schema.catalog import get_form
from meridian.schema.compile import compile_form
from meridian.schema.fieldtypes import field_type
from meridian.settings import Settings
from meridian.solutions import idc_crm
from meridian.solutions.idc_crm.backdate import backdate_samples
from meridian.solutions.idc_crm.sample import FORM_ROWS
from meridian.solutions.idc_crm.stage_history import seed_stage_history
from meridian.solutions.loader import (
    install_approvals,
    install_pipelines,
    install_solution,
    load_sample_data,
)

BASE_SCALE = 2000
"""Opportunities generated through the records service before the copies start."""
CACHE = Path(tempfile.gettempdir()) / "meridian-reports-bench"
ADMIN_EMAIL = "bench@idc.test"
REP_EMAIL = "rep@idc.test"
DATA_VERSION = 1
"""Raise it when the way the data set is built changes."""


@dataclass(frozen=True)
class BenchData:
    workspace: Workspace
    admin: Actor
    rep: Actor
    opportunities: int
    visits: int
    prepared_seconds: float
    reused: bool


def schema_digest() -> str:
    """What the data set depends on: a change to any of these builds it again (a migration
    does not: it is applied when the kept set is opened)."""
    root = Path(__file__).resolve().parent.parent / "meridian"
    digest = hashlib.sha256(f"{DATA_VERSION}".encode())
    sources = sorted((root / "solutions" / "idc_crm").glob("*.json"))
    for path in sources:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@contextmanager
def bench_data(opportunities: int, postgres: str) -> Iterator[BenchData]:
    """The data set for ``opportunities`` (built or reused), its workspace open meanwhile."""
    key = f"{opportunities}_{schema_digest()}"
    started = time.perf_counter()
    if postgres:
        settings_url, ready = _postgres_schema(postgres, f"bench_reports_{key}")
        data_dir = CACHE / f"pg-{key}"
    else:
        data_dir = CACHE / key
        settings_url = ""
        ready = (data_dir / "ready").exists()
        if not ready and data_dir.exists():
            shutil.rmtree(data_dir)  # a build that did not finish
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(database_url=settings_url, data_dir=data_dir, load_plugins="")
    workspace = create_workspace(settings)
    try:
        if not ready:
            _build(workspace, opportunities)
            (data_dir / "ready").write_text("ok\n")
        with workspace.read() as conn:
            found = dict(conn.execute(sa.select(users.c.email, users.c.id)).all())
            table = compile_form(get_form(conn, "opportunity")).main
            count = int(conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)
            visits = int(conn.scalar(sa.select(sa.func.count()).select_from(stage_visits)) or 0)
        yield BenchData(
            workspace=workspace,
            admin=Actor(user_id=found[ADMIN_EMAIL], is_admin=True, name="Bench"),
            rep=Actor(user_id=found[REP_EMAIL], roles=frozenset({"member"}), name="Rep"),
            opportunities=count,
            visits=visits,
            prepared_seconds=time.perf_counter() - started,
            reused=ready,
        )
    finally:
        workspace.engine.dispose()


def _postgres_schema(url: str, schema: str) -> tuple[str, bool]:
    """A URL whose search path is ``schema`` (made when missing) and whether it is ready."""
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
        exists = conn.exec_driver_sql(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s "
            "AND table_name = 'bench_ready'",
            (schema,),
        ).first()
        if not exists:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    admin.dispose()
    full = sa.make_url(url).update_query_dict({"options": f"-csearch_path={schema},public"})
    return full.render_as_string(hide_password=False), exists is not None


def _build(workspace: Workspace, wanted: int) -> None:
    with workspace.transaction() as conn:
        admin_id = create_user(
            conn=conn,
            email=ADMIN_EMAIL,
            name="Bench",
            password="bench-pass-123",
            passwords=workspace.passwords,
            is_admin=True,
        )
        rep_id = create_user(
            conn=conn,
            email=REP_EMAIL,
            name="Rep",
            password="bench-pass-123",
            passwords=workspace.passwords,
        )
    admin = Actor(user_id=admin_id, is_admin=True, name="Bench")
    app, forms = idc_crm.load_package()
    install_solution(workspace.engine, admin, app, forms, reports=idc_crm.load_reports())
    load_sample_data(
        workspace.engine,
        admin,
        idc_crm.generate(seed=7, scale=min(BASE_SCALE, wanted)),
        owners=[admin_id, rep_id],
    )
    install_approvals(workspace.engine, admin, idc_crm.load_approvals())
    install_pipelines(workspace.engine, admin, idc_crm.load_pipelines())
    seed_stage_history(workspace.engine, seed=7)
    backdate_samples(workspace.engine)
    _grow(workspace, wanted)
    with workspace.engine.begin() as conn:
        tables = [compile_form(get_form(conn, key)).main.name for key, _ in FORM_ROWS]
        analyze(conn, [*tables, stage_visits.name])
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("CREATE TABLE bench_ready (ok INTEGER)")


def _grow(workspace: Workspace, wanted: int) -> None:
    """Double every sample form (links kept within each copy) while the opportunities fit,
    then copy the opportunities still missing."""
    while True:
        with workspace.transaction() as conn:
            count = _count(conn, "opportunity")
            if count >= wanted:
                return
            whole = 2 * count <= wanted
            keys = [key for key, _ in FORM_ROWS] if whole else ["opportunity"]
            shifts = {key: _top(conn, key) for key in keys}
            cutoff = shifts["opportunity"] if whole else _cutoff(conn, wanted - count)
            for key in keys:
                _copy_form(conn, key, shifts, cutoff if key == "opportunity" else None)
            _copy_visits(conn, shifts["opportunity"], cutoff)


def _count(conn: sa.Connection, key: str) -> int:
    table = compile_form(get_form(conn, key)).main
    return int(conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


def _top(conn: sa.Connection, key: str) -> int:
    table = compile_form(get_form(conn, key)).main
    return int(conn.scalar(sa.select(sa.func.max(table.c.id))) or 0)


def _cutoff(conn: sa.Connection, take: int) -> int:
    """The id of the ``take``-th opportunity: copies go up to it (all of them when beyond)."""
    table = compile_form(get_form(conn, "opportunity")).main
    found = conn.scalar(
        sa.select(table.c.id).order_by(table.c.id).offset(max(take - 1, 0)).limit(1)
    )
    assert found is not None
    return int(found)


def _copy_form(conn: sa.Connection, key: str, shifts: dict[str, int], cutoff: int | None) -> None:
    form = get_form(conn, key)
    table = compile_form(form).main
    unique = {c.key for index in table.indexes if index.unique for c in index.columns}
    links = {
        f.key: f.target or ""
        for f in form.active_fields
        if field_type(f).links_records and f.key in table.c
    }
    new_id = table.c.id + shifts[key]
    values: list[sa.ColumnElement[object]] = []
    for column in table.c:
        if column.key == "id":
            value: sa.ColumnElement[object] = new_id
        elif column.key in links and links[column.key] in shifts:
            value = column + shifts[links[column.key]]
        elif column.key in unique:
            value = sa.cast(column, sa.String()).concat("~").concat(sa.cast(new_id, sa.String()))
        else:
            value = column
        values.append(value.label(column.key))
    source = sa.select(*values)
    if cutoff is not None:
        source = source.where(table.c.id <= cutoff)
    conn.execute(table.insert().from_select([c.key for c in table.c], source))


def _copy_visits(conn: sa.Connection, shift: int, cutoff: int) -> None:
    v = stage_visits
    columns = [c for c in v.c if c.key != "id"]
    source = sa.select(
        *((c + shift).label(c.key) if c.key == "record_id" else c for c in columns)
    ).where(v.c.form_key == "opportunity", v.c.record_id <= cutoff)
    conn.execute(v.insert().from_select([c.key for c in columns], source))
