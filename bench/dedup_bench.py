"""Duplicate detection benchmark: a file of companies checked against the stored customers, in
batches as an import runs it, beside a raw SQL lookup of the same batches' exact keys in the
same run — and, with ``--before FILE``, beside an earlier ``dataio/dedup.py`` (say
``git show <commit>:meridian/dataio/dedup.py > /tmp/dedup_before.py``) on the same data.

    python bench/dedup_bench.py --stored 100000 --rows 100000
    python bench/dedup_bench.py --stored 100000 --rows 100000 --before /tmp/dedup_before.py \\
        --before-batches 10
    python bench/dedup_bench.py --postgres postgresql+psycopg://postgres@127.0.0.1/scratch

The names: a place, a two-character brand drawn from 300 characters, a trade word, a legal
suffix. ``--duplicates`` of the file's rows repeat a stored company under another suffix or
with brackets and spaces, ``--slips`` of them with one character dropped; the rest are new.
Printed per detector: CPU seconds of this process (``time.process_time``), wall seconds, the
pairs found, and how many of the planted duplicates and slips were found; with ``--before``,
whether both found the very same pairs (row, partner, reason, score).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from scratch import bench_workspace, database_url

from meridian.dataio import dedup
from meridian.records.bulk import create_records
from meridian.records.plan import plan_for
from meridian.schema.catalog import get_form
from meridian.schema.model import App, Field, Form
from meridian.schema.values.company import name_key
from meridian.solutions.loader import install_solution

PLACES = ["北京", "上海", "深圳", "杭州", "成都", "武汉", "南京", "西安", "广州", "苏州", ""]
BRAND = (
    "云帆星河瀚海天元华信博远嘉禾明德恒通安泰鼎盛锦程卓越宏图启航远景中科联创新锐智汇"
    "睿达凯盛腾飞融通永信立德东方南风北辰西岭金桥银河海纳百川千禧万象龙腾虎跃鹏程九州"
    "神州华夏长城泰山黄河长江珠江太湖西湖钱塘紫金玄武白云青山绿水红星蓝天碧海丹霞彩虹"
    "朝阳晨曦光明昊天浩然正大宏远广厦高新科兴昌隆丰泽富源康宁福瑞祥和吉泰顺达通达畅通"
    "精工巧匠匠心诚信守正创新求实务本致远思源德润惠民普惠优品尚品臻品至诚至善同心同德"
    "协力众合合众联合集成互联物联数联云联易联快联微联网联视联音联图灵图腾晶芯芯源芯动"
)
TRADES = ["科技", "数据", "网络科技", "信息技术", "物流", "传媒", "电子", "软件", "贸易", "咨询"]
SUFFIXES = ["有限公司", "股份有限公司", "有限责任公司"]


def bench_form() -> tuple[App, list[Form]]:
    fields = (
        Field(key="name", label="客户名称", type="text", required=True),
        Field(key="uscc", label="统一社会信用代码", type="uscc"),
        Field(key="email", label="邮箱", type="email"),
    )
    app = App(key="bench", label="Bench")
    return app, [
        Form(key="company", app_key="bench", label="客户", fields=fields, title_field="name")
    ]


def companies(rng: random.Random, count: int) -> list[str]:
    seen: set[str] = set()
    names: list[str] = []
    while len(names) < count:
        brand = "".join(rng.choice(BRAND) for _ in range(rng.choice([2, 2, 3, 4])))
        name = f"{rng.choice(PLACES)}{brand}{rng.choice(TRADES)}"
        key = name_key(name)
        if key not in seen:
            seen.add(key)
            names.append(name + rng.choice(SUFFIXES))
    return names


def slip(rng: random.Random, name: str) -> str:
    """One character of the name's key after the place dropped (a slip of the typist's)."""
    key = name_key(name)
    position = rng.randrange(2, len(key))
    return key[:position] + key[position + 1 :] + "有限公司"


def load_before(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location("dedup_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["dedup_before"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def run(args: argparse.Namespace, url: str) -> None:
    folder = Path(tempfile.mkdtemp(prefix="meridian-dedup-bench-"))
    workspace, actor = bench_workspace(folder / "data", url)
    engine = workspace.engine
    app, forms = bench_form()
    install_solution(engine, actor, app, forms)
    with engine.connect() as conn:
        form = get_form(conn, "company")
    rng = random.Random(7)
    names = companies(rng, args.stored + args.rows)
    stored, fresh = names[: args.stored], names[args.stored :]
    started = time.perf_counter()
    for start in range(0, len(stored), 1000):
        with engine.begin() as conn:
            items = [{"name": n} for n in stored[start : start + 1000]]
            create_records(conn=conn, actor=actor, form=form, items=items)
    print(
        f"database: {engine.dialect.name}; {len(stored):,} customers stored through the write "
        f"path in {time.perf_counter() - started:.0f} s"
    )
    rows: list[tuple[int, dict[str, Any]]] = []
    planted: dict[int, str] = {}
    for number in range(2, args.rows + 2):
        roll = rng.random()
        if roll < args.duplicates:
            original = rng.choice(stored)
            variant = original.replace("有限公司", "有限责任公司").replace("科技", " 科技 ")
            rows.append((number, {"name": variant}))
            planted[number] = "duplicate"
        elif roll < args.duplicates + args.slips:
            rows.append((number, {"name": slip(rng, rng.choice(stored))}))
            planted[number] = "slip"
        else:
            rows.append((number, {"name": fresh[number - 2]}))
    batches = [rows[i : i + args.batch] for i in range(0, len(rows), args.batch)]
    table = plan_for(form).tables.main
    print(
        f"file: {len(rows):,} rows in batches of {args.batch}; planted "
        f"{sum(1 for v in planted.values() if v == 'duplicate'):,} duplicates and "
        f"{sum(1 for v in planted.values() if v == 'slip'):,} one-character slips; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )

    def raw(conn: sa.Connection, batch: list[tuple[int, dict[str, Any]]]) -> list[Any]:
        keys = sorted({name_key(values["name"]) for _, values in batch})
        statement = sa.select(table.c.id, table.c._name_key).where(
            table.c._name_key.in_(keys), table.c.deleted_at.is_(None)
        )
        return list(conn.execute(statement).all())

    def measure(label: str, find: Callable[..., Any], count: int) -> list[Any]:
        cpu, wall = time.process_time(), time.perf_counter()
        found: list[Any] = []
        with engine.connect() as conn:
            for batch in batches[:count]:
                found.extend(find(conn, batch))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        rows_done = sum(len(b) for b in batches[:count])
        if label.startswith("raw"):
            print(f"{label}: {rows_done:,} rows, CPU {cpu:.2f} s, wall {wall:.2f} s")
            return found
        paired = {c.row for c in found if c.record_id is not None}
        wanted = {n for n, kind in planted.items() if n < rows_done + 2}
        hits = {
            kind: sum(1 for n in wanted if planted[n] == kind and n in paired)
            for kind in ("duplicate", "slip")
        }
        totals = {
            kind: sum(1 for n in wanted if planted[n] == kind) for kind in ("duplicate", "slip")
        }
        print(
            f"{label}: {rows_done:,} rows, CPU {cpu:.2f} s ({rows_done / cpu:,.0f} rows per CPU-s),"
            f" wall {wall:.2f} s; {len(found):,} pairs; duplicates found "
            f"{hits['duplicate']:,}/{totals['duplicate']:,}, slips found "
            f"{hits['slip']:,}/{totals['slip']:,}"
        )
        return found

    def finder(module: Any) -> Callable[..., Any]:
        def find(conn: sa.Connection, batch: list[tuple[int, dict[str, Any]]]) -> Any:
            return module.find_duplicates(
                conn=conn, actor=actor, form=form, rows=batch, tz=workspace.tz
            )

        return find

    measure("raw SQL, exact keys IN (...)", raw, len(batches))
    measure("find_duplicates (name keys)", finder(dedup), len(batches))
    if args.before:
        before = measure(
            f"find_duplicates before ({args.before.name}, first {args.before_batches} batches)",
            finder(load_before(args.before)),
            args.before_batches,
        )
        after = measure(
            f"find_duplicates (name keys), first {args.before_batches} batches",
            finder(dedup),
            args.before_batches,
        )
        # Candidates of two modules are two classes: compared by their fields.
        same = [vars(c) for c in before] == [vars(c) for c in after]
        print(f"the same pairs, field for field, as before: {'yes' if same else 'NO'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stored", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--duplicates", type=float, default=0.05)
    parser.add_argument("--slips", type=float, default=0.02)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--before", type=Path, default=None)
    parser.add_argument("--before-batches", type=int, default=10)
    parser.add_argument("--postgres", default="")
    args = parser.parse_args()
    with database_url(args.postgres) as url:
        run(args, url)


if __name__ == "__main__":
    main()
