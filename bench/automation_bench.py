"""Automation benchmark: what enabled record rules add to a save, and how workers scale.

    python bench/automation_bench.py --postgres postgresql+psycopg://postgres@127.0.0.1/test
    python bench/automation_bench.py            # SQLite: the save latency part only

1. Save latency: one record's amount changed in its own transaction, p50 over ``--saves``
   saves on each of two identical forms, one with 50 enabled record rules and one with none,
   saves alternating between them (the same record number and amount on both). The rules are
   the usual kind (``record_updated``, a condition on stage and amount, a notify action): one
   save in ten (a won deal) meets most of them and queues their runs, the others meet none.
   Quartiles are printed too: on a machine whose speed comes in two modes the median of one
   side can fall in the slow mode and the other's in the fast one. Then the rules' own part,
   timed alone: the record subscriber for a record meeting none of the rules and for one
   meeting all of them, against the form without rules.
2. Worker scaling (PostgreSQL): ``--io-jobs`` jobs that each wait 20 ms (a webhook call, an
   email), drained by one worker process and then by four; jobs per second compared.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import statistics
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from scratch import database_url

from meridian.app import create_workspace
from meridian.core.actor import Actor
from meridian.db.engine import make_engine, transaction
from meridian.db.tables import jobs
from meridian.events.records import RecordUpdated
from meridian.jobs.handlers import job_handlers
from meridian.jobs.queue import JobContext, enqueue_many
from meridian.jobs.worker import Worker
from meridian.records import bulk, service
from meridian.records.subscribers import Changes
from meridian.rules import engine as rules_engine
from meridian.rules.definitions import create_rule
from meridian.schema.catalog import get_form
from meridian.schema.changes import create_app, create_form
from meridian.schema.compile import compile_form
from meridian.schema.model import App, Form, parse_model
from meridian.settings import Settings

TZ = ZoneInfo("Asia/Shanghai")
RULES = 50
IO_WAIT = 0.02


def _forms(engine: sa.Engine) -> None:
    """Two identical forms: ``deal`` gets the rules, ``plain`` none."""
    system = Actor.system()
    with transaction(engine) as conn:
        create_app(conn=conn, actor=system, app=App(key="sales", label="销售"))
        for key in ("deal", "plain"):
            form = parse_model(
                Form,
                {
                    "key": key,
                    "app_key": "sales",
                    "label": key,
                    "fields": [
                        {"key": "name", "label": "名称", "type": "text"},
                        {"key": "amount", "label": "金额", "type": "money"},
                        {
                            "key": "stage",
                            "label": "阶段",
                            "type": "select",
                            "options": [
                                {"value": s, "label": s} for s in ("lead", "proposal", "won")
                            ],
                        },
                    ],
                },
            )
            create_form(conn=conn, actor=system, form=form)


def save_latency(engine: sa.Engine, saves: int) -> None:
    system = Actor.system()
    stages = ["lead"] * 6 + ["proposal"] * 3 + ["won"]
    ids = {}
    with transaction(engine) as conn:
        for key in ("deal", "plain"):
            ids[key] = bulk.create_records(
                conn=conn,
                actor=system,
                form=get_form(conn, key),
                items=[
                    {"name": f"deal {i}", "amount": str(i * 1000), "stage": stages[i % 10]}
                    for i in range(1000)
                ],
            )
        for i in range(RULES):
            create_rule(
                conn,
                system,
                {
                    "form_key": "deal",
                    "label": f"rule {i}",
                    "trigger": {"type": "record_updated"},
                    "condition": f'stage = "won" and amount > {i * 10000}',
                    "actions": [{"type": "notify", "to": "owner", "title": f"rule {i}"}],
                },
            )
    rng = random.Random(1)

    def save(form_key: str, record_id: int, amount: int) -> float:
        began = time.perf_counter()
        with transaction(engine) as conn:
            service.update_record(
                conn=conn,
                actor=system,
                form=get_form(conn, form_key),
                record_id=record_id,
                values={"amount": str(amount)},
            )
        return (time.perf_counter() - began) * 1000

    samples: dict[str, list[float]] = {"deal": [], "plain": []}
    for round_ in range(saves + 20):
        index, amount = rng.randrange(1000), rng.randrange(1, 10**6)
        for key in ("deal", "plain") if round_ % 2 else ("plain", "deal"):
            took = save(key, ids[key][index], amount)
            if round_ >= 20:  # the first saves warm the caches
                samples[key].append(took)
    off, on = statistics.median(samples["plain"]), statistics.median(samples["deal"])
    quartiles = {key: statistics.quantiles(taken, n=4) for key, taken in samples.items()}
    print(
        f"{engine.dialect.name}: save p50 without rules {off:.2f} ms, with {RULES} rules "
        f"{on:.2f} ms (+{(on / off - 1) * 100:.0f}%); quartiles without "
        + " / ".join(f"{q:.2f}" for q in quartiles["plain"])
        + ", with "
        + " / ".join(f"{q:.2f}" for q in quartiles["deal"])
    )


def rules_cost(engine: sa.Engine, runs: int = 2000) -> None:
    """The rules' own part of a save, timed alone: the record subscriber for one updated
    record of each form, in a transaction rolled back (the queued runs are not kept)."""
    with engine.connect() as conn:
        for key, stage in (("plain", "lead"), ("deal", "lead"), ("deal", "won")):
            form = get_form(conn, key)
            table = compile_form(form).main
            row = dict(conn.execute(sa.select(table).limit(1)).mappings().one())
            row.update(stage=stage, amount=50_000_000)
            changes = Changes(
                form,
                [RecordUpdated(key, row["id"], None, 2, {"amount": ["1", "2"]})],
                {row["id"]: row},
            )
            taken = []
            for _ in range(runs):
                began = time.perf_counter()
                rules_engine.on_record_changes(conn, changes)
                taken.append((time.perf_counter() - began) * 1_000_000)
            conn.rollback()
            print(
                f"  rules subscriber, {key} form, a {stage} record: "
                f"p50 {statistics.median(taken):.0f} µs"
            )


def _wait(context: JobContext) -> None:
    time.sleep(IO_WAIT)


def _drain(url: str) -> None:
    workspace = create_workspace(Settings(database_url=url), engine=make_engine(url))
    worker = Worker(workspace.engine, {**job_handlers(workspace), "bench.io": _wait}, TZ)
    while worker.run_once():
        pass
    workspace.engine.dispose()


def worker_scaling(engine: sa.Engine, url: str, count: int) -> None:
    rates = {}
    for processes in (1, 4):
        with transaction(engine) as conn:
            conn.execute(jobs.delete())
            enqueue_many(conn, "bench.io", [{"n": i} for i in range(count * processes)])
        began = time.perf_counter()
        context = multiprocessing.get_context("spawn")
        workers = [context.Process(target=_drain, args=(url,)) for _ in range(processes)]
        for process in workers:
            process.start()
        for process in workers:
            process.join()
        took = time.perf_counter() - began
        with engine.connect() as conn:
            done = conn.scalar(
                sa.select(sa.func.count()).where(jobs.c.state == "done", jobs.c.kind == "bench.io")
            )
        assert done == count * processes, (done, count * processes)
        rates[processes] = done / took
        print(
            f"{processes} worker process(es): {done} I/O-bound jobs in {took:.1f} s "
            f"= {rates[processes]:.0f} jobs/s"
        )
    print(f"4 workers over 1: {rates[4] / rates[1]:.2f}×")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--saves", type=int, default=1000)
    parser.add_argument("--io-jobs", type=int, default=500, help="jobs per worker process")
    parser.add_argument("--postgres", default="", help="PostgreSQL URL; a scratch schema is used")
    args = parser.parse_args()
    with database_url(args.postgres) as url:
        settings = Settings(
            data_dir=Path(tempfile.mkdtemp(prefix="meridian-bench-")), database_url=url
        )
        workspace = create_workspace(settings, engine=make_engine(settings.resolved_database_url))
        _forms(workspace.engine)
        save_latency(workspace.engine, args.saves)
        rules_cost(workspace.engine)
        if args.postgres:
            worker_scaling(workspace.engine, settings.resolved_database_url, args.io_jobs)


if __name__ == "__main__":
    main()
