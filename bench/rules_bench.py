"""Rules benchmark: the date-relative scan over 1M records, and jobs claimed and run per second.

    python bench/rules_bench.py --scale 1000000
    python bench/rules_bench.py --scale 1000000 --postgres postgresql+psycopg://postgres@127.0.0.1/test

A contract form gets ``--scale`` rows (end dates spread over three years) by one INSERT …
SELECT. A "90 days before end_date, if active" rule then fires for one day's window and for a
365-day catch-up; each is timed against the hand-written INSERT … SELECT into a ledger of the
same shape, in the same run. Last, ``--jobs`` no-op jobs are enqueued and drained by one worker.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from scratch import database_url

from meridian.app import create_workspace
from meridian.core.actor import Actor
from meridian.db.engine import make_engine, transaction
from meridian.db.statistics import refresh_stale
from meridian.db.tables import rules
from meridian.jobs.handlers import job_handlers
from meridian.jobs.queue import enqueue_many
from meridian.jobs.worker import Worker
from meridian.rules.definitions import create_rule
from meridian.rules.scanning import fire_time_rule
from meridian.schema.changes import create_app, create_form
from meridian.schema.model import App, Form, parse_model
from meridian.settings import Settings

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def fill(engine: sa.Engine, scale: int) -> None:
    if engine.dialect.name == "postgresql":
        numbers = "SELECT n FROM generate_series(1, CAST(:scale AS bigint)) AS n"
        end = "DATE '2026-01-01' + CAST(n % 1095 AS integer)"
        stamp = "now()"
    else:
        numbers = (
            "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < :scale) "
            "SELECT n FROM s"
        )
        end = "date('2026-01-01', '+' || (n % 1095) || ' days')"
        stamp = "'2026-11-01 00:00:00.000000'"
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"""INSERT INTO data_contract (id, _version, created_at, updated_at, title,
                        end_date, status)
                    SELECT n, 1, {stamp}, {stamp}, 'contract ' || n, {end},
                           CASE WHEN n % 4 = 0 THEN 'closed' ELSE 'active' END
                    FROM ({numbers}) AS numbers"""
            ),
            {"scale": scale},
        )
    # Written behind Meridian's back, so what Meridian does about it: its statistics job.
    refresh_stale(engine)


def run(scale: int, database_url: str, job_count: int) -> None:
    settings = Settings(
        data_dir=Path(tempfile.mkdtemp(prefix="meridian-bench-")), database_url=database_url
    )
    workspace = create_workspace(settings, engine=make_engine(settings.resolved_database_url))
    engine, system = workspace.engine, Actor.system()
    with transaction(engine) as conn:
        create_app(conn=conn, actor=system, app=App(key="legal", label="合同"))
        form: Form = parse_model(
            Form,
            {
                "key": "contract",
                "app_key": "legal",
                "label": "合同",
                "fields": [
                    {"key": "title", "label": "标题", "type": "text"},
                    {"key": "end_date", "label": "到期日", "type": "date", "indexed": True},
                    {"key": "status", "label": "状态", "type": "text"},
                ],
            },
        )
        create_form(conn=conn, actor=system, form=form)
    start = time.perf_counter()
    fill(engine, scale)
    print(f"{engine.dialect.name}: {scale:,} contracts in {time.perf_counter() - start:.1f} s")
    with transaction(engine) as conn:
        rule_id = create_rule(
            conn,
            system,
            {
                "form_key": "contract",
                "label": "到期前90天",
                "trigger": {"type": "date_relative", "field": "end_date", "offset_days": -90},
                "condition": 'status = "active"',
                "actions": [{"type": "update", "values": {"status": "renewing"}}],
            },
        )["id"]
        conn.exec_driver_sql(
            "CREATE TABLE bench_fire (rule_id BIGINT, record_id BIGINT, fire_key VARCHAR(64), "
            "PRIMARY KEY (rule_id, record_id, fire_key))"
        )
    for days in (1, 365):
        window_start = NOW - timedelta(days=days)
        with transaction(engine) as conn:
            conn.execute(rules.update().values(scanned_until=window_start))
            conn.exec_driver_sql("DELETE FROM sys_rule_fire")
            conn.exec_driver_sql("DELETE FROM sys_job")
            row = conn.execute(sa.select(rules).where(rules.c.id == rule_id)).one()
            began = time.perf_counter()
            fired = fire_time_rule(conn, row, NOW, TZ)
            took = time.perf_counter() - began
        low = window_start.astimezone(TZ).date() + timedelta(days=90)
        high = NOW.astimezone(TZ).date() + timedelta(days=90)
        conflict = "ON CONFLICT DO NOTHING"
        with transaction(engine) as conn:
            conn.exec_driver_sql("DELETE FROM bench_fire")
            began = time.perf_counter()
            raw = conn.execute(
                sa.text(
                    "INSERT INTO bench_fire SELECT :rule, id, CAST(end_date AS VARCHAR(64)) "
                    "FROM data_contract WHERE end_date > :low AND end_date <= :high "
                    f"AND deleted_at IS NULL AND status = 'active' {conflict}"
                ),
                {"rule": rule_id, "low": low, "high": high},
            ).rowcount
            raw_took = time.perf_counter() - began
        assert raw == fired, (raw, fired)
        print(
            f"date-relative scan, {days}-day window: {fired:,} fired (ledger + jobs) in "
            f"{took * 1000:.1f} ms; hand-written INSERT … SELECT (ledger only) "
            f"{raw_took * 1000:.1f} ms; ratio {took / raw_took:.2f}x"
        )
    with transaction(engine) as conn:  # the rule off: only the no-op jobs run below
        conn.execute(rules.update().values(enabled=False))
        conn.exec_driver_sql("DELETE FROM sys_job")
        enqueue_many(conn, "noop", [{"n": n} for n in range(job_count)])
    worker = Worker(engine, job_handlers(workspace), TZ, batch=100)
    began = time.perf_counter()
    done = 0
    while ran := worker.run_once():
        done += ran
    took = time.perf_counter() - began
    print(f"jobs: {done:,} no-op jobs claimed and run by one worker: {done / took:,.0f} jobs/s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--postgres", default="", help="PostgreSQL URL; a scratch schema is used")
    args = parser.parse_args()
    with database_url(args.postgres) as url:
        run(args.scale, url, args.jobs)


if __name__ == "__main__":
    main()
