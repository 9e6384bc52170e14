"""Import benchmark: a generated CSV of companies through the whole import run, beside raw
``executemany`` of the same rows in the same run.

    python bench/import_bench.py --rows 1000000                 # SQLite in a temp dir
    python bench/import_bench.py --rows 100000 --on-duplicate merge
    python bench/import_bench.py --rows 100000 --postgres postgresql+psycopg://postgres@127.0.0.1/test

The file: 12 columns (name, 统一社会信用代码, three options, phone, e-mail, a date in mixed
spellings and Excel serials, an amount with 万/亿, an integer, a website, a remark), UTF-8;
``--duplicates`` of the rows repeat an earlier company (its name spelled another way, the same
code), ``--bad`` of the rows hold one bad cell each (a date that does not exist, an unknown
option, an amount that is not one, a wrong code, no name). The run goes through everything an
import does: reading, cleansing, conversion, validation, deduplication (``--on-duplicate
merge``; ``keep`` leaves it out), the bulk write path with history, search text and events, and
the outcome rows. Printed: rows/s of the run, the counts, peak RSS and the machine's load, beside
two raw floors run afterwards in the same process on the same database: the fair one
(``fair_raw``: every row the import added to every table, the records with their indexes,
the trigram index, history, events, outcomes, inserted again by plain executemany into copies
of those tables made from their own DDL, a transaction per batch — the import's database work
without its Python) and the old one (the stored records alone into a copy of their table
without its secondary indexes: unequal work, kept for comparison with earlier figures).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import tempfile
import time
from collections.abc import Generator
from pathlib import Path

import sqlalchemy as sa
from fair_raw import high_water, replay, schedstat
from scratch import bench_workspace, database_url

from meridian.dataio import running
from meridian.dataio.dedup_run import duplicate_finder
from meridian.dataio.mapping import suggest_mapping
from meridian.dataio.mappings import suggested
from meridian.dataio.reading import read_sheet
from meridian.dataio.run_rows import Converted, ImportRun
from meridian.dataio.running import begin_import, run_import
from meridian.records.plan import plan_for
from meridian.schema.catalog import get_form
from meridian.schema.model import App, Field, Form, SelectOption
from meridian.schema.values.uscc import organisation_check_character, uscc_check_character
from meridian.solutions.loader import install_solution

INDUSTRIES = ["互联网", "金融", "制造业", "游戏", "政府", "云服务"]
LEVELS = ["A", "B", "C", "D"]
STATES = ["潜在", "活跃", "沉睡"]
PLACES = ["北京", "上海", "深圳", "杭州", "成都", "武汉", "南京", "西安"]
WORDS = "云帆 星河 瀚海 天元 华信 博远 嘉禾 明德 恒通 安泰 鼎盛 锦程 卓越 宏图 启明 远航".split()
TRADES = ["科技", "数据", "网络", "信息技术", "物流", "传媒", "电子", "软件"]


def bench_form() -> tuple[App, list[Form]]:
    def options(labels: list[str]) -> tuple[SelectOption, ...]:
        return tuple(SelectOption(value=f"o{i}", label=label) for i, label in enumerate(labels))

    fields = (
        Field(key="name", label="客户名称", type="text", required=True),
        Field(key="uscc", label="统一社会信用代码", type="uscc", unique=True),
        Field(key="industry", label="行业", type="select", options=options(INDUSTRIES)),
        Field(key="level", label="客户等级", type="select", options=options(LEVELS)),
        Field(key="status", label="客户状态", type="select", options=options(STATES)),
        Field(key="phone", label="手机", type="phone"),
        Field(key="email", label="邮箱", type="email"),
        Field(key="founded", label="成立日期", type="date"),
        Field(key="capital", label="注册资本", type="money"),
        Field(key="employees", label="员工人数", type="integer"),
        Field(key="website", label="官网", type="url"),
        Field(key="remark", label="备注", type="text"),
    )
    app = App(key="bench", label="Bench")
    return app, [
        Form(key="company", app_key="bench", label="客户", fields=fields, title_field="name")
    ]


def uscc(n: int) -> str:
    first8 = f"{n:08d}"
    body = "91110000" + first8 + organisation_check_character(first8)
    return body + uscc_check_character(body)


def company(rng: random.Random, n: int) -> list[str]:
    name = (
        f"{rng.choice(PLACES)}{rng.choice(WORDS)}{rng.choice(WORDS)}{rng.choice(TRADES)}{n}有限公司"
    )
    founded = rng.choice(
        [
            f"{rng.randint(1990, 2023)}年{rng.randint(1, 12)}月{rng.randint(1, 28)}日",
            f"{rng.randint(1990, 2023)}/{rng.randint(1, 12)}/{rng.randint(1, 28)}",
            str(rng.randint(33000, 45000)),
        ]
    )
    capital = rng.choice([f"{rng.randint(1, 999)}万", f"¥{rng.randint(1, 99)},000", "1.2亿"])
    return [
        name,
        uscc(n),
        rng.choice(INDUSTRIES),
        rng.choice(LEVELS),
        rng.choice(STATES),
        f"138 {n % 10000:04d} {rng.randint(0, 9999):04d}",
        f"info{n}@example.com",
        founded,
        capital,
        str(rng.randint(1, 5000)),
        f"https://c{n}.example.com",
        rng.choice(["", "老客户", "展会认识", "转介绍"]),
    ]


HEADER = (
    "客户名称 统一社会信用代码 行业 客户等级 客户状态 手机 邮箱 "
    "成立日期 注册资本 员工人数 官网 备注"
).split()
BAD_CELLS = [(7, "2023-02-30"), (2, "不存在的行业"), (8, "十万"), (1, "12345"), (0, "")]


def write_file(path: Path, rows: int, duplicates: float, bad: float, seed: int = 1) -> None:
    rng = random.Random(seed)
    header = ",".join(HEADER)
    made: list[list[str]] = []
    with path.open("w", encoding="utf-8", newline="") as file:
        out = csv.writer(file)
        out.writerow(header.split(","))
        for n in range(rows):
            roll = rng.random()
            if roll < duplicates and len(made) > 100:
                row = list(rng.choice(made[-5000:]))
                row[0] = row[0].replace("有限公司", "有限责任公司")
                row[11] = "重复"
            else:
                row = company(rng, n)
                made.append(row)
                if len(made) > 10000:
                    del made[:5000]
            if duplicates <= roll < duplicates + bad:
                column, cell = BAD_CELLS[n % len(BAD_CELLS)]
                row = list(row)
                row[column] = cell
            out.writerow(row)


def raw_executemany(engine: sa.Engine, table: sa.Table, batch: int) -> tuple[int, float, float]:
    """The stored rows inserted again into a copy of the table by plain executemany, a batch
    per transaction: the old floor, the records alone without the table's secondary indexes
    (unequal work: see ``fair_raw`` for the equal one). The rows are read a batch at a time (a
    million rows held at once would be gigabytes); only the inserts are timed."""
    copy = sa.Table(
        "bench_raw_copy",
        sa.MetaData(),
        *(sa.Column(c.name, c.type, primary_key=c.primary_key) for c in table.c),
    )
    copy.create(engine)
    taken, cpu, copied, after = 0.0, 0.0, 0, -1
    while True:
        with engine.connect() as conn:
            query = sa.select(table).where(table.c.id > after).order_by(table.c.id).limit(batch)
            rows = [dict(r._mapping) for r in conn.execute(query)]
        if not rows:
            break
        started, cpu_started = time.perf_counter(), time.process_time()
        with engine.begin() as conn:
            conn.execute(copy.insert(), rows)
        taken += time.perf_counter() - started
        cpu += time.process_time() - cpu_started
        copied += len(rows)
        after = rows[-1]["id"]
    return copied, taken, cpu


def run(
    rows: int,
    url: str,
    on_duplicate: str,
    duplicates: float,
    bad: float,
    batch: int,
    ahead: bool,
    folder: Path,
) -> None:
    workspace, actor = bench_workspace(folder / "data", url)
    engine = workspace.engine
    app, forms = bench_form()
    install_solution(engine, actor, app, forms)
    path = folder / "companies.csv"
    started = time.perf_counter()
    write_file(path, rows, duplicates, bad)
    print(
        f"database: {engine.dialect.name}; file: {rows:,} rows, 12 columns, "
        f"{path.stat().st_size / 1e6:.0f} MB, written in {time.perf_counter() - started:.0f} s"
    )
    with engine.connect() as conn:
        form = get_form(conn, "company")
    mapping = suggested(form, suggest_mapping(read_sheet(path).header, form))
    assert sum(1 for c in mapping.columns if c.field) == 12, mapping
    marks = high_water(engine) if engine.dialect.name == "sqlite" else {}
    load_before = os.getloadavg()
    sched_before = schedstat()
    started = time.perf_counter()
    cpu_started = time.process_time()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    child_cpu_before = before.ru_utime + before.ru_stime
    state, _ = begin_import(engine, actor, "company", path, mapping, on_duplicate=on_duplicate)
    finder = duplicate_finder(
        actor=actor, form=form, mode=on_duplicate, tz=workspace.tz, batch_key=str(state.id)
    )

    waited = _time_waits_on_the_converting_process() if ahead else [0.0]

    def progress(p: object) -> None:
        done = getattr(p, "rows_done", 0)
        if done % 50_000 < batch:
            print(f"  {done:,} rows, {getattr(p, 'rows_per_second', 0):,.0f} rows/s", flush=True)

    state = run_import(
        engine,
        actor,
        state,
        path,
        mapping,
        workspace.tz,
        finder=finder,
        batch_rows=batch,
        on_progress=progress,
        ahead=ahead,
    )
    taken = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    sched = [after - before for after, before in zip(schedstat(), sched_before, strict=True)]
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    child_cpu = children.ru_utime + children.ru_stime - child_cpu_before
    load_after = os.getloadavg()
    how = "converting ahead in a second process" if ahead else "in one process"
    print(
        f"import ({on_duplicate}, {how}): {rows:,} rows in {taken:.1f} s"
        f" = {rows / taken:,.0f} rows/s"
    )
    print(f"  CPU time of this process {cpu:.1f} s = {rows / cpu:,.0f} rows per CPU-second")
    if ahead:
        total = cpu + child_cpu
        print(
            f"  CPU time of the converting process {child_cpu:.1f} s; both"
            f" {total:.1f} s = {rows / total:,.0f} rows per CPU-second"
        )
        print(
            f"  the writer waited for converted batches {waited[0]:.1f} s of {taken:.1f} s"
            f" ({waited[1]:.1f} s of it for the first)"
        )
    print(
        f"  the writing thread: {sched[0]:.1f} s on a core, {sched[1]:.1f} s waiting for one,"
        f" {taken - sched[0] - sched[1]:.1f} s blocked (reading batches, the disk)"
    )
    print(f"  {state.summary()}")
    if marks:
        fair_raw(engine, marks, -(-rows // batch), state.id, rows, taken, sched[0])
    table = plan_for(form).tables.main
    copied, raw_taken, raw_cpu = raw_executemany(engine, table, batch)
    print(
        f"old raw (the records alone, no secondary indexes, SQLAlchemy executemany): {copied:,}"
        f" rows in {raw_taken:.1f} s = {copied / raw_taken:,.0f} rows/s"
    )
    print(f"  CPU time {raw_cpu:.1f} s = {copied / raw_cpu:,.0f} rows per CPU-second")
    print(f"import / old raw: {taken / rows / (raw_taken / copied):.1f}x the time per row")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"peak RSS {peak:.0f} MB; load average before {load_before[0]:.1f},"
        f" after {load_after[0]:.1f} on {os.cpu_count()} cores"
    )
    assert state.created + state.updated + state.merged + state.rejected == rows


def fair_raw(
    engine: sa.Engine,
    marks: dict[str, int],
    transactions: int,
    import_id: int,
    rows: int,
    taken: float,
    writer_on_core: float,
) -> None:
    """The import's database work replayed as plain executemany (``fair_raw.replay``), its
    figures beside the import's: rows/s counted in the file's rows, as the import's are."""
    done = replay(engine, marks, transactions, import_id)
    wall = done.wall + done.merge_wall
    cpu = done.on_core + done.merge_cpu
    tables = ", ".join(
        f"{name} {count:,} ({done.by_table.get(name, 0.0) / rows * 1e6:.1f})"
        for name, count in done.rows.items()
    )
    print(
        f"fair raw (the import's rows into copies of its tables with their indexes, plain"
        f" executemany, {done.transactions:,} transactions): {done.total_rows:,} rows"
        f" in {wall:.1f} s = {rows / wall:,.0f} file rows/s"
    )
    print(f"  rows (the writing thread's µs per file row in their executemany): {tables}")
    print(
        f"  the writing thread: {cpu:.1f} s on a core = {rows / cpu:,.0f} file rows per"
        f" CPU-second, {done.waiting:.1f} s waiting for one; of it the search index's merge"
        f" {done.merge_cpu:.1f} s ({done.merge_steps} steps)"
    )
    print(
        f"import / fair raw: {taken / wall:.1f}x the time, {writer_on_core / cpu:.1f}x the"
        " writing thread's time on a core"
    )


