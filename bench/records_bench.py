"""Records benchmark: write path, list pages, search and schema changes at scale.

    python bench/records_bench.py --scale 1000000                      # SQLite in a temp dir
    python bench/records_bench.py --scale 1000000 --postgres postgresql+psycopg://postgres@127.0.0.1/test

Figures printed: bulk insert rate through the records service; first page (filter + sort + 50
rows) p50/p95 through the service, through HTTP and as raw SQL, run in turn (ratio); search
by pinyin initials; a kanban's column counts and sums; adding a field to the big table; the
type-change check over every row.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from scratch import bench_workspace, database_url
from sqlalchemy.engine import Engine

from meridian.access.tokens import create_token
from meridian.app import create_app
from meridian.core.actor import Actor
from meridian.db.ids import reserve_ids
from meridian.errors import SchemaChangeRefused
from meridian.records.bulk import create_records
from meridian.records.grouping import group_totals
from meridian.records.listing import RecordQuery, list_records
from meridian.schema.catalog import get_form
from meridian.schema.changes import add_field, update_field
from meridian.schema.compile import compile_form
from meridian.schema.model import Field
from meridian.solutions import idc_crm
from meridian.solutions.loader import install_solution, load_sample_data

FILTER = {
    "and": [
        {"field": "stage", "op": "in", "value": ["proposal", "negotiation"]},
        {"field": "expected_amount", "op": "gte", "value": "500000"},
    ]
}
SORT = "-expected_amount"
HELD_BACK = 10
"""Opportunity batches written turn about (service, raw SQL) once the table is full."""


def timed(runs: int, action: Callable[[], Any]) -> tuple[float, float]:
    """p50 and p95 in milliseconds."""
    return turn_about(runs, [action])[0]


def turn_about(runs: int, actions: list[Callable[[], Any]]) -> list[tuple[float, float]]:
    """p50 and p95 in milliseconds of each action, run in turn so that a busy spell of the
    machine slows them all alike (a ratio of two separate runs can be off by half)."""
    samples: list[list[float]] = [[] for _ in actions]
    for _ in range(runs):
        for action, taken in zip(actions, samples, strict=True):
            start = time.perf_counter()
            action()
            taken.append((time.perf_counter() - start) * 1000)
    results = []
    for taken in samples:
        taken.sort()
        results.append((statistics.median(taken), taken[int(len(taken) * 0.95) - 1]))
    return results


def bulk_insert_turn_about(engine: Engine, actor: Actor, held: list[Any]) -> tuple[float, float]:
    """Records per second through ``create_records`` and as raw SQL, each batch written by
    both in turn at the same table size, every batch its own transaction as in a load."""
    with engine.connect() as conn:
        form = get_form(conn, "opportunity")
        customers = conn.exec_driver_sql("SELECT id FROM data_customer ORDER BY id").scalars().all()
    table = compile_form(form).main
    columns = [c.name for c in table.c if c.name != "id"]
    postgres = engine.dialect.name == "postgresql"
    mark = "%s" if postgres else "?"
    insert = (
        f"INSERT INTO {table.name} (id, {', '.join(columns)}) "
        f"VALUES ({', '.join([mark] * (len(columns) + 1))})"
    )
    build = "jsonb_build_object" if postgres else "json_object"
    took = {"service": 0.0, "raw": 0.0}
    written = 0
    for batch in held:
        items = [{**row, "customer": customers[row["customer"] - 1]} for row in batch.rows]
        start = time.perf_counter()
        with engine.begin() as conn:
            ids = create_records(conn=conn, actor=actor, form=form, items=items)
        took["service"] += time.perf_counter() - start
        with engine.connect() as conn:  # the rows as stored, in the driver's own values
            stored = conn.exec_driver_sql(
                f"SELECT {', '.join(columns)} FROM {table.name} "
                f"WHERE id BETWEEN {min(ids)} AND {max(ids)}"
            ).all()
        if postgres:
            stored = [tuple(_driver_json(v) for v in row) for row in stored]
        start = time.perf_counter()
        with engine.begin() as conn:
            new_ids = reserve_ids(conn, table, len(stored))
            conn.exec_driver_sql(
                insert, [(i, *row) for i, row in zip(new_ids, stored, strict=True)]
            )
            conn.exec_driver_sql(
                "INSERT INTO sys_record_history "
                "(form_key, record_id, version, action, changes, actor_id, at) "
                f"SELECT 'opportunity', id, 1, 'create', '{{}}', created_by, created_at "
                f"FROM {table.name} WHERE id >= {mark}",
                (new_ids[0],),
            )
            conn.exec_driver_sql(
                "INSERT INTO sys_outbox (event_type, payload, created_at) "
                "SELECT 'RecordCreated', " + build + "('form', 'opportunity', 'record_id', id, "
                f"'actor_id', created_by, 'version', 1), created_at FROM {table.name} "
                f"WHERE id >= {mark}",
                (new_ids[0],),
            )
        took["raw"] += time.perf_counter() - start
        written += len(ids)
    return written / took["service"], written / took["raw"]


def _driver_json(value: Any) -> Any:
    from psycopg.types.json import Jsonb

    return Jsonb(value) if isinstance(value, list | dict) else value


def run(scale: int, database_url: str, runs: int) -> None:
    workspace, actor = bench_workspace(
        Path(tempfile.mkdtemp(prefix="meridian-bench-")), database_url
    )
    engine = workspace.engine
    print(f"database: {engine.dialect.name}, scale {scale:,} opportunities")
    with engine.begin() as conn:
        token = create_token(conn=conn, user_id=actor.user_id, name="bench")
    app, forms = idc_crm.load_package()
    install_solution(engine, actor, app, forms)

    # Customers and opportunities only; generation stops after the opportunities.
    generated = itertools.takewhile(
        lambda b: b.form_key in {"customer", "contact", "opportunity"},
        idc_crm.generate(seed=1, scale=scale),
    )
    batches = [b for b in generated if b.form_key != "contact"]
    counts = {
        key: sum(len(b.rows) for b in batches if b.form_key == key)
        for key in ("customer", "opportunity")
    }

    # The last opportunity batches are held back and written at full size, each through the
    # service and then as raw SQL (the same rows again: one executemany, the same history and
    # outbox INSERT … SELECTs, one commit), turn about.
    held = batches[-HELD_BACK:] if counts["opportunity"] > HELD_BACK * 2 * 1000 else []
    finished: dict[str, float] = {}

    def progress(form_key: str, _count: int) -> None:
        finished[form_key] = time.perf_counter()

    load_start = time.perf_counter()
    load_sample_data(
        engine,
        actor,
        batches[: len(batches) - len(held)],
        owners=[actor.user_id],
        progress=progress,
    )
    total = time.perf_counter() - load_start
    rows = sum(counts.values()) - sum(len(b.rows) for b in held)
    customers_took = finished["customer"] - load_start
    opportunities_took = finished["opportunity"] - finished["customer"]
    print(
        f"bulk insert through the write path: {rows:,} records in {total:.1f} s "
        f"= {rows / total:,.0f} records/s (customers {counts['customer'] / customers_took:,.0f}/s, "
        f"opportunities {(counts['opportunity'] - len(held) * 1000) / opportunities_took:,.0f}/s)"
    )
    if held:
        service, raw = bulk_insert_turn_about(engine, actor, held)
        print(
            f"bulk insert at full size, {len(held)} batches of 1,000 turn about: "
            f"write path {service:,.0f} records/s, raw SQL {raw:,.0f} records/s, "
            f"ratio {raw / service:.2f}x"
        )
    # No ANALYZE here: the pages are timed on the database as the loader left it.
    with engine.connect() as conn:
        form = get_form(conn, "opportunity")
    query = RecordQuery(filter=FILTER, sort=SORT, limit=50)

    def service_page() -> None:
        with engine.connect() as conn:
            list_records(conn=conn, actor=actor, form=form, query=query, tz=workspace.tz)

    # The columns a record shows: all but the search text, as the service reads them.
    shown = ", ".join(c.name for c in compile_form(form).main.c if c.name != "_search")
    raw = sa.text(
        f"SELECT {shown} FROM data_opportunity WHERE deleted_at IS NULL "
        "AND stage IN ('proposal', 'negotiation') AND expected_amount >= 50000000 "
        "ORDER BY expected_amount DESC NULLS FIRST, id DESC LIMIT 51"
    )

    def raw_page() -> None:
        with engine.connect() as conn:
            conn.execute(raw).fetchall()

    client = TestClient(
        create_app(workspace.settings, workspace=workspace),
        headers={"Authorization": f"Bearer {token}"},
    )
    params = {"filter": json.dumps(FILTER), "sort": SORT, "limit": 50}

    def http_page() -> None:
        assert client.get("/api/v1/forms/opportunity/records", params=params).status_code == 200

    for action in (raw_page, service_page, http_page):
        action()
    (raw50, raw95), (svc50, svc95), (http50, http95) = turn_about(
        runs, [raw_page, service_page, http_page]
    )
    print(f"first page, raw SQL:   p50 {raw50:.2f} ms  p95 {raw95:.2f} ms")
    print(
        f"first page, service:   p50 {svc50:.2f} ms  p95 {svc95:.2f} ms  ratio {svc50 / raw50:.2f}x"
    )
    print(
        f"first page, HTTP:      p50 {http50:.2f} ms  p95 {http95:.2f} ms  "
        f"ratio {http50 / raw50:.2f}x"
    )

    def kanban_totals() -> None:
        with engine.connect() as conn:
            group_totals(
                conn=conn,
                actor=actor,
                form=form,
                by="stage",
                sum_of="expected_amount",
                tz=workspace.tz,
            )

    k50, k95 = timed(max(5, runs // 4), kanban_totals)
    print(
        f"kanban totals (count and sum of expected_amount per stage, one grouped statement): "
        f"p50 {k50:.2f} ms  p95 {k95:.2f} ms"
    )

    with engine.connect() as conn:
        customer = get_form(conn, "customer")
    search_query = RecordQuery(search="hwy", limit=50)

    def search_page() -> None:
        with engine.connect() as conn:
            list_records(conn=conn, actor=actor, form=customer, query=search_query, tz=workspace.tz)

    s50, s95 = timed(max(5, runs // 4), search_page)
    print(f"search customers by pinyin initials 'hwy': p50 {s50:.2f} ms  p95 {s95:.2f} ms")

    start = time.perf_counter()
    with engine.begin() as conn:
        add_field(
            conn=conn,
            actor=actor,
            form_key="opportunity",
            field=Field(key="bench_note", label="备注", type="text"),
        )
    print(f"add a field to the {scale:,}-row table: {(time.perf_counter() - start) * 1000:.1f} ms")

    start = time.perf_counter()
    with engine.begin() as conn:
        update_field(
            conn=conn,
            actor=actor,
            form_key="opportunity",
            field_key="bandwidth_mbps",
            changes={"type": "decimal", "scale": 2},
        )
    print(
        f"type change integer → decimal over {scale:,} rows (check, then convert every row): "
        f"{(time.perf_counter() - start) * 1000:.0f} ms"
    )

    start = time.perf_counter()
    try:
        with engine.begin() as conn:
            update_field(
                conn=conn,
                actor=actor,
                form_key="opportunity",
                field_key="name",
                changes={"type": "integer"},
            )
    except SchemaChangeRefused as exc:
        print(
            f"type-change check text → integer over {scale:,} rows: "
            f"refused with {len(exc.offenders)} offenders "
            f"in {(time.perf_counter() - start) * 1000:.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument(
        "--postgres", default="", help="PostgreSQL URL; the bench uses a scratch schema"
    )
    args = parser.parse_args()
    with database_url(args.postgres) as url:
        run(args.scale, url, args.runs)


if __name__ == "__main__":
    main()
