"""Access benchmark: what row scopes cost on the list page at scale.

    python bench/access_bench.py --scale 1000000
    python bench/access_bench.py --scale 1000000 --postgres postgresql+psycopg://postgres@127.0.0.1/test

The IDC CRM's opportunities are owned round-robin by 100 sales reps in 10 departments. The
same first page (filter stage + amount, sort by amount, 50 rows) is listed through the records
service as an administrator, as a member (department scope: a tenth of the rows) and as a
manager (department subtree), turn about so a busy machine slows all alike. Two overheads are
printed: the member against the administrator's same query (which also pays for the member's
sparser rows: ten times as many index entries walked for a page), and the member against an
administrator filtering for exactly the member's rows (the permission machinery alone).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from scratch import database_url

from meridian.access import manage, organisation
from meridian.access.actors import load_actor
from meridian.app import create_workspace
from meridian.core.actor import Actor
from meridian.db.engine import make_engine
from meridian.records.listing import RecordQuery, list_records
from meridian.schema.catalog import get_form
from meridian.settings import Settings
from meridian.solutions import idc_crm
from meridian.solutions.loader import install_solution, load_sample_data

FILTER = {
    "and": [
        {"field": "stage", "op": "in", "value": ["proposal", "negotiation"]},
        {"field": "expected_amount", "op": "gte", "value": "500000"},
    ]
}
DEPARTMENTS, REPS = 10, 100


def run(scale: int, database_url: str, runs: int) -> None:
    settings = Settings(
        data_dir=Path(tempfile.mkdtemp(prefix="meridian-bench-")), database_url=database_url
    )
    workspace = create_workspace(settings, engine=make_engine(settings.resolved_database_url))
    engine = workspace.engine
    system = Actor.system()
    with engine.begin() as conn:
        region = organisation.create_department(conn=conn, name="销售中心")
        teams = [
            organisation.create_department(conn=conn, name=f"销售{i}组", parent_id=region)
            for i in range(DEPARTMENTS)
        ]
        reps = [
            manage.add_user(
                conn,
                system,
                email=f"rep{i}@acme.test",
                name=f"rep{i}",
                password="Passw0rd-bench",
                passwords=workspace.passwords,
                roles=["member"],
                department=teams[i % DEPARTMENTS],
                must_change_password=False,
            )["id"]
            for i in range(REPS)
        ]
        boss = manage.add_user(
            conn,
            system,
            email="boss@acme.test",
            name="boss",
            password="Passw0rd-bench",
            passwords=workspace.passwords,
            roles=["manager"],
            department=region,
            must_change_password=False,
        )["id"]
    app, forms = idc_crm.load_package()
    install_solution(engine, system, app, forms)
    batches = [
        b
        for b in itertools.takewhile(
            lambda b: b.form_key in {"customer", "contact", "opportunity"},
            idc_crm.generate(seed=1, scale=scale),
        )
        if b.form_key != "contact"
    ]
    start = time.perf_counter()
    load_sample_data(engine, system, batches, owners=reps)
    print(
        f"{engine.dialect.name}: {scale:,} opportunities owned by {REPS} reps in "
        f"{DEPARTMENTS} departments, loaded in {time.perf_counter() - start:.0f} s"
    )
    with engine.begin() as conn:  # no ANALYZE: timed as the loader left the database
        form = get_form(conn, "opportunity")
        actors = {
            "administrator": Actor(user_id=None, is_admin=True),
            "member (department)": load_actor(conn, reps[0]),
            "manager (subtree)": load_actor(conn, boss),
        }
    query = RecordQuery(filter=FILTER, sort="-expected_amount", limit=50)
    team = [rep for i, rep in enumerate(reps) if i % DEPARTMENTS == 0]
    same_rows = RecordQuery(
        filter={"and": [FILTER, {"field": "owner_id", "op": "in", "value": team}]},
        sort="-expected_amount",
        limit=50,
    )

    def page(actor: Actor, query: RecordQuery = query) -> Callable[[], int]:
        def list_page() -> int:
            with engine.connect() as conn:
                result = list_records(
                    conn=conn, actor=actor, form=form, query=query, tz=workspace.tz
                )
            return len(result.items)

        return list_page

    actions = {name: page(actor) for name, actor in actors.items()}
    # The member's rows asked for by an administrator with a plain filter: what is left of the
    # member's overhead is the permission machinery itself, not the sparser rows.
    actions["administrator, same rows"] = page(actors["administrator"], same_rows)
    samples: dict[str, list[float]] = {name: [] for name in actions}
    for action in actions.values():
        assert action() == 50
    for _ in range(runs):
        for name, action in actions.items():
            began = time.perf_counter()
            action()
            samples[name].append((time.perf_counter() - began) * 1000)
    p50 = {name: statistics.median(times) for name, times in samples.items()}
    for name, value in p50.items():
        print(f"first page as {name:26s} p50 {value:6.2f} ms")
    admin, member, same = (
        p50["administrator"],
        p50["member (department)"],
        p50["administrator, same rows"],
    )
    print(f"member vs administrator (same query): {member / admin - 1:+.0%}")
    print(f"member vs administrator asking for the member's rows: {member / same - 1:+.0%}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--postgres", default="", help="PostgreSQL URL; a scratch schema is used")
    args = parser.parse_args()
    with database_url(args.postgres) as url:
        run(args.scale, url, args.runs)


if __name__ == "__main__":
    main()