def _time_waits_on_the_converting_process() -> list[float]:
    """The seconds the writer spends waiting for the next converted batch (and for the first
    alone): the converting process keeps ahead when this stays near the first batch's wait."""
    waited = [0.0, 0.0]
    handed = running.converted_batches

    def timed(run: ImportRun) -> Generator[Converted, None, None]:
        batches = handed(run)
        first = True
        try:
            while True:
                started = time.perf_counter()
                try:
                    batch = next(batches)
                except StopIteration:
                    return
                finally:
                    spent = time.perf_counter() - started
                    waited[0] += spent
                    if first:
                        waited[1], first = spent, False
                yield batch
        finally:
            batches.close()

    running.converted_batches = timed  # type: ignore[assignment]
    return waited


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--postgres", default="")
    parser.add_argument("--on-duplicate", default="merge", choices=["keep", "merge", "skip"])
    parser.add_argument("--duplicates", type=float, default=0.05)
    parser.add_argument("--bad", type=float, default=0.02)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument(
        "--ahead",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="convert the next batches in a second process, as `meridian import` does",
    )
    args = parser.parse_args()
    # The folder goes when the run ends: a million rows leave about 2 GB of database and file.
    with (
        database_url(args.postgres) as url,
        tempfile.TemporaryDirectory(prefix="meridian-import-bench-") as folder,
    ):
        run(
            args.rows,
            url,
            args.on_duplicate,
            args.duplicates,
            args.bad,
            args.batch,
            args.ahead,
            Path(folder),
        )


if __name__ == "__main__":
    main()
