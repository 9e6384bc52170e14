"""Reports benchmark: the IDC management cockpit over a million opportunities.

    python bench/reports_bench.py --opportunities 1000000                 # SQLite under /tmp
    python bench/reports_bench.py --opportunities 1000000 --postgres postgresql+psycopg://postgres@127.0.0.1/test

The data set (``reports_data``: the IDC sample with its stage history, grown by set-based
copies, kept between runs) is built once per size and schema. Figures printed, for an
administrator (every row) and a rep (own records only): each card of the cockpit through the
report service (compile, one aggregating statement, labels and drill-downs) beside the same
statement run as plain SQL text through the driver in the same run (ratio); then the whole
cockpit one card after another, as the browser asks for it — every card at once, each on its
own connection (``--threads``) — and shown again with no write between (the results
``reports.cache`` kept). Wall time beside the process's CPU time and the load.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from reports_data import bench_data

from meridian.core.actor import Actor
from meridian.http.deps import Workspace
from meridian.reports import cache, store
from meridian.reports.compiler import compile_report
from meridian.reports.model import ReportDefinition
from meridian.reports.service import report_data


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def p50(runs: int, action: Callable[[], Any]) -> tuple[float, float]:
    """Median wall and CPU milliseconds of ``runs`` calls."""
    walls, cpus = [], []
    for _ in range(runs):
        started, used = time.perf_counter(), cpu()
        action()
        walls.append((time.perf_counter() - started) * 1000)
        cpus.append((cpu() - used) * 1000)
    return statistics.median(walls), statistics.median(cpus)


def card_ids(workspace: Workspace, actor: Actor) -> list[int]:
    with workspace.read() as conn:
        home = store.home_dashboard(conn=conn, actor=actor, app_key="idc_crm")
    assert home is not None
    return [card["report_id"] for card in home["definition"]["cards"]]


def per_card(workspace: Workspace, admin: Actor, cards: list[int], runs: int) -> None:
    with workspace.read() as conn:
        labels = {r["id"]: r for r in store.listing(conn=conn, actor=admin, kind="report")}
    print(f"{'card':<34}{'service ms':>11}{'cpu':>7}{'raw SQL ms':>11}{'cpu':>7}{'ratio':>7}")
    for report_id in cards:
        definition = ReportDefinition.model_validate(labels[report_id]["definition"])

        def service(report_id: int = report_id) -> None:
            cache.results.clear()  # computed, not the kept result
            with workspace.read() as conn:
                report_data(conn=conn, actor=admin, report_id=report_id, tz=workspace.tz)

        with workspace.read() as conn:
            compiled = compile_report(
                conn=conn, actor=admin, definition=definition, tz=workspace.tz
            )
            text = str(
                compiled.statement.compile(
                    dialect=conn.dialect, compile_kwargs={"literal_binds": True}
                )
            )

        def raw(text: str = text) -> None:
            with workspace.engine.connect() as conn:
                conn.exec_driver_sql(text).fetchall()

        service()  # warm
        raw_ms, raw_cpu = p50(runs, raw)
        service_ms, service_cpu = p50(runs, service)
        label = labels[report_id]["label"][:14]
        print(
            f"{label:<{34 - _wide(label)}}{service_ms:>11.1f}{service_cpu:>7.0f}"
            f"{raw_ms:>11.1f}{raw_cpu:>7.0f}{service_ms / raw_ms if raw_ms else 0:>7.2f}",
            flush=True,
        )


def _wide(text: str) -> int:
    """How many more columns than characters ``text`` takes (CJK characters take two)."""
    return sum(1 for ch in text if ord(ch) > 0x2E80)


def whole(
    workspace: Workspace, actor: Actor, cards: list[int], threads: int, *, kept: bool = False
) -> None:
    """Every card's data; computed afresh unless ``kept`` (shown again with no write between:
    the results ``reports.cache`` kept)."""
    if not kept:
        cache.results.clear()

    def one(report_id: int) -> None:
        with workspace.read() as conn:
            report_data(conn=conn, actor=actor, report_id=report_id, tz=workspace.tz)

    if threads <= 1:
        for report_id in cards:
            one(report_id)
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(one, cards))


def run(opportunities: int, postgres: str, runs: int, threads: int, per_cards: bool) -> None:
    with bench_data(opportunities, postgres) as data:
        workspace = data.workspace
        print(
            f"{workspace.engine.dialect.name}: {data.opportunities:,} opportunities, "
            f"{data.visits:,} stage visits, {'reused' if data.reused else 'built'} in "
            f"{data.prepared_seconds:.0f} s; load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        cards = card_ids(workspace, data.admin)
        if per_cards:
            per_card(workspace, data.admin, cards, runs)
        for label, actor, ids in (
            (f"whole cockpit ({len(cards)} cards), administrator", data.admin, cards),
            ("a rep's dashboard", data.rep, card_ids(workspace, data.rep)),
        ):
            for mode in (1, threads):
                wall, used = p50(runs, lambda a=actor, i=ids, m=mode: whole(workspace, a, i, m))
                how = "one after another" if mode == 1 else f"{mode} connections at once"
                print(f"{label}, {how}: {wall:.0f} ms (cpu {used:.0f} ms)", flush=True)
            wall, used = p50(runs, lambda a=actor, i=ids: whole(workspace, a, i, 1, kept=True))
            print(f"{label}, shown again: {wall:.1f} ms (cpu {used:.1f} ms)", flush=True)
        print(f"load average after: {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--opportunities", type=int, default=100_000)
    parser.add_argument("--postgres", default="")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument(
        "--no-per-card", dest="per_cards", action="store_false", help="only the whole cockpit"
    )
    args = parser.parse_args()
    run(args.opportunities, args.postgres, args.runs, args.threads, args.per_cards)


if __name__ == "__main__":
    main()
