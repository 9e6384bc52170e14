"""Changing a field's type over a big table, SQLite and PostgreSQL in one run.

    python bench/retype_bench.py --rows 1000000 --postgres postgresql+psycopg://postgres@127.0.0.1/DB

One form (线索: name, region select, seats integer with an index, code text holding digits,
amount money), ``--rows`` live records written by SQL, each with its own search text
(``INSERT … SELECT`` of the first row as Meridian stored it), planner statistics gathered;
then, each in its own transaction through ``schema.changes.update_field`` as the API calls it:

- integer → decimal (``seats``, two decimals): every value checked, then converted;
- text → integer (``code``): every value's shape checked, then converted;
- text → integer refused (``name``: no value converts): the check alone, 50 offenders named.

Figures: wall, CPU of the bench process, and on PostgreSQL CPU of the backend serving it
(``/proc/<pid>/stat``; the server runs on this machine); the load average beside them.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from scratch import database_url
from sqlalchemy.engine import Connection

from meridian.app import create_workspace
from meridian.core.actor import Actor
from meridian.db.engine import make_engine
from meridian.db.statistics import analyze
from meridian.errors import SchemaChangeRefused
from meridian.records.bulk import create_records
from meridian.schema import changes, view_indexes
from meridian.schema.compile import compile_form
from meridian.schema.model import App, Form, parse_model
from meridian.settings import Settings

TICKS = os.sysconf("SC_CLK_TCK")
FORM = {
    "app_key": "sales",
    "key": "lead",
    "label": "线索",
    "title_field": "name",
    "fields": [
        {"key": "name", "label": "客户名称", "type": "text"},
        {
            "key": "region",
            "label": "区域",
            "type": "select",
            "options": [{"value": "east", "label": "华东"}, {"value": "south", "label": "华南"}],
        },
        {"key": "seats", "label": "机柜数", "type": "integer", "indexed": True},
        {"key": "code", "label": "编号", "type": "text"},
        {"key": "amount", "label": "金额", "type": "money"},
    ],
}
CHANGES = (
    ("integer → decimal(2)", "seats", {"type": "decimal", "scale": 2}),
    ("text → integer", "code", {"type": "integer"}),
    ("text → integer, refused", "name", {"type": "integer"}),
)


def _backend_cpu(conn: Connection) -> float:
    if conn.dialect.name != "postgresql":
        return 0.0
    pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def fill(conn: Connection, rows: int) -> None:
    system = Actor.system()
    changes.create_app(conn=conn, actor=system, app=App(key="sales", label="销售"))
    form = changes.create_form(conn=conn, actor=system, form=parse_model(Form, FORM))
    table = compile_form(form).main
    create_records(
        conn=conn,
        actor=system,
        form=form,
        items=[{"name": "客户 1", "region": "east", "seats": 1, "code": "1", "amount": "1.00"}],
    )
    written = ("id", "name", "seats", "code", "_search")
    columns = [c.name for c in table.c if c.name not in written]
    copied = ", ".join(columns)
    if conn.dialect.name == "postgresql":
        series = f"generate_series(2, {rows}) AS s(g)"
        text = "g::text"
    else:
        series = (
            f"(WITH RECURSIVE s(g) AS (SELECT 2 UNION ALL SELECT g + 1 FROM s WHERE g < {rows}) "
            "SELECT g FROM s)"
        )
        text = "CAST(g AS TEXT)"
    conn.exec_driver_sql(
        f"INSERT INTO {table.name} (name, seats, code, _search, {copied}) "
        f"SELECT '客户 ' || {text}, g - (g / 5000) * 5000, {text}, "
        f"'客户 ' || {text} || ' kehu kh ' || {text}, {copied} FROM {series}, "
        f"(SELECT {copied} FROM {table.name} "
        f"WHERE id = (SELECT min(id) FROM {table.name})) AS first"
    )
    analyze(conn, [table.name])


def run(url: str, rows: int) -> list[tuple[str, float, float, float]]:
    settings = Settings(
        data_dir=Path(tempfile.mkdtemp(prefix="meridian-retype-")), database_url=url
    )
    workspace = create_workspace(settings, engine=make_engine(settings.resolved_database_url))
    engine = workspace.engine
    start = time.perf_counter()
    with engine.begin() as conn:
        fill(conn, rows)
    print(f"{engine.dialect.name}: {rows:,} rows written in {time.perf_counter() - start:.1f} s")
    results = []
    for label, key, change in CHANGES:
        with engine.connect() as conn:
            server = _backend_cpu(conn)
            conn.rollback()
            wall, cpu = time.perf_counter(), _cpu()
            outcome = "converted"
            try:
                with conn.begin():
                    changes.update_field(
                        conn=conn,
                        actor=Actor.system(),
                        form_key="lead",
                        field_key=key,
                        changes=change,
                    )
            except SchemaChangeRefused as exc:
                outcome = f"refused, {len(exc.offenders)} offenders"
            wall, cpu = time.perf_counter() - wall, _cpu() - cpu
            server = _backend_cpu(conn) - server
            conn.rollback()
        print(
            f"  {label:<26} {outcome:<24} wall {wall:7.2f} s  CPU bench {cpu:6.2f} s  "
            f"server {server:6.2f} s  (load {os.getloadavg()[0]:.1f})"
        )
        results.append((label, wall, cpu, server))
        if engine.dialect.name == "postgresql" and outcome == "converted":
            # The job the change enqueued: the trigram index built again CONCURRENTLY.
            with engine.connect() as conn:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                server = _backend_cpu(conn)
                wall = time.perf_counter()
                built = view_indexes._build(conn, "lead")  # the job's work, on this backend
                wall = time.perf_counter() - wall
                server = _backend_cpu(conn) - server
            print(
                f"  {'  then, writers going on:':<26} {', '.join(built):<24} wall {wall:7.2f} s  "
                f"server CPU {server:6.2f} s"
            )
    workspace.engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--postgres", default="", help="PostgreSQL URL; a scratch schema is used")
    args = parser.parse_args()
    print(f"load average at the start: {os.getloadavg()}")
    with database_url("") as url:
        sqlite = run(url, args.rows)
    if not args.postgres:
        return
    with database_url(args.postgres) as url:
        postgres = run(url, args.rows)
    print("PostgreSQL against SQLite (wall; CPU: bench+server against bench):")
    for (label, s_wall, s_cpu, _), (_, p_wall, p_cpu, p_server) in zip(
        sqlite, postgres, strict=True
    ):
        print(f"  {label:<26} wall {p_wall / s_wall:5.2f}x  CPU {(p_cpu + p_server) / s_cpu:5.2f}x")


if __name__ == "__main__":
    main()
