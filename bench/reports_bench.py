"""Reports benchmark: the IDC management cockpit over a large opportunity table.

    python bench/reports_bench.py --opportunities 1000000                 # SQLite in a temp dir
    python bench/reports_bench.py --opportunities 1000000 --postgres postgresql+psycopg://postgres@127.0.0.1/test

The IDC solution is installed with its reports and sample data; the opportunities are then
multiplied by set-based ``INSERT … SELECT`` until the table holds the number asked for (owners,
stages, amounts and dates spread as the generator spread them). Figures printed, for an
administrator (every row) and a rep (own records only): each card of the cockpit through the
report service (compile, one aggregating statement, labels and drill-downs) beside the same
statement run as plain SQL text through the driver (ratio), and the whole cockpit in turn.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from scratch import database_url

from meridian.access.users import create_user
from meridian.app import create_workspace
from meridian.core.actor import Actor
from meridian.db.statistics import analyze
from meridian.http.deps import Workspace
from meridian.reports import store
from meridian.reports.compiler import compile_report
from meridian.reports.model import ReportDefinition
from meridian.reports.service import report_data
from meridian.schema.catalog import get_form
from meridian.schema.compile import compile_form
from meridian.settings import Settings
from meridian.solutions import idc_crm
from meridian.solutions.loader import install_solution, load_sample_data


def p50(runs: int, action: Callable[[], Any]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def grow(workspace: Workspace, wanted: int) -> int:
    """Double the opportunities by INSERT … SELECT until there are ``wanted``."""
    with workspace.transaction() as conn:
        table = compile_form(get_form(conn, "opportunity")).main
    columns = [c.key for c in table.c if c.key != "id"]
    while True:
        with workspace.transaction() as conn:
            count = int(conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)
            if count >= wanted:
                return count
            top = int(conn.scalar(sa.select(sa.func.max(table.c.id))) or 0)
            take = min(count, wanted - count)
            source = (
                sa.select(*(table.c[c] for c in columns)).order_by(table.c.id).limit(take)
            ).subquery()
            conn.execute(
                table.insert().from_select(
                    ["id", *columns],
                    sa.select(
                        (sa.func.row_number().over() + top).label("id"),
                        *(source.c[c] for c in columns),
                    ),
                )
            )


def run(opportunities: int, url: str, runs: int) -> None:
    settings = Settings(database_url=url, data_dir=Path(tempfile.mkdtemp()), load_plugins="")
    workspace = create_workspace(settings)
    with workspace.transaction() as conn:
        admin_id = create_user(
            conn=conn,
            email="bench@idc.test",
            name="Bench",
            password="bench-pass-123",
            passwords=workspace.passwords,
            is_admin=True,
        )
        rep_id = create_user(
            conn=conn,
            email="rep@idc.test",
            name="Rep",
            password="bench-pass-123",
            passwords=workspace.passwords,
        )
    admin = Actor(user_id=admin_id, is_admin=True, name="Bench")
    app, forms = idc_crm.load_package()
    install_solution(workspace.engine, admin, app, forms, reports=idc_crm.load_reports())
    started = time.perf_counter()
    load_sample_data(
        workspace.engine,
        admin,
        idc_crm.generate(seed=7, scale=2000),
        owners=[admin_id, rep_id],
    )
    count = grow(workspace, opportunities)
    with workspace.engine.begin() as conn:
        analyze(conn, ["data_opportunity"])
    print(
        f"{workspace.engine.dialect.name}: {count:,} opportunities ready in "
        f"{time.perf_counter() - started:.0f} s"
    )
    with workspace.read() as conn:
        cockpit = store.home_dashboard(conn=conn, actor=admin, app_key=app.key)
        assert cockpit is not None
        labels = {r["id"]: r for r in store.listing(conn=conn, actor=admin, kind="report")}
        rep = Actor(user_id=rep_id, roles=frozenset({"member"}), name="Rep")
    cards = [card["report_id"] for card in cockpit["definition"]["cards"]]
    print(f"{'card':<28}{'service ms':>12}{'raw SQL ms':>12}{'ratio':>8}")
    for report_id in cards:
        definition = ReportDefinition.model_validate(labels[report_id]["definition"])

        def service(report_id: int = report_id) -> None:
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
        raw_ms = p50(runs, raw)
        service_ms = p50(runs, service)
        print(
            f"{labels[report_id]['label'][:14]:<28}{service_ms:>12.1f}{raw_ms:>12.1f}"
            f"{service_ms / raw_ms if raw_ms else 0:>8.2f}"
        )

    def whole(actor: Actor) -> None:
        with workspace.read() as conn:
            for report_id in cards:
                report_data(conn=conn, actor=actor, report_id=report_id, tz=workspace.tz)

    print(f"whole cockpit (14 cards), administrator: {p50(runs, lambda: whole(admin)):.0f} ms")
    with workspace.read() as conn:
        mine = store.home_dashboard(conn=conn, actor=rep, app_key=app.key)
    assert mine is not None
    rep_cards = [card["report_id"] for card in mine["definition"]["cards"]]

    def rep_home() -> None:
        with workspace.read() as conn:
            for report_id in rep_cards:
                report_data(conn=conn, actor=rep, report_id=report_id, tz=workspace.tz)

    print(f"a rep's dashboard ({len(rep_cards)} cards): {p50(runs, rep_home):.0f} ms")
    workspace.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--opportunities", type=int, default=100_000)
    parser.add_argument("--postgres", default="")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with database_url(args.postgres) as url:
        run(args.opportunities, url, args.runs)


if __name__ == "__main__":
    main()
