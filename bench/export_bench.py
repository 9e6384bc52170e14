"""Export benchmark: a form of ``--rows`` records (text, select, money, date, link, user and
phone fields) exported as .csv and .xlsx the way ``meridian export`` does, each in a process of
its own so its peak RSS is its own. Goal (issue 19): 1M rows at ≥ 50,000 rows/s, peak RSS
under 300 MB.

    python bench/export_bench.py --rows 1000000
    python bench/export_bench.py --postgres postgresql+psycopg://postgres@127.0.0.1/test

The records are written straight into the table (one executemany per 10,000 rows): the bench
measures the export, not the write path.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from scratch import database_url

from meridian.app import create_workspace
from meridian.core.actor import Actor
from meridian.dataio.export import export_rows, spec_of, write_csv, write_xlsx
from meridian.dataio.xlsx_stream import write_sheet
from meridian.db.bulk import insert_many
from meridian.schema import changes
from meridian.schema.catalog import get_form
from meridian.schema.compile import compile_form
from meridian.schema.model import App, Form, parse_model
from meridian.settings import Settings

DEAL = {
    "app_key": "bench",
    "key": "deal",
    "label": "商机",
    "title_field": "name",
    "fields": [
        {"key": "name", "label": "商机名称", "type": "text"},
        {
            "key": "stage",
            "label": "阶段",
            "type": "select",
            "options": [{"value": f"s{i}", "label": f"阶段{i}"} for i in range(6)],
        },
        {"key": "amount", "label": "金额", "type": "money"},
        {"key": "signed", "label": "签约日", "type": "date"},
        {"key": "phone", "label": "电话", "type": "phone"},
        {"key": "customer", "label": "客户", "type": "link", "target": "customer"},
        {"key": "city", "label": "城市", "type": "text"},
        {"key": "note", "label": "备注", "type": "text"},
    ],
}
CUSTOMER = {
    "app_key": "bench",
    "key": "customer",
    "label": "客户",
    "title_field": "name",
    "fields": [{"key": "name", "label": "客户名称", "type": "text"}],
}


def _settings(url: str, data: Path) -> Settings:
    return Settings(data_dir=data, **({"database_url": url} if url else {}))


def fill(url: str, data: Path, rows: int) -> None:
    workspace = create_workspace(_settings(url, data))
    system = Actor.system()
    now = datetime.now(UTC)
    with workspace.transaction() as conn:
        changes.create_app(conn=conn, actor=system, app=App(key="bench", label="Bench"))
        for definition in (CUSTOMER, DEAL):
            changes.create_form(conn=conn, actor=system, form=parse_model(Form, definition))
        customers = compile_form(get_form(conn, "customer")).main
        base = {"_version": 1, "owner_id": None, "created_at": now, "updated_at": now}
        insert_many(
            conn,
            customers,
            [{"id": i, "name": f"客户{i:05d}有限公司", **base} for i in range(1, 1001)],
        )
        deals = compile_form(get_form(conn, "deal")).main
    for start in range(0, rows, 10_000):
        with workspace.transaction() as conn:
            insert_many(
                conn,
                deals,
                [
                    {
                        "id": i + 1,
                        "name": f"IDC 托管项目 {i}",
                        "stage": f"s{i % 6}",
                        "amount": 123_456 + i,
                        "signed": datetime(2026, 1 + i % 12, 1 + i % 28).date(),
                        "phone": f"+86138{i % 100_000_000:08d}",
                        "customer": 1 + i % 1000,
                        "city": "上海",
                        "note": "机柜 42U，带宽 100M",
                        **base,
                    }
                    for i in range(start, min(start + 10_000, rows))
                ],
            )
    workspace.engine.dispose()


def export(url: str, data: Path, fmt: str) -> None:
    workspace = create_workspace(_settings(url, data))
    out = data / f"deals.{fmt}"
    started, cpu = time.perf_counter(), time.process_time()
    with workspace.read() as conn:
        form = get_form(conn, "deal")
        actor = Actor.system()
        exported = export_rows(
            conn=conn, actor=actor, form=form, spec=spec_of(conn, actor, form), tz=workspace.tz
        )
        if fmt == "csv":
            with out.open("w", encoding="utf-8", newline="") as file:
                written = write_csv(exported, file)
        else:
            written = write_xlsx(exported, out)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size = out.stat().st_size / 1e6
    print(
        f"{fmt}: {written:,} rows in {elapsed:.1f} s = {written / elapsed:,.0f} rows/s wall, "
        f"CPU {cpu:.1f} s = {written / cpu:,.0f} rows per CPU-second; "
        f"peak RSS {peak:.0f} MB, file {size:.0f} MB; load {os.getloadavg()[0]:.1f}"
    )
    floors = ["csv"] if fmt == "csv" else ["xlsx_stream", "xlsxwriter"]
    for floor in floors:
        raw_rows, raw_cpu = raw_read(workspace, data / f"raw.{fmt}", floor)
        print(
            f"  raw SQL reading the same rows (no formatting) into a {fmt} file by {floor}:"
            f" CPU {raw_cpu:.1f} s = {raw_rows / raw_cpu:,.0f} rows per CPU-second"
        )


def raw_read(workspace: object, out: Path, fmt: str) -> tuple[int, float]:
    """The floor: the deal columns read by plain SQL, in id order, each row written as the
    driver gives it (csv.writer; Meridian's .xlsx stream; or XlsxWriter's write_row in
    constant-memory mode, the fastest general .xlsx writer in one process)."""
    import csv

    import sqlalchemy as sa
    import xlsxwriter

    query = sa.text(
        "SELECT id, name, stage, amount, signed, phone, customer, city, note, owner_id"
        " FROM data_deal WHERE deleted_at IS NULL ORDER BY id"
    )
    cpu = time.process_time()
    written = 0
    with workspace.read() as conn:  # type: ignore[attr-defined]
        result = conn.execute(query.execution_options(stream_results=True, yield_per=2000))
        if fmt == "csv":
            with out.open("w", encoding="utf-8", newline="") as file:
                writer = csv.writer(file)
                for partition in result.partitions():
                    writer.writerows(partition)
                    written += len(partition)
        elif fmt == "xlsx_stream":
            rows = (row for partition in result.partitions() for row in partition)
            written = write_sheet(out, list(result.keys()), rows)
        else:
            book = xlsxwriter.Workbook(str(out), {"constant_memory": True})
            sheet = book.add_worksheet()
            for partition in result.partitions():
                for row in partition:
                    written += 1
                    sheet.write_row(written, 0, row)
            book.close()
    return written, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--postgres", default="")
    parser.add_argument("--formats", nargs="+", default=["csv", "xlsx"], choices=["csv", "xlsx"])
    parser.add_argument(
        "--export", nargs=3, metavar=("URL", "DATA", "FORMAT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.export:
        url, data, fmt = args.export
        export("" if url == "-" else url, Path(data), fmt)
        return
    with (
        database_url(args.postgres) as url,
        tempfile.TemporaryDirectory(prefix="meridian-export-bench-") as folder,
    ):
        data = Path(folder)  # a million rows' database and files (~0.5 GB), removed at the end
        started = time.perf_counter()
        fill(url, data, args.rows)
        print(
            f"filled {args.rows:,} rows in {time.perf_counter() - started:.1f} s;"
            f" load {os.getloadavg()[0]:.1f}"
        )
        for fmt in args.formats:
            subprocess.run(
                [sys.executable, __file__, "--export", url or "-", str(data), fmt], check=True
            )


if __name__ == "__main__":
    main()
