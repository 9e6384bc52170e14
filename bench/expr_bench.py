"""Expression benchmark: compiled conditions against hand-written SQL, and the Python closure.

    python bench/expr_bench.py --scale 1000000
    python bench/expr_bench.py --scale 1000000 --postgres postgresql+psycopg://postgres@127.0.0.1/test

For each condition a builder might write, the bench counts the matching rows of a table of
``--scale`` deals twice in the same run: through ``CompiledExpression.to_sql`` and through the SQL
a developer would write by hand. It prints both p50 times and their ratio (the target is 1.2×
at most), checks that both counts agree, then times the Python closure over generated records
(the target is 200,000 records/s).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from meridian.db.statistics import refresh_stale
from meridian.expr import ExprType, FieldInfo, Scope, SqlScope, compile_expression

TODAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
REGIONS = ["华东", "华南", "华北", "西南", "东北"]
STAGES = ["lead", "proposal", "negotiation", "won", "lost"]

METADATA = sa.MetaData()
DEALS = sa.Table(
    "bench_deals",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("amount", sa.BigInteger),  # money, scale 2: cents
    sa.Column("probability", sa.BigInteger),
    sa.Column("region", sa.Text),
    sa.Column("stage", sa.Text),
    sa.Column("close_date", sa.Date),
)
SCOPE = Scope(
    fields={
        "amount": FieldInfo("amount", "预计金额", ExprType.NUMBER, scale=2),
        "probability": FieldInfo("probability", "赢率", ExprType.NUMBER),
        "region": FieldInfo("region", "区域", ExprType.TEXT),
        "stage": FieldInfo("stage", "阶段", ExprType.TEXT),
        "close_date": FieldInfo("close_date", "预计成交日期", ExprType.DATE),
    }
)
SQL_SCOPE = SqlScope(columns={key: DEALS.c[key] for key in SCOPE.fields})

# (expression, hand-written WHERE clause); :since is TODAY - 90 days.
CONDITIONS = [
    ('amount > 100000 and region in ["华东", "华南"]',
     "amount > 10000000 AND region IN ('华东', '华南')"),
    ('stage != "lost" and close_date >= DATEADD(TODAY(), -90, "d")',
     "stage <> 'lost' AND close_date >= :since"),
    ("amount * probability / 100 >= 50000 or ISBLANK(close_date)",
     "amount / 100.0 * probability / 100 >= 50000 OR close_date IS NULL"),
]  # fmt: skip


def fill(engine: Engine, scale: int) -> None:
    """``scale`` rows written by one INSERT … SELECT, so filling takes seconds, not minutes."""
    METADATA.create_all(engine)
    regions = " ".join(f"WHEN {i} THEN '{r}'" for i, r in enumerate(REGIONS))
    stages = " ".join(f"WHEN {i} THEN '{s}'" for i, s in enumerate(STAGES))
    if engine.dialect.name == "postgresql":
        source = "SELECT n FROM generate_series(1, CAST(:scale AS bigint)) AS n"
        close = "DATE '2024-01-01' + CAST(n * 7919 % 1200 AS integer)"
    else:
        source = (
            "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < :scale) "
            "SELECT n FROM s"
        )
        close = "date('2024-01-01', '+' || (n * 7919 % 1200) || ' days')"
    insert = f"""
        INSERT INTO bench_deals (id, amount, probability, region, stage, close_date)
        SELECT n, (n * 104729) % 50000000, n % 101,
               CASE n % {len(REGIONS)} {regions} END,
               CASE n % {len(STAGES)} {stages} END,
               CASE WHEN n % 17 = 0 THEN NULL ELSE {close} END
        FROM ({source}) AS numbers
    """
    with engine.begin() as conn:
        conn.execute(sa.text(insert), {"scale": scale})
    # Written behind Meridian's back, so what Meridian does about it: its statistics job.
    refresh_stale(engine)


def interleaved(runs: int, first: Callable[[], int], second: Callable[[], int]) -> list[float]:
    """p50 milliseconds of each action, run turn about so a busy machine slows both alike."""
    samples: list[list[float]] = [[], []]
    for _ in range(runs):
        for action, times in ((first, samples[0]), (second, samples[1])):
            start = time.perf_counter()
            action()
            times.append((time.perf_counter() - start) * 1000)
    return [statistics.median(times) for times in samples]


def bench_sql(engine: Engine, runs: int) -> None:
    since = TODAY - timedelta(days=90)
    for source, hand in CONDITIONS:
        compiled = compile_expression(source, SCOPE)
        where = compiled.to_sql(SQL_SCOPE, dialect=engine.dialect, today=TODAY, now=NOW)
        through_expr = sa.select(sa.func.count()).select_from(DEALS).where(where)
        by_hand = sa.text(f"SELECT count(*) FROM bench_deals WHERE {hand}")

        def run_expr(query: Any = through_expr) -> int:
            with engine.connect() as conn:
                return int(conn.execute(query).scalar_one())

        def run_hand(query: Any = by_hand) -> int:
            with engine.connect() as conn:
                return int(conn.execute(query, {"since": since}).scalar_one())

        expr_count, hand_count = run_expr(), run_hand()
        expr_ms, hand_ms = interleaved(runs, run_expr, run_hand)
        assert expr_count == hand_count, (source, expr_count, hand_count)
        print(
            f"{source}\n    {expr_count:,} rows  expr p50 {expr_ms:.0f} ms  "
            f"hand SQL p50 {hand_ms:.0f} ms  ratio {expr_ms / hand_ms:.2f}x"
        )


def bench_closure(count: int) -> None:
    rng = random.Random(7)
    records = [
        {
            "amount": Decimal(rng.randrange(50_000_000)).scaleb(-2),
            "probability": rng.randrange(101),
            "region": rng.choice(REGIONS),
            "stage": rng.choice(STAGES),
            "close_date": None if rng.random() < 0.06 else TODAY - timedelta(rng.randrange(1200)),
        }
        for _ in range(count)
    ]
    for source, _hand in CONDITIONS:
        compiled = compile_expression(source, SCOPE)
        took = math.inf
        for _ in range(3):  # the best of three, as timeit does: the rest is other processes
            start = time.perf_counter()
            for record in records:
                compiled.evaluate(record, today=TODAY, now=NOW)
            took = min(took, time.perf_counter() - start)
        print(f"Python closure: {count / took:,.0f} records/s  {source}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--closure-records", type=int, default=200_000)
    parser.add_argument("--postgres", default="", help="PostgreSQL URL; a scratch schema is used")
    args = parser.parse_args()
    if args.postgres:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        url = sa.make_url(args.postgres).update_query_dict({"options": f"-csearch_path={schema}"})
        engine = sa.create_engine(url)
    else:
        engine = sa.create_engine("sqlite://")
    try:
        start = time.perf_counter()
        fill(engine, args.scale)
        print(f"{engine.dialect.name}: {args.scale:,} deals in {time.perf_counter() - start:.1f} s")
        bench_sql(engine, args.runs)
        bench_closure(args.closure_records)
    finally:
        engine.dispose()
        if args.postgres:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    main()
