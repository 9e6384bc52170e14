"""Bulk load per IDC form: the records service against raw ``executemany`` of the same rows.

    python bench/load_bench.py --scale 1000000 --postgres postgresql+psycopg://postgres@127.0.0.1/DB
    python bench/load_bench.py --scale 100000                          # SQLite in a temp dir

The whole IDC sample (``idc_crm.generate``) is loaded batch by batch exactly as ``meridian demo``
loads it (``solutions.loader``: links mapped to ids, owners round-robin, ANALYZE whenever a
form's tables have doubled). Every ``--every``-th batch of each form is written twice, turn
about at the same table size: through ``create_records`` (as the load does), then as raw SQL —
the rows as the service stored them, read back, inserted with one ``executemany`` into the main
table and one into each lines table, plus the history and outbox rows as ``INSERT … SELECT``
(the same work records_bench.py compares), one commit. Unique text values of the raw copies get
a suffix; the copies stay (they add ``1/every`` to each table).

Figures per form: records/s of the whole load; for the sampled batches service and raw
records/s (wall), the ratio, and CPU of the bench process plus the PostgreSQL backend serving
it (``/proc/<backend pid>/stat``; the server runs on this machine).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from scratch import bench_workspace, database_url
from sqlalchemy.engine import Connection

from meridian.db.ids import reserve_ids
from meridian.records.bulk import create_records
from meridian.schema.catalog import find_form
from meridian.schema.compile import compile_form
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Form
from meridian.solutions import idc_crm
from meridian.solutions.loader import _analyze, _resolve_links, install_solution

TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_backend(pid: int | None) -> float:
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Meter:
    """Wall, bench CPU and backend CPU spent inside ``with``."""

    def __init__(self, conn: Connection) -> None:
        self.pid = (
            int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
            if conn.dialect.name == "postgresql"
            else None
        )
        conn.rollback()
        self.wall = self.cpu = self.server = 0.0

    def __enter__(self) -> Meter:
        self._start = (time.perf_counter(), _cpu_self(), _cpu_backend(self.pid))
        return self

    def __exit__(self, *_: Any) -> None:
        wall, cpu, server = self._start
        self.wall += time.perf_counter() - wall
        self.cpu += _cpu_self() - cpu
        self.server += _cpu_backend(self.pid) - server


def _driver(value: Any, postgres: bool) -> Any:
    if postgres and isinstance(value, list | dict):
        from psycopg.types.json import Jsonb

        return Jsonb(value)
    return value


def raw_copy(conn: Connection, form: Form, ids: list[int], copy_no: int, meter: Meter) -> None:
    """Insert again the rows ``ids`` as stored, the way a hand-written loader would; ``meter``
    is entered once the rows are read (the caller leaves it after the commit)."""
    tables = compile_form(form)
    table = tables.main
    postgres = conn.dialect.name == "postgresql"
    mark = "%s" if postgres else "?"
    columns = [c.name for c in table.c if c.name != "id"]
    unique = {
        c.name
        for index in table.indexes
        if index.unique
        for c in index.columns
        if isinstance(c.type, sa.String | sa.Text)
    }
    stored = conn.exec_driver_sql(
        f"SELECT id, {', '.join(columns)} FROM {table.name} "
        f"WHERE id BETWEEN {min(ids)} AND {max(ids)} ORDER BY id"
    ).all()
    lines = {
        key: conn.exec_driver_sql(
            f"SELECT * FROM {lines_table.name} "
            f"WHERE _parent_id BETWEEN {min(ids)} AND {max(ids)} ORDER BY id"
        ).all()
        for key, lines_table in tables.lines.items()
    }
    suffixed = [
        tuple(
            f"{value}~{copy_no}" if name in unique and isinstance(value, str) else value
            for name, value in zip(columns, row[1:], strict=True)
        )
        for row in stored
    ]
    meter.__enter__()
    new_ids = reserve_ids(conn, table, len(stored))
    renumber = {row[0]: new for row, new in zip(stored, new_ids, strict=True)}
    conn.exec_driver_sql(
        f"INSERT INTO {table.name} (id, {', '.join(columns)}) "
        f"VALUES ({', '.join([mark] * (len(columns) + 1))})",
        [
            (new, *(_driver(v, postgres) for v in row))
            for new, row in zip(new_ids, suffixed, strict=True)
        ],
    )
    for key, rows in lines.items():
        if not rows:
            continue
        names = [c for c in rows[0]._fields if c != "id"]
        conn.exec_driver_sql(
            f"INSERT INTO {tables.lines[key].name} ({', '.join(names)}) "
            f"VALUES ({', '.join([mark] * len(names))})",
            [
                tuple(
                    renumber[value] if name == "_parent_id" else _driver(value, postgres)
                    for name, value in zip(names, row[1:], strict=True)
                )
                for row in rows
            ],
        )
    build = "jsonb_build_object" if postgres else "json_object"
    conn.exec_driver_sql(
        "INSERT INTO sys_record_history "
        "(form_key, record_id, version, action, changes, actor_id, at) "
        f"SELECT '{form.key}', id, 1, 'create', '{{}}', created_by, created_at "
        f"FROM {table.name} WHERE id >= {mark}",
        (new_ids[0],),
    )
    conn.exec_driver_sql(
        "INSERT INTO sys_outbox (event_type, payload, created_at) "
        f"SELECT 'RecordCreated', {build}('form', '{form.key}', 'record_id', id, "
        f"'actor_id', created_by, 'version', 1), created_at FROM {table.name} "
        f"WHERE id >= {mark}",
        (new_ids[0],),
    )


HEADER = (
    "form         records   load rec/s | sampled  service rec/s  raw rec/s  ratio | "
    "CPU bench+server per 1k: service  raw"
)


def report(key: str, count: int, m: Meter, s: Meter, r: Meter, n: int) -> None:
    """One form's line: the whole load's rate, then its sampled batches turn about."""
    if not n:
        print(f"{key:<12}{count:>9,} {count / m.wall:>11,.0f} | (none sampled)", flush=True)
        return
    print(
        f"{key:<12}{count:>9,} {count / m.wall:>11,.0f} | {n:>7,} "
        f"{n / s.wall:>13,.0f} {n / r.wall:>10,.0f} {r.wall and s.wall / r.wall:>6.2f} | "
        f"{(s.cpu + s.server) / n * 1e6:>7.0f} ms ({s.cpu / n * 1e6:.0f}+"
        f"{s.server / n * 1e6:.0f})  {(r.cpu + r.server) / n * 1e6:>4.0f} ms "
        f"({r.cpu / n * 1e6:.0f}+{r.server / n * 1e6:.0f})",
        flush=True,
    )


def run(scale: int, url: str, every: int) -> None:
    workspace, actor = bench_workspace(Path(tempfile.mkdtemp(prefix="meridian-load-")), url)
    engine = workspace.engine
    print(f"database: {engine.dialect.name}, scale {scale:,} opportunities, every {every}th batch")
    app, forms = idc_crm.load_package()
    install_solution(engine, actor, app, forms)

    ids: dict[str, list[int]] = {}
    found: dict[str, Form] = {}
    counts: dict[str, int] = defaultdict(int)
    analyzed: dict[str, int] = {}
    batches_of: dict[str, int] = defaultdict(int)
    whole: dict[str, Meter] = {}
    service: dict[str, Meter] = {}
    raw: dict[str, Meter] = {}
    sampled: dict[str, int] = defaultdict(int)
    reported: dict[str, bool] = {}
    print(HEADER, flush=True)
    with engine.connect() as svc_conn, engine.connect() as raw_conn:
        for batch in idc_crm.generate(seed=1, scale=scale):
            key = batch.form_key
            if key not in found:
                for done in found:  # each form's line as soon as it is loaded
                    if done in whole and not reported.get(done):
                        report(
                            done, counts[done], whole[done], service[done], raw[done], sampled[done]
                        )
                        reported[done] = True
                with svc_conn.begin():
                    form = find_form(svc_conn, key)
                assert form is not None
                found[key] = form
                whole[key] = Meter(svc_conn)
                service[key], raw[key] = Meter(svc_conn), Meter(raw_conn)
            form = found[key]
            links = [f for f in form.active_fields if field_type(f).links_records]
            rows = [_resolve_links(links, row, ids) for row in batch.rows]
            for row in rows:
                row["owner_id"] = actor.user_id
            turn = batches_of[key] % every == every - 1
            batches_of[key] += 1
            with whole[key]:
                if turn:
                    service[key].__enter__()
                with svc_conn.begin():
                    new_ids = create_records(conn=svc_conn, actor=actor, form=form, items=rows)
                if turn:
                    service[key].__exit__()
            if turn:
                with raw_conn.begin():
                    raw_copy(raw_conn, form, new_ids, batches_of[key], raw[key])
                raw[key].__exit__()  # entered in raw_copy once the rows were read
                sampled[key] += len(new_ids)
            ids.setdefault(key, []).extend(new_ids)
            counts[key] += len(new_ids)
            if counts[key] >= 2 * analyzed.get(key, 0):
                with whole[key]:
                    _analyze(engine, [form])
                analyzed[key] = counts[key]
    for key in (k for k in whole if not reported.get(k)):
        report(key, counts[key], whole[key], service[key], raw[key], sampled[key])
    print(f"load average at the end: {os.getloadavg()}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=int, default=10_000)
    parser.add_argument("--every", type=int, default=10, help="write every n-th batch twice")
    parser.add_argument("--postgres", default="", help="PostgreSQL URL; a scratch schema is used")
    args = parser.parse_args()
    with database_url(args.postgres) as url:
        run(args.scale, url, args.every)


if __name__ == "__main__":
    main()
