"""Overdue notices survive a killed process: each overdue task is told about exactly once.

A real process (forked from the warm fork server, ``tests/worker_processes.py``, on the test's
database) runs the overdue scan and is killed with SIGKILL — once while its transaction is
open (nothing it claimed may stay claimed, nothing it wrote may stay written), once right
after it committed a batch (what it committed stays, and is never told again). The scan then
finishes in this process; every task ends with one inbox entry and one email job.
"""

from __future__ import annotations

import signal
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from meridian.core.actor import Actor
from meridian.db.engine import make_engine, transaction
from meridian.db.tables import jobs, notifications, tasks
from meridian.flows.tasks.overdue import notify_overdue
from tests.worker_processes import pipe, start_function, warm_fork_server

TASKS = 300


def _scan(database_url: str, limit: int, commit: bool, report: Connection) -> None:
    """In the other process: claim up to ``limit`` overdue tasks, commit if asked, say so,
    then wait to be killed."""
    engine = make_engine(database_url)
    conn = engine.connect()
    transaction = conn.begin()
    claimed = notify_overdue(conn, limit=limit)
    if commit:
        transaction.commit()
    report.send(f"claimed {claimed} {'committed' if commit else 'open'}")
    threading.Event().wait()


def _scan_then_die(database_url: str, folder: Path, limit: int, commit: bool) -> str:
    """Run a scan in another process, wait for its report, then SIGKILL it."""
    log = folder / f"scan-{limit}-{commit}.log"
    receiving, sending = pipe()
    process = start_function(_scan, (database_url, limit, commit, sending), log)
    sending.close()
    try:
        line = receiving.recv() if receiving.poll(300) else ""
    except EOFError:  # it died before reporting; its log says why
        line = ""
    finally:
        process.kill()
        process.join()
        receiving.close()
    assert line, log.read_text()
    assert process.exitcode == -signal.SIGKILL
    return str(line)


def _counts(engine: Engine) -> tuple[int, int, Counter[str]]:
    with engine.connect() as conn:
        stamped = conn.scalar(
            sa.select(sa.func.count())
            .select_from(tasks)
            .where(tasks.c.overdue_notified_at.is_not(None))
        )
        emails = conn.scalar(
            sa.select(sa.func.count()).select_from(jobs).where(jobs.c.kind == "notify.email")
        )
        titles = Counter(conn.scalars(sa.select(notifications.c.title)))
    return int(stamped or 0), int(emails or 0), titles


@pytest.mark.long
def test_a_killed_scan_tells_each_overdue_task_exactly_once(
    engine: Engine, admin: Actor, database_url: str, tmp_path: Path
) -> None:
    warm_fork_server()
    # The other process reads the real clock: these tasks were due an hour before it.
    due = datetime.now(UTC) - timedelta(hours=1)
    with transaction(engine) as conn:
        conn.execute(
            tasks.insert(),
            [
                {
                    "title": f"跟进 IDC-{n:04}",
                    "assignee_id": admin.user_id,
                    "due_at": due,
                    "state": "open",
                    "source": "person",
                    "created_at": due,
                    "updated_at": due,
                }
                for n in range(TASKS)
            ],
        )

    # Killed with its transaction open: as if it had never run.
    assert _scan_then_die(database_url, tmp_path, TASKS, commit=False) == f"claimed {TASKS} open"
    stamped, emails, titles = _counts(engine)
    assert (stamped, emails, sum(titles.values())) == (0, 0, 0)

    # Killed after committing a batch of 120: those stay told, and only those.
    assert _scan_then_die(database_url, tmp_path, 120, commit=True) == "claimed 120 committed"
    stamped, emails, titles = _counts(engine)
    assert (stamped, emails, sum(titles.values())) == (120, 120, 120)

    # The scan finishes here; a scan after that finds nothing.
    with transaction(engine) as conn:
        assert notify_overdue(conn, limit=TASKS) == TASKS - 120
    with transaction(engine) as conn:
        assert notify_overdue(conn, limit=TASKS) == 0
    stamped, emails, titles = _counts(engine)
    assert (stamped, emails) == (TASKS, TASKS)
    assert set(titles) == {f"待办已逾期：跟进 IDC-{n:04}" for n in range(TASKS)}
    assert set(titles.values()) == {1}
