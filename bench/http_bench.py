"""HTTP benchmark: a real ``meridian serve`` on 127.0.0.1, a client in another process, and the
raw SQL of the same statements on the same database in the same run.

    meridian demo --scale 100000              # in MERIDIAN_DATA_DIR=DIR, once
    python bench/http_bench.py --data-dir DIR --password PASSWORD
    python bench/http_bench.py --data-dir DIR --password PASSWORD --database-url postgresql+psycopg://…

The database is measured as ``meridian demo`` leaves it: the bench runs no ANALYZE and builds
no index of its own. What a user would do first is done through Meridian's own code: saving
the view the filtered page comes from (which brings the view's index). Each scenario is
requested sequentially after a warm-up; the raw side runs the very statements Meridian sent
for that request (captured in this process through the same code path), on a plain DB-API
connection. The machine is shared: the load average is printed beside every figure.

Scenarios (IDC demo): the health check (the server's fixed cost alone), the opportunities' kanban
by stage (HTML), the kanban's totals (JSON), a pinyin search of customers (``q=hwy``) and of
opportunities (``q=hhgyl``, initials of a sample company), a page of opportunities filtered and
sorted on the fields a saved view uses, with and without ``count=true``, and (with ``--token``)
creating one opportunity and changing one with ``If-Match``. The raw side of a write is its row's
``INSERT`` (or ``UPDATE``) and commit on a plain DB-API connection. Beside each HTTP p50 stands the
server process's CPU time per request (from /proc), which a loaded machine inflates far less than
wall-clock time.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from meridian.access.users import get_user_id
from meridian.app import create_workspace
from meridian.core.actor import Actor
from meridian.records import grouping, listing, views
from meridian.schema.catalog import get_form
from meridian.settings import Settings

ADMIN = "admin@meridian.local"
VIEW_FILTER = {"field": "stage", "op": "eq", "value": "negotiation"}
VIEW_SORT = "-expected_amount"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _p50(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def _scenarios() -> dict[str, tuple[str, dict[str, str]]]:
    page = {"filter": json.dumps(VIEW_FILTER), "sort": VIEW_SORT, "limit": "50"}
    return {
        "health check (no database)": ("/healthz", {}),
        "kanban by stage, HTML": ("/forms/opportunity/kanban", {"by": "stage"}),
        "kanban totals, JSON": ("/forms/opportunity/kanban/totals", {"by": "stage"}),
        "search customers q=hwy": ("/api/v1/forms/customer/records", {"q": "hwy"}),
        "search opportunities q=hhgyl": ("/api/v1/forms/opportunity/records", {"q": "hhgyl"}),
        "view page (filter+sort) of 50": ("/api/v1/forms/opportunity/records", page),
        "view page, count=true": ("/api/v1/forms/opportunity/records", {**page, "count": "true"}),
    }


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process ``pid`` has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _client(base: str, password: str, rounds: int, server: int, out: Any) -> None:
    """The other process: logs in like a browser, then times each scenario in turn; beside the
    wall-clock samples it keeps the server's CPU time per request (a figure the load of a shared
    machine inflates far less)."""
    results: dict[str, list[float]] = {}
    cpu: dict[str, float] = {}
    with httpx.Client(base_url=base, timeout=60) as client:
        client.post("/login", data={"email": ADMIN, "password": password})
        token = os.environ.get("BENCH_TOKEN", "")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        for name, (path, params) in _scenarios().items():
            use = headers if path.startswith("/api/") else {}
            for _ in range(3):  # warm-up
                client.get(path, params=params, headers=use).raise_for_status()
            samples = []
            spent = _cpu_seconds(server)
            for _ in range(rounds):
                began = time.perf_counter()
                client.get(path, params=params, headers=use).raise_for_status()
                samples.append(time.perf_counter() - began)
            cpu[name] = (_cpu_seconds(server) - spent) / rounds
            results[name] = samples
        if token:
            results.update(_writes(client, headers, rounds, server, cpu))
    out.send((results, cpu))


def _writes(
    client: httpx.Client, headers: dict[str, str], rounds: int, server: int, cpu: dict[str, float]
) -> dict[str, list[float]]:
    """One opportunity created per request; one changed per request with ``If-Match``."""
    path = "/api/v1/forms/opportunity/records"
    customer = client.get("/api/v1/forms/customer/records", params={"limit": 1}, headers=headers)
    body = {"name": "bench", "customer": customer.json()["items"][0]["id"], "stage": "lead"}
    created: list[float] = []
    spent = 0.0
    for round_ in range(3 + rounds):
        if round_ == 3:
            spent = _cpu_seconds(server)
        began = time.perf_counter()
        answer = client.post(path, json={**body, "name": f"bench {round_}"}, headers=headers)
        created.append(time.perf_counter() - began)
        answer.raise_for_status()
    cpu[WRITES[0]] = (_cpu_seconds(server) - spent) / rounds
    target = f"{path}/{answer.json()['id']}"
    etag = answer.headers["ETag"]
    updated: list[float] = []
    for round_ in range(3 + rounds):
        if round_ == 3:
            spent = _cpu_seconds(server)
        began = time.perf_counter()
        answer = client.patch(
            target, json={"name": f"bench changed {round_}"}, headers={**headers, "If-Match": etag}
        )
        updated.append(time.perf_counter() - began)
        answer.raise_for_status()
        etag = answer.headers["ETag"]
    cpu[WRITES[1]] = (_cpu_seconds(server) - spent) / rounds
    return {WRITES[0]: created[3:], WRITES[1]: updated[3:]}


WRITES = ("create one opportunity", "update one, If-Match")


def _captured(engine: sa.Engine, call: Callable[[sa.Connection], Any]) -> list[tuple[str, Any]]:
    """The statements ``call`` sends, with their parameters, that read records."""
    seen: list[tuple[str, Any]] = []
    with engine.connect() as conn:
        sa.event.listen(
            conn, "before_cursor_execute", lambda *a: seen.append((a[2], a[3])), named=False
        )
        call(conn)
    return [(s, p) for s, p in seen if "data_" in s]


def _raw_writes(engine: sa.Engine, rounds: int) -> dict[str, list[float]]:
    """The row's INSERT and commit, and the row's UPDATE and commit, on a DB-API connection."""
    with engine.begin() as conn:
        row = dict(
            conn.execute(sa.text("SELECT * FROM data_opportunity ORDER BY id DESC LIMIT 1"))
            .mappings()
            .one()
        )
        largest = int(row["id"])
    columns = [c for c in row if c != "id"]
    names = ", ".join(["id", *columns])
    marks = ", ".join(["?"] * (len(columns) + 1))
    if engine.dialect.name == "postgresql":
        marks = ", ".join(["%s"] * (len(columns) + 1))
    insert = f"INSERT INTO data_opportunity ({names}) VALUES ({marks})"
    mark = "%s" if engine.dialect.name == "postgresql" else "?"
    update = f"UPDATE data_opportunity SET name = {mark}, _version = _version + 1 WHERE id = {mark}"
    raw = engine.raw_connection()
    found: dict[str, list[float]] = {WRITES[0]: [], WRITES[1]: []}
    try:
        cursor = raw.cursor()
        for round_ in range(3 + rounds):
            values = [row[c] for c in columns]
            began = time.perf_counter()
            cursor.execute(insert, [largest + 1 + round_, *values])
            raw.commit()
            found[WRITES[0]].append(time.perf_counter() - began)
            began = time.perf_counter()
            cursor.execute(update, [f"raw {round_}", largest + 1])
            raw.commit()
            found[WRITES[1]].append(time.perf_counter() - began)
    finally:
        raw.close()
    return {name: samples[3:] for name, samples in found.items()}


def _raw(engine: sa.Engine, statements: list[tuple[str, Any]], rounds: int) -> list[float]:
    samples = []
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for _ in range(3 + rounds):
            began = time.perf_counter()
            for statement, parameters in statements:
                cursor.execute(statement, parameters)
                cursor.fetchall()
            samples.append(time.perf_counter() - began)
        raw.rollback()
    finally:
        raw.close()
    return samples[3:]


def _raw_statements(settings: Settings) -> dict[str, list[tuple[str, Any]]]:
    """The statements Meridian sends for each scenario, captured through its own code."""
    workspace = create_workspace(settings)
    engine = workspace.engine
    with engine.connect() as conn:
        admin = Actor(user_id=get_user_id(conn, ADMIN), is_admin=True, name="Administrator")
    opportunity = "opportunity"

    def kanban(conn: sa.Connection) -> None:
        form = get_form(conn, opportunity)
        grouping.group_totals(conn=conn, actor=admin, form=form, by="stage")
        for option in form.get_field("stage").options:  # type: ignore[union-attr]
            listing.list_records(
                conn=conn,
                actor=admin,
                form=form,
                query=listing.RecordQuery(
                    filter={"field": "stage", "op": "eq", "value": option.value},
                    sort="-updated_at",
                    limit=50,
                ),
            )

    def totals(conn: sa.Connection) -> None:
        form = get_form(conn, opportunity)
        grouping.group_totals(conn=conn, actor=admin, form=form, by="stage")

    def search(conn: sa.Connection) -> None:
        query = listing.RecordQuery(search="hwy")
        listing.list_records(conn=conn, actor=admin, form=get_form(conn, "customer"), query=query)

    def search_opportunities(conn: sa.Connection) -> None:
        query = listing.RecordQuery(search="hhgyl")
        listing.list_records(conn=conn, actor=admin, form=get_form(conn, opportunity), query=query)

    def page(count: bool) -> Callable[[sa.Connection], None]:
        def run(conn: sa.Connection) -> None:
            query = listing.RecordQuery(filter=VIEW_FILTER, sort=VIEW_SORT, count=count)
            listing.list_records(
                conn=conn, actor=admin, form=get_form(conn, opportunity), query=query
            )

        return run

    found = {
        "health check (no database)": [],
        "kanban by stage, HTML": _captured(engine, kanban),
        "kanban totals, JSON": _captured(engine, totals),
        "search customers q=hwy": _captured(engine, search),
        "search opportunities q=hhgyl": _captured(engine, search_opportunities),
        "view page (filter+sort) of 50": _captured(engine, page(False)),
        "view page, count=true": _captured(engine, page(True)),
    }
    engine.dispose()
    return found


def _save_view(settings: Settings) -> None:
    """What a user does first: save the view the filtered page comes from (Meridian indexes
    what it filters and sorts on)."""
    workspace = create_workspace(settings)
    with workspace.transaction() as conn:
        admin = Actor(user_id=get_user_id(conn, ADMIN), is_admin=True, name="Administrator")
        form = get_form(conn, "opportunity")
        if not any(
            v["name"] == "bench: negotiation" for v in views.list_views(conn, admin, form.key)
        ):
            settings_text = json.dumps(
                {"kind": "grid", "filter": json.dumps(VIEW_FILTER), "sort": VIEW_SORT}
            )
            began = time.perf_counter()
            views.save_view(
                conn, admin, form, name="bench: negotiation", shared=True, settings=settings_text
            )
            print(
                f"saving the view (and its index): {time.perf_counter() - began:.1f} s, {_load()}"
            )
    workspace.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--password", required=True, help="the demo administrator's password")
    parser.add_argument("--token", default="", help="an API token of the administrator")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--no-view", action="store_true", help="do not save the bench's view")
    args = parser.parse_args()
    env = {**os.environ, "MERIDIAN_DATA_DIR": str(args.data_dir)}
    if args.database_url:
        env["MERIDIAN_DATABASE_URL"] = args.database_url
    settings = Settings(data_dir=args.data_dir, database_url=args.database_url)
    if not args.no_view:
        _save_view(settings)
    port = _free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "meridian"), "serve", "--port", str(port), "--no-jobs"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None:
                raise SystemExit(f"meridian serve ended with {server.returncode}")
            time.sleep(0.2)
        os.environ["BENCH_TOKEN"] = args.token
        receive, send = multiprocessing.Pipe(duplex=False)
        client = multiprocessing.Process(
            target=_client, args=(base, args.password, args.rounds, server.pid, send)
        )
        client.start()
        http, cpu = receive.recv()
        client.join()
        print(f"HTTP side done, {_load()}")
    finally:
        server.terminate()
        server.wait()
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"server and client CPU: user {used.ru_utime:.1f} s + sys {used.ru_stime:.1f} s")
    statements = _raw_statements(settings)
    engine = sa.create_engine(settings.resolved_database_url)
    print(
        f"{'request':34} {'HTTP p50':>10} {'server CPU':>10} {'raw p50':>10} {'ratio':>7}"
        "  statements"
    )
    writes = _raw_writes(engine, args.rounds) if args.token else {}
    for name, samples in http.items():
        raw = writes[name] if name in writes else _raw(engine, statements[name], args.rounds)
        ratio = _p50(samples) / max(_p50(raw), 1e-6)
        count = 1 if name in writes else len(statements[name])
        print(
            f"{name:34} {_p50(samples):8.1f}ms {cpu[name] * 1000:8.2f}ms {_p50(raw):8.2f}ms"
            f" {ratio:6.1f}×  {count}, {_load()}"
        )
    engine.dispose()


if __name__ == "__main__":
    main()
