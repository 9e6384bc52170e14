"""Tasks benchmark: the header's count, My tasks and the overdue scan among many tasks.

    python bench/tasks_bench.py --scale 1000000
    python bench/tasks_bench.py --scale 1000000 --postgres postgresql+psycopg://postgres@127.0.0.1/test

``scale`` tasks are spread over 1,000 users (a tenth open and overdue, a tenth open and due
later, the rest done). Measured: the header's number (``count_due``, on every page), one
person's My tasks (three grouped queries), and the overdue scan's batch of 500 — one
UPDATE … RETURNING that stamps the tasks, one inbox INSERT and one batch of email jobs —
against the same UPDATE alone in raw SQL.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from scratch import database_url

from meridian.access.users import create_user
from meridian.app import create_workspace
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.db.engine import make_engine
from meridian.db.tables import tasks
from meridian.db.types import UTCDateTime
from meridian.flows.tasks.overdue import notify_overdue
from meridian.flows.tasks.service import count_due, my_agenda
from meridian.settings import Settings

USERS = 1000
CHUNK = 20_000


def _median_ms(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def run(scale: int, url: str, runs: int) -> None:
    settings = Settings(
        data_dir=Path(tempfile.mkdtemp(prefix="meridian-bench-")),
        database_url=url,
        password_hashing="argon2-minimal-for-tests",
    )
    workspace = create_workspace(settings, engine=make_engine(settings.resolved_database_url))
    engine = workspace.engine
    with engine.begin() as conn:
        people = [
            create_user(
                conn=conn,
                email=f"rep{n}@idc.test",
                name=f"rep{n}",
                password="bench-42-bench",
                passwords=workspace.passwords,
            )
            for n in range(USERS)
        ]
        now = utcnow(conn)
    started = time.perf_counter()
    for first in range(0, scale, CHUNK):
        rows = []
        for n in range(first, min(first + CHUNK, scale)):
            kind = n % 10
            rows.append(
                {
                    "title": f"跟进 IDC-{n}",
                    "assignee_id": people[n % USERS],
                    "due_at": now
                    + timedelta(hours=(-5 if kind == 0 else 30 if kind == 1 else -90)),
                    "state": "open" if kind in (0, 1) else "done",
                    "source": "rule",
                    "created_at": now,
                    "updated_at": now,
                }
            )
        with engine.begin() as conn:
            conn.execute(tasks.insert(), rows)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE sys_task")
        else:
            conn.exec_driver_sql("ANALYZE")
    print(
        f"[{engine.dialect.name}] {scale:,} tasks loaded in {time.perf_counter() - started:.0f} s"
    )
    someone = Actor(user_id=people[7], name="rep7")
    tz = workspace.tz

    def header() -> None:
        with engine.connect() as conn:
            count_due(conn, someone, tz)

    def agenda() -> None:
        with engine.connect() as conn:
            my_agenda(conn=conn, actor=someone, tz=tz)

    def scan_batch() -> None:
        with engine.connect() as conn, conn.begin() as transaction:
            assert notify_overdue(conn, limit=500) == 500
            transaction.rollback()

    raw = sa.text(
        "UPDATE sys_task SET overdue_notified_at = :now WHERE id IN (SELECT id FROM sys_task"
        " WHERE state = 'open' AND overdue_notified_at IS NULL AND due_at <= :now"
        " AND assignee_id IS NOT NULL ORDER BY due_at, id LIMIT 500)"
        " AND overdue_notified_at IS NULL RETURNING id"
    ).bindparams(sa.bindparam("now", type_=UTCDateTime()))

    def raw_batch() -> None:
        with engine.connect() as conn, conn.begin() as transaction:
            claimed = conn.execute(raw, {"now": now}).all()
            assert len(claimed) == 500, len(claimed)
            transaction.rollback()

    for name, action in (
        ("header count (count_due)", header),
        ("My tasks (three groups)", agenda),
        ("overdue scan, one batch of 500 with notices", scan_batch),
        ("the same claim as raw SQL, without notices", raw_batch),
    ):
        print(f"  {name}: {_median_ms(action, runs):.1f} ms (median of {runs})")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--postgres", default="")
    args = parser.parse_args()
    with database_url(args.postgres) as url:
        run(args.scale, url, args.runs)


if __name__ == "__main__":
    main()
