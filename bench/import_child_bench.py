"""The import's converting process alone: CPU per row of reading the file, converting each
batch (``BatchConverter.convert_cells(derive=True)``), packing and pickling it (the child's
share), and unpickling and unpacking it (the writer's share), in this one process.

    python bench/import_child_bench.py --rows 200000
    python bench/import_child_bench.py --rows 200000 --profile 30   # cProfile of the child part

The file is ``import_bench``'s (same generator, seed and columns). Printed: µs of CPU per row for
each part, the child's total and the parent's unpack, and the pickled bytes per row.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pickle
import pstats
import tempfile
import time
from pathlib import Path

from import_bench import bench_form, write_file
from scratch import bench_workspace

from meridian.dataio import run_ahead
from meridian.dataio.mapping import suggest_mapping
from meridian.dataio.mappings import suggested
from meridian.dataio.reading import read_sheet
from meridian.dataio.resolving import Resolver
from meridian.dataio.run_rows import BatchConverter, ImportRun
from meridian.schema.catalog import get_form
from meridian.schema.fieldtypes import ValueContext
from meridian.solutions.loader import install_solution


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--profile", type=int, default=0, help="print the top N functions")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="meridian-child-bench-"))
    workspace, actor = bench_workspace(folder / "data", "")
    engine = workspace.engine
    app, forms = bench_form()
    install_solution(engine, actor, app, forms)
    path = folder / "companies.csv"
    write_file(path, args.rows, 0.05, 0.02)
    with engine.connect() as conn:
        form = get_form(conn, "company")
        mapping = suggested(form, suggest_mapping(read_sheet(path).header, form))
        resolver = Resolver(conn, actor, form, mapping.link_keys, workspace.tz)
    converter = BatchConverter(form, mapping, resolver, ValueContext(workspace.tz))
    run = ImportRun(converter, path, None, mapping.header_row, args.batch)

    gc.freeze()  # as the run does before it forks its converting process
    chunks = run.chunks()
    read = 0.0
    profiler = cProfile.Profile() if args.profile else None
    spent = dict.fromkeys(["convert", "pack", "dumps", "loads", "unpack"], 0.0)
    size = 0
    while True:
        started = time.process_time()
        chunk = next(chunks, None)
        t0 = time.process_time()
        read += t0 - started
        if chunk is None:
            break
        if profiler:
            profiler.enable()
        converted = converter.convert_cells(chunk, derive=True)
        t1 = time.process_time()
        packed = run_ahead._packed(converted)
        t2 = time.process_time()
        data = pickle.dumps(("batch", packed), protocol=pickle.HIGHEST_PROTOCOL)
        t3 = time.process_time()
        if profiler:
            profiler.disable()
        _, back = pickle.loads(data)
        t4 = time.process_time()
        run_ahead.unpacked(back)
        t5 = time.process_time()
        size += len(data)
        for key, a, b in (
            ("convert", t0, t1),
            ("pack", t1, t2),
            ("dumps", t2, t3),
            ("loads", t3, t4),
            ("unpack", t4, t5),
        ):
            spent[key] += b - a
    rows = args.rows
    per = {key: value / rows * 1e6 for key, value in spent.items()}
    child = read / rows * 1e6 + per["convert"] + per["pack"] + per["dumps"]
    print(
        f"{rows:,} rows, µs CPU per row: read {read / rows * 1e6:.1f},"
        f" convert {per['convert']:.1f},"
        f" pack {per['pack']:.1f}, dumps {per['dumps']:.1f} | child {child:.1f}"
        f" | parent: loads {per['loads']:.1f}, unpack {per['unpack']:.1f}"
        f" = {per['loads'] + per['unpack']:.1f}; {size / rows:.0f} bytes per row"
    )
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)


if __name__ == "__main__":
    main()
