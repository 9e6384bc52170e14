"""Web benchmark: the grid's first page, rendered server-side, over a million opportunities.

    python bench/web_bench.py --scale 1000000
    python bench/web_bench.py --scale 1000000 --postgres postgresql+psycopg://postgres@127.0.0.1/test

Sample data (customers and 10,000 opportunities) goes through the write path; the
opportunities are then copied set-based (INSERT … SELECT) until there are ``--scale`` of them.
Timed, turn about: GET /forms/opportunity through the whole application (session cookie,
navigation, permissions, the page of 50 rows, Jinja rendering; the total is counted by a
request of its own once the page shows, timed too) as the administrator and as a member with
department scope, against the raw SQL of the same page (SELECT … ORDER BY id DESC LIMIT 51).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from scratch import database_url
from sqlalchemy.engine import Engine

from meridian.access import manage, organisation
from meridian.app import create_app, create_workspace
from meridian.core.actor import Actor
from meridian.db.engine import make_engine
from meridian.db.statistics import refresh_stale
from meridian.settings import Settings
from meridian.solutions import idc_crm
from meridian.solutions.loader import install_solution, load_sample_data

SEED_OPPORTUNITIES = 10_000
PASSWORD = "Passw0rd-bench"
COLUMNS = (
    "id, _version, owner_id, created_at, created_by, updated_at, updated_by, deleted_at, _search, "
    "name, customer, stage, cabinets, power_density_kw, bandwidth_mbps, carriers, "
    "pue_requirement, expected_amount, expected_close_date, win_loss_reason, description"
)


def _grow(engine: Engine, scale: int) -> int:
    """Copy the opportunities onto themselves until there are ``scale``."""
    copied = COLUMNS.replace("id, ", "", 1)
    with engine.begin() as conn:
        count = conn.exec_driver_sql("SELECT count(*) FROM data_opportunity").scalar_one()
        while count < scale:
            conn.exec_driver_sql(
                f"INSERT INTO data_opportunity ({copied}) SELECT {copied} FROM data_opportunity "
                f"ORDER BY id LIMIT {min(count, scale - count)}"
            )
            count = conn.exec_driver_sql("SELECT count(*) FROM data_opportunity").scalar_one()
    # Copied behind Meridian's back, so what Meridian does about it: its statistics job.
    refresh_stale(engine)
    return int(count)


def run(scale: int, url: str, runs: int) -> None:
    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="meridian-bench-")), database_url=url)
    workspace = create_workspace(settings, engine=make_engine(settings.resolved_database_url))
    engine = workspace.engine
    system = Actor.system()
    with engine.begin() as conn:
        teams = [organisation.create_department(conn=conn, name=f"销售{i}组") for i in range(10)]
        reps = [
            manage.add_user(
                conn,
                system,
                email=f"rep{i}@acme.test",
                name=f"rep{i}",
                password=PASSWORD,
                passwords=workspace.passwords,
                roles=["member"],
                department=teams[i % 10],
                must_change_password=False,
            )["id"]
            for i in range(100)
        ]
        manage.add_user(
            conn,
            system,
            email="admin@acme.test",
            name="admin",
            password=PASSWORD,
            passwords=workspace.passwords,
            roles=["administrator"],
            must_change_password=False,
        )
    app, forms = idc_crm.load_package()
    install_solution(engine, system, app, forms)
    batches = itertools.takewhile(
        lambda b: b.form_key in {"customer", "contact", "opportunity"},
        idc_crm.generate(seed=1, scale=SEED_OPPORTUNITIES),
    )
    load_sample_data(engine, system, [b for b in batches if b.form_key != "contact"], owners=reps)
    start = time.perf_counter()
    total = _grow(engine, scale)
    print(
        f"{engine.dialect.name}: {total:,} opportunities "
        f"({time.perf_counter() - start:.0f} s to copy)"
    )

    application = create_app(settings, workspace=workspace)
    clients = {}
    for who, email in (
        ("administrator", "admin@acme.test"),
        ("member (department)", "rep0@acme.test"),
    ):
        client = TestClient(application)
        client.post("/login", data={"email": email, "password": PASSWORD}, follow_redirects=False)
        clients[who] = client

    def page(client: TestClient) -> Callable[[], int]:
        def get() -> int:
            response = client.get("/forms/opportunity")
            assert response.status_code == 200, response.text[:500]
            return len(response.content)

        return get

    def raw() -> int:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                f"SELECT {COLUMNS} FROM data_opportunity WHERE deleted_at IS NULL "
                "ORDER BY id DESC LIMIT 51"
            ).all()
        return len(rows)

    actions = {f"page as {who}": page(client) for who, client in clients.items()}
    admin = clients["administrator"]
    actions["total count as administrator"] = lambda: len(
        admin.get("/forms/opportunity/count").content
    )
    actions["raw SQL (page)"] = raw
    samples: dict[str, list[float]] = {name: [] for name in actions}
    for action in actions.values():
        action()
    for _ in range(runs):
        for name, action in actions.items():
            began = time.perf_counter()
            action()
            samples[name].append((time.perf_counter() - began) * 1000)
    raw_p50 = statistics.median(samples["raw SQL (page)"])
    for name, times in samples.items():
        p50 = statistics.median(times)
        print(
            f"{name:32s} p50 {p50:7.2f} ms  p95 {sorted(times)[int(len(times) * 0.95) - 1]:7.2f} ms"
            f"  ({p50 / raw_p50:.1f}× raw)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--postgres", default="", help="a PostgreSQL URL; SQLite without")
    args = parser.parse_args()
    with database_url(args.postgres) as url:
        run(args.scale, url, args.runs)


if __name__ == "__main__":
    main()
