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
connection, each round a transaction of its own as each request is (on PostgreSQL: BEGIN and
COMMIT, the round trips a request needs too). The client is a lean keep-alive one
(``lean_http``), so the figures are the server's and not a Python client's (the health check
is timed through httpx too, beside earlier runs' figures). The machine is shared: the load
average is printed beside every figure.

Scenarios (IDC demo): the health check (the server's fixed cost alone), the opportunities' kanban
by stage (HTML), the kanban's totals (JSON), a pinyin search of customers (``q=hwy``) and of
opportunities (``q=hhgyl``, initials of a sample company), a page of opportunities filtered and
sorted on the fields a saved view uses, with and without ``count=true``, and (with ``--token``)
creating one opportunity and changing one with ``If-Match``. The raw side of a write is its row's
``INSERT`` (or ``UPDATE``) and commit on a plain DB-API connection (on SQLite with Meridian's
``synchronous=NORMAL``, so both sides commit alike). Beside each HTTP p50 stands the
server process's CPU time per request (from /proc), which a loaded machine inflates far less than
wall-clock time.

With ``--scan`` (and ``--token``; it changes the database, so run it on a copy) the bench then
times creates through HTTP while the minute scan of the demo's inactivity rule (customers 30
days without a follow-up) runs in a process of its own, as a worker's would: its clock is put
30 days and one more on, and its watermark just before the demo's load, so every active
customer falls due at once — the worst minute after a bulk load. It prints the creates' p50,
p99 and max before the scan and while it runs, and the scan's time and CPU.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from lean_http import LeanClient

from meridian.access.users import get_user_id
from meridian.app import create_workspace
from meridian.core.actor import Actor
from meridian.core.clock import Clock
from meridian.core.heap import freeze_started
from meridian.db.statistics import refresh_stale
from meridian.db.tables import rules
from meridian.records import grouping, listing, views
from meridian.records.expand import expand_links
from meridian.records.search import merge_search_index
from meridian.rules import scanning
from meridian.schema.catalog import get_form
from meridian.schema.compile import compile_form
from meridian.schema.fieldtypes import field_type
from meridian.settings import Settings
from meridian.web.pages.boards import CARDS_PER_COLUMN
from meridian.web.pages.grid import shown_columns

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
    """The other process: logs in like a browser, then times each scenario in turn through a
    lean keep-alive client (``lean_http``: httpx's own work per request is as much as a small
    request's on the server); beside the wall-clock samples it keeps the server's CPU time per
    request (a figure the load of a shared machine inflates far less). The health check is
    timed through httpx as well, for the figures of earlier runs."""
    results: dict[str, list[float]] = {}
    cpu: dict[str, float] = {}
    with httpx.Client(base_url=base, timeout=60) as client:
        client.post("/login", data={"email": ADMIN, "password": password})
        cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
        results[HEALTH_THROUGH_HTTPX] = _timed(lambda: client.get("/healthz"), rounds)
    token = os.environ.get("BENCH_TOKEN", "")
    host, port = base.removeprefix("http://").split(":")
    lean = LeanClient(host, int(port))
    for name, (path, params) in _scenarios().items():
        use = {"Authorization": f"Bearer {token}"} if path.startswith("/api/") else {}
        request = lean.prepared("GET", path, params, {**use, "Cookie": cookie})
        for _ in range(3):  # warm-up
            lean.send(request)
        spent = _cpu_seconds(server)
        results[name] = _timed(lambda request=request: lean.send(request), rounds)
        cpu[name] = (_cpu_seconds(server) - spent) / rounds
    if token:
        results.update(_writes(lean, {"Authorization": f"Bearer {token}"}, rounds, server, cpu))
    lean.close()
    out.send((results, cpu))


HEALTH_THROUGH_HTTPX = "health check, through httpx"


def _timed(call: Callable[[], Any], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        began = time.perf_counter()
        call()
        samples.append(time.perf_counter() - began)
    return samples


def _writes(
    lean: LeanClient, headers: dict[str, str], rounds: int, server: int, cpu: dict[str, float]
) -> dict[str, list[float]]:
    """One opportunity created per request; one changed per request with ``If-Match``."""
    path = "/api/v1/forms/opportunity/records"
    _, _, found = lean.send(
        lean.prepared("GET", path.replace("opportunity", "customer"), {"limit": "1"}, headers)
    )
    body = {"name": "bench", "customer": json.loads(found)["items"][0]["id"], "stage": "lead"}
    created: list[float] = []
    spent = 0.0
    for round_ in range(3 + rounds):
        if round_ == 3:
            spent = _cpu_seconds(server)
        request = lean.prepared("POST", path, None, headers, {**body, "name": f"bench {round_}"})
        began = time.perf_counter()
        _, answered, record = lean.send(request)
        created.append(time.perf_counter() - began)
    cpu[WRITES[0]] = (_cpu_seconds(server) - spent) / rounds
    target = f"{path}/{json.loads(record)['id']}"
    etag = answered["etag"]
    updated: list[float] = []
    for round_ in range(3 + rounds):
        if round_ == 3:
            spent = _cpu_seconds(server)
        request = lean.prepared(
            "PATCH", target, None, {**headers, "If-Match": etag}, {"name": f"changed {round_}"}
        )
        began = time.perf_counter()
        _, answered, _ = lean.send(request)
        updated.append(time.perf_counter() - began)
        etag = answered["etag"]
    cpu[WRITES[1]] = (_cpu_seconds(server) - spent) / rounds
    return {WRITES[0]: created[3:], WRITES[1]: updated[3:]}


WRITES = ("create one opportunity", "update one, If-Match")

SCAN_RULE = "30 天未跟进"
"""The label's start of the demo's inactivity rule on customers."""


class _Later(Clock):
    """The system's time moved on by ``ahead``: the scan process's clock."""

    def __init__(self, ahead: timedelta) -> None:
        self.ahead = ahead

    def now(self) -> datetime:
        return datetime.now(UTC) + self.ahead


def _due_everyone(settings: Settings) -> tuple[int, timedelta]:
    """The inactivity rule's id, its watermark put just before the customers' load, and how
    far on the scan's clock must be for every active customer to have fallen due."""
    workspace = create_workspace(settings)
    with workspace.transaction() as conn:
        rule = conn.execute(
            sa.select(rules.c.id, rules.c.trigger).where(rules.c.label.startswith(SCAN_RULE))
        ).one()
        table = compile_form(get_form(conn, "customer")).main
        loaded = conn.scalar(sa.select(sa.func.min(table.c.updated_at)))
        days = timedelta(days=int(rule.trigger["days"]))
        watermark = loaded - timedelta(seconds=1) + days
        conn.execute(rules.update().where(rules.c.id == rule.id).values(scanned_until=watermark))
    workspace.engine.dispose()
    return int(rule.id), days + timedelta(days=1)


def _scan_process(settings: Settings, rule_id: int, ahead: timedelta, out: Any) -> None:
    """The rule's scan as the worker runs it, on a clock ``ahead`` of the system's."""
    workspace = create_workspace(settings, clock=_Later(ahead))
    freeze_started()  # as ``meridian worker`` does once started
    read = [0.0, 0.0]
    due_records = scanning.due_records

    def timed(*args: Any) -> Any:  # the read step's wall and CPU time, told apart
        began, cpu = time.perf_counter(), time.process_time()
        found = due_records(*args)
        read[:] = [time.perf_counter() - began, time.process_time() - cpu]
        return found

    scanning.due_records = timed  # type: ignore[assignment]
    out.send("ready")
    began, cpu = time.perf_counter(), time.process_time()
    fired = scanning.scan_time_rule(workspace.engine, rule_id, workspace.tz)
    out.send((fired, time.perf_counter() - began, time.process_time() - cpu, *read))
    workspace.engine.dispose()


def _scan_behind_writes(settings: Settings, base: str, token: str, server: int) -> None:
    """Creates through HTTP before and while the inactivity scan fires every active customer;
    on SQLite, beside each create, how long taking the write lock alone takes (``BEGIN
    IMMEDIATE`` to ``COMMIT`` on a plain connection: the wait itself, without the request)."""
    rule_id, ahead = _due_everyone(settings)
    # This process times the creates: a full collection of what it imported would be timed
    # as a create (one took 0.5 s right after the fork below, its first touch of every page
    # the scan's process shared), so it freezes its heap as the server does.
    freeze_started()
    headers = {"Authorization": f"Bearer {token}"}
    path = "/api/v1/forms/opportunity/records"
    url = sa.engine.make_url(settings.resolved_database_url)
    lock: sqlite3.Connection | None = None
    if url.get_backend_name() == "sqlite":
        lock = sqlite3.connect(url.database or "", timeout=30, isolation_level=None)

    def take_lock() -> float:
        if lock is None:
            return 0.0
        began = time.perf_counter()
        lock.execute("BEGIN IMMEDIATE")
        lock.execute("COMMIT")
        return time.perf_counter() - began

    with httpx.Client(base_url=base, timeout=60) as client:
        customer = client.get(
            "/api/v1/forms/customer/records", params={"limit": 1}, headers=headers
        )
        body = {"name": "bench", "customer": customer.json()["items"][0]["id"], "stage": "lead"}

        def create() -> float:
            began = time.perf_counter()
            client.post(path, json=body, headers=headers).raise_for_status()
            return time.perf_counter() - began

        def measure(until: Callable[[int], bool]) -> tuple[list[float], list[float], float]:
            creates, locks, spent, n = [], [], _cpu_seconds(server), 0
            while until(n):
                at = time.perf_counter()
                creates.append(create())
                moments.append((creates[-1], at - started[0]))
                locks.append(take_lock())
                time.sleep(0.005)
                n += 1
            return creates, locks, (_cpu_seconds(server) - spent) / max(n, 1)

        moments: list[tuple[float, float]] = []
        started = [time.perf_counter()]
        measure(lambda n: n < 3)  # warm-up
        alone = measure(lambda n: n < 30)
        receive, send = multiprocessing.Pipe(duplex=False)
        scan = multiprocessing.get_context("fork").Process(
            target=_scan_process, args=(settings, rule_id, ahead, send)
        )
        scan.start()
        if receive.recv() != "ready":
            raise SystemExit("the scan process did not start")
        moments.clear()
        started[0] = time.perf_counter()
        behind = measure(lambda n: scan.is_alive())
        scan.join()
    if lock is not None:
        lock.close()
    fired, wall, cpu, read, read_cpu = receive.recv() if receive.poll() else (-1, 0, 0, 0, 0)
    print(
        f"inactivity scan: {fired:,} customers fired in {wall:.1f} s (its CPU {cpu:.1f} s;"
        f" the read step {read:.1f} s, CPU {read_cpu:.1f} s), {_load()}"
    )
    slowest = sorted(moments, reverse=True)[:5]
    print(
        "slowest creates behind the scan (ms, at s): "
        + ", ".join(f"{took * 1000:.0f} at {at:.1f}" for took, at in slowest)
    )
    for name, (creates, locks, server_cpu) in (
        ("no scan", alone),
        ("behind the scan", behind),
    ):
        print(
            f"create, {name:26} {_spread(creates)}  server CPU {server_cpu * 1000:.1f}ms"
            f"  n={len(creates)}, {_load()}"
        )
        if lock is not None:
            print(f"write lock alone, {name:17} {_spread(locks)}")


def _spread(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {_p50(samples):7.1f}ms  p99 {p99 * 1000:7.1f}ms  max {ordered[-1] * 1000:7.1f}ms"


def _grow(settings: Settings, times: int) -> None:
    """Each opportunity and customer copied ``times - 1`` more times, set-based, with their
    search texts (a customer's unique name and credit code get the copy's number), their
    search indexes merged as a sample load leaves them (PostgreSQL's trigram index is on the
    table itself), then Meridian's statistics job: a 1M data set from a 100k demo in minutes
    where the demo itself takes the better part of two hours on a loaded machine. The copies
    are the originals' values; the other forms stay as the demo made them. On PostgreSQL grow
    a copy made with ``CREATE DATABASE … TEMPLATE``."""
    from meridian.db.statistics import refresh_stale

    workspace = create_workspace(settings)
    began, cpu = time.perf_counter(), time.process_time()
    with workspace.transaction() as conn:
        for key, unique in (("opportunity", ()), ("customer", ("name", "uscc"))):
            table = compile_form(get_form(conn, key)).main
            columns = [c.name for c in table.columns if c.name != "id"]
            largest = int(conn.scalar(sa.select(sa.func.max(table.c.id))) or 0)
            for copy in range(1, times):
                picked = [
                    f"{c} || ' {copy}'" if c in unique or c == "_search" else c for c in columns
                ]
                conn.exec_driver_sql(
                    f"INSERT INTO {table.name} ({', '.join(columns)}) "
                    f"SELECT {', '.join(picked)} FROM {table.name} WHERE id <= {largest}"
                )
            if conn.dialect.name == "sqlite":  # PostgreSQL's trigram index is on the table
                conn.exec_driver_sql(
                    f"INSERT INTO {table.name}___search (rowid, _search) "
                    f"SELECT id, _search FROM {table.name} WHERE id > {largest}"
                )
            merge_search_index(conn, compile_form(get_form(conn, key)))  # as a load ends
    analysed = refresh_stale(workspace.engine)
    print(
        f"grown {times}×: {time.perf_counter() - began:.1f} s,"
        f" CPU {time.process_time() - cpu:.1f} s (statistics of {len(analysed)} tables), {_load()}"
    )
    workspace.engine.dispose()


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
        if engine.dialect.name == "sqlite":
            # Meridian's own connections commit without a sync in WAL mode (db.engine); the
            # raw side does the same, or its 4 ms fsync per commit would be the floor.
            cursor.execute("PRAGMA synchronous=NORMAL")
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
        # The raw rows took ids Meridian has not handed out: gone, a later run's creates
        # would collide with them.
        cursor.execute(f"DELETE FROM data_opportunity WHERE id > {mark}", [largest])
        raw.commit()
    finally:
        raw.close()
    return {name: samples[3:] for name, samples in found.items()}


RAW_CPU = [0.0]
"""CPU time per round of the last ``_raw`` call: on SQLite the database works in this
process, so it is the statements' own CPU."""


def _raw(engine: sa.Engine, statements: list[tuple[str, Any]], rounds: int) -> list[float]:
    samples = []
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        spent = 0.0
        for round_ in range(3 + rounds):
            if round_ == 3:
                spent = time.process_time()
            began = time.perf_counter()
            for statement, parameters in statements:
                cursor.execute(statement, parameters)
                cursor.fetchall()
            raw.commit()  # a request is a transaction of its own: on PostgreSQL, BEGIN and COMMIT
            samples.append(time.perf_counter() - began)
        RAW_CPU[0] = (time.process_time() - spent) / rounds
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
        """As the board reads: the totals, then every column's first cards of the card fields
        in one statement (``boards.kanban``), then the titles of the customers they link."""
        form = get_form(conn, opportunity)
        grouping.group_totals(conn=conn, actor=admin, form=form, by="stage")
        stage = form.get_field("stage")
        values = [o.value for o in stage.options]  # type: ignore[union-attr]
        cards = [f for f in shown_columns(form, ()) if f.key != "stage"][:3]
        pages = listing.list_first_pages(
            conn=conn,
            actor=admin,
            form=form,
            queries=[
                listing.RecordQuery(
                    filter={"field": "stage", "op": "eq", "value": value},
                    sort="-updated_at",
                    limit=CARDS_PER_COLUMN,
                )
                for value in values  # the demo leaves no opportunity without a stage
            ],
            fields=["stage", form.title_field or "id", *(f.key for f in cards)],
        )
        links = tuple(f.key for f in cards if field_type(f).links_records)
        expand_links(conn, form, [r for page in pages for r in page], links, admin, workspace.tz)

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


def _run_jobs(env: dict[str, str], settings: Settings) -> None:
    """On PostgreSQL a saved view's index is built by a job (``CREATE INDEX CONCURRENTLY``
    cannot run in the saving transaction): a worker runs what is queued, as it would on a
    server, before anything is timed."""
    began = time.perf_counter()
    worker = subprocess.Popen(
        [str(Path(sys.executable).parent / "meridian"), "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    engine = sa.create_engine(settings.resolved_database_url)
    waiting = sa.text(
        "SELECT count(*) FROM sys_job WHERE kind = 'schema.view_indexes'"
        " AND state IN ('ready', 'running')"
    )
    try:
        while True:
            with engine.connect() as conn:
                if not conn.scalar(waiting):
                    break
            time.sleep(0.5)
    finally:
        worker.terminate()
        worker.wait()
        engine.dispose()
    print(f"queued jobs run by a worker (the view's index): {time.perf_counter() - began:.1f} s")
    # The queued rule runs change many records (at 100k, 118,000 opportunity rows updated):
    # the worker's statistics refresh (every 10 minutes, ``db.statistics.REFRESH_CRON``)
    # vacuums what they left, which a worker stopped right after its jobs had not reached.
    began = time.perf_counter()
    refreshed = create_workspace(settings)
    done = refresh_stale(refreshed.engine)
    refreshed.engine.dispose()
    print(
        f"the worker's statistics refresh ({len(done)} tables): {time.perf_counter() - began:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--password", required=True, help="the demo administrator's password")
    parser.add_argument("--token", default="", help="an API token of the administrator")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--no-view", action="store_true", help="do not save the bench's view")
    parser.add_argument(
        "--server-code",
        type=Path,
        help="a checkout of another commit the server runs (A/B); this process's code is kept",
    )
    parser.add_argument(
        "--scan", action="store_true", help="creates behind the inactivity scan (on a copy!)"
    )
    parser.add_argument("--only-scan", action="store_true", help="the scan measurement alone")
    parser.add_argument(
        "--grow", type=int, default=0, help="first copy opportunities and customers N× (a copy!)"
    )
    args = parser.parse_args()
    env = {**os.environ, "MERIDIAN_DATA_DIR": str(args.data_dir)}
    if args.database_url:
        env["MERIDIAN_DATABASE_URL"] = args.database_url
    settings = Settings(data_dir=args.data_dir, database_url=args.database_url)
    if args.grow > 1:
        _grow(settings, args.grow)
    if not args.no_view:
        _save_view(settings)
        if not settings.resolved_database_url.startswith("sqlite"):
            _run_jobs(env, settings)
    port = _free_port()
    served = {**env, "PYTHONPATH": str(args.server_code)} if args.server_code else env
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "meridian"), "serve", "--port", str(port), "--no-jobs"],
        env=served,
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
        if args.only_scan:
            _scan_behind_writes(settings, base, args.token, server.pid)
            return
        receive, send = multiprocessing.Pipe(duplex=False)
        client = multiprocessing.Process(
            target=_client, args=(base, args.password, args.rounds, server.pid, send)
        )
        client.start()
        http, cpu = receive.recv()
        client.join()
        print(f"HTTP side done, {_load()}")
        if args.scan and args.token:
            _scan_behind_writes(settings, base, args.token, server.pid)
    finally:
        server.terminate()
        server.wait()
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"server and client CPU: user {used.ru_utime:.1f} s + sys {used.ru_stime:.1f} s")
    statements = _raw_statements(settings)
    engine = sa.create_engine(settings.resolved_database_url)
    print(
        f"{'request':34} {'HTTP p50':>10} {'server CPU':>10} {'raw p50':>10} {'ratio':>7}"
        "  statements, raw CPU"
    )
    writes = _raw_writes(engine, args.rounds) if args.token else {}
    for name, samples in http.items():
        RAW_CPU[0] = 0.0
        found = statements.get(name, [])
        raw = writes[name] if name in writes else _raw(engine, found, args.rounds)
        ratio = f"{_p50(samples) / _p50(raw):6.1f}×" if found or name in writes else "      —"
        count = 1 if name in writes else len(found)
        print(
            f"{name:34} {_p50(samples):8.2f}ms {cpu.get(name, 0) * 1000:8.2f}ms {_p50(raw):8.2f}ms"
            f" {ratio}  {count}, {RAW_CPU[0] * 1000:.2f}ms, {_load()}"
        )
    engine.dispose()


if __name__ == "__main__":
    main()
