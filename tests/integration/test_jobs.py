"""The job queue: written with the change, run once, retried with backoff, dead, recovered."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from meridian.db.engine import transaction
from meridian.db.tables import jobs, schedules
from meridian.errors import ValidationFailed
from meridian.jobs import queue
from meridian.jobs.queue import JobContext
from meridian.jobs.schedules import fire_due_schedules, set_schedule
from meridian.jobs.worker import Worker
from tests.conftest import FakeClock

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def now(fake_clock: FakeClock) -> Iterator[list[datetime]]:
    """A settable clock: now[0] is the current time."""
    current = [datetime(2026, 11, 24, 1, 0, tzinfo=UTC)]
    fake_clock.follow(lambda: current[0])
    yield current


def job_rows(engine: Engine) -> list[sa.Row[Any]]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(jobs).order_by(jobs.c.id)))


def test_a_job_exists_exactly_when_its_transaction_commits(engine: Engine) -> None:
    with pytest.raises(RuntimeError), transaction(engine) as conn:
        queue.enqueue(conn, "noop", {"n": 1})
        raise RuntimeError("the change failed")
    assert job_rows(engine) == []
    with transaction(engine) as conn:
        first = queue.enqueue(conn, "noop", {"n": 2}, idempotency_key="reminder:7:2026-12-01")
        again = queue.enqueue(conn, "noop", {"n": 3}, idempotency_key="reminder:7:2026-12-01")
    assert first is not None and again is None
    assert [row.payload for row in job_rows(engine)] == [{"n": 2}]


def test_jobs_run_once_and_are_done(engine: Engine, now: list[datetime]) -> None:
    seen: list[tuple[int, dict[str, Any], int]] = []
    with transaction(engine) as conn:
        job_id = queue.enqueue(conn, "note", {"text": "签约"})
        queue.enqueue(conn, "note", {"text": "later"}, run_at=now[0] + timedelta(hours=1))
    worker = Worker(
        engine, {"note": lambda c: seen.append((c.job_id, c.payload, c.attempt))}, SHANGHAI
    )
    assert worker.run_once() == 1
    assert worker.run_once() == 0
    assert seen == [(job_id, {"text": "签约"}, 1)]
    now[0] += timedelta(hours=1)
    assert worker.run_once() == 1
    assert [row.state for row in job_rows(engine)] == ["done", "done"]


def test_failures_back_off_then_die_and_an_operator_retries_or_discards(
    engine: Engine, now: list[datetime]
) -> None:
    calls = Counter[int]()

    def flaky(context: JobContext) -> None:
        calls[context.job_id] += 1
        raise ConnectionError("the receiver is down")

    with transaction(engine) as conn:
        job_id = queue.enqueue(conn, "send", {}, max_attempts=3)
    worker = Worker(engine, {"send": flaky}, SHANGHAI)
    assert worker.run_once() == 1
    [row] = job_rows(engine)
    assert (row.state, row.attempts) == ("ready", 1)
    assert row.run_at == now[0] + timedelta(seconds=10)
    assert "the receiver is down" in row.last_error
    assert worker.run_once() == 0  # not before the backoff
    now[0] += timedelta(seconds=10)
    worker.run_once()
    assert job_rows(engine)[0].run_at == now[0] + timedelta(seconds=20)
    now[0] += timedelta(seconds=20)
    worker.run_once()
    assert job_rows(engine)[0].state == "dead" and calls[job_id] == 3
    now[0] += timedelta(days=1)
    assert worker.run_once() == 0
    with transaction(engine) as conn:
        assert [j["id"] for j in queue.list_jobs(conn, state="dead")] == [job_id]
        assert queue.retry_dead(conn, job_id)["state"] == "ready"
    worker.handlers = {"send": lambda c: None}
    assert worker.run_once() == 1
    assert job_rows(engine)[0].state == "done"


def test_a_job_of_an_unknown_kind_fails_with_a_clear_error(engine: Engine) -> None:
    with transaction(engine) as conn:
        queue.enqueue(conn, "mystery", {}, max_attempts=1)
    Worker(engine, {}, SHANGHAI).run_once()
    [row] = job_rows(engine)
    assert row.state == "dead" and "no handler for jobs of kind 'mystery'" in row.last_error
    with transaction(engine) as conn:
        assert queue.discard_dead(conn, row.id)["state"] == "done"


def test_a_crashed_workers_job_is_taken_over_after_its_lease(
    engine: Engine, now: list[datetime]
) -> None:
    with transaction(engine) as conn:
        queue.enqueue(conn, "work", {})
    with transaction(engine) as conn:
        [lost] = queue.claim(conn, "crashed", limit=5, lease=timedelta(minutes=5))
    ran: list[int] = []
    survivor = Worker(engine, {"work": lambda c: ran.append(c.attempt)}, SHANGHAI, name="survivor")
    assert survivor.run_once() == 0  # the lease still holds
    now[0] += timedelta(minutes=5, seconds=1)
    assert survivor.run_once() == 1
    assert ran == [2]
    with transaction(engine) as conn:
        queue.finish(conn, [lost], "crashed")  # the crashed worker wakes up late: no effect
    [row] = job_rows(engine)
    assert (row.state, row.worker) == ("done", "survivor")


def test_concurrent_workers_run_every_job_exactly_once(engine: Engine) -> None:
    total = 200
    with transaction(engine) as conn:
        for n in range(total):
            queue.enqueue(conn, "count", {"n": n})
    runs = Counter[int]()
    lock = threading.Lock()

    def count(context: JobContext) -> None:
        with lock:
            runs[context.payload["n"]] += 1

    workers = [Worker(engine, {"count": count}, SHANGHAI, batch=7) for _ in range(4)]

    def drain(worker: Worker) -> None:
        while worker.run_once():
            pass

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(runs) == list(range(total))
    assert set(runs.values()) == {1}


def test_a_schedule_fires_once_per_occurrence_and_re_arms(
    engine: Engine, now: list[datetime]
) -> None:
    with transaction(engine) as conn:
        first = set_schedule(conn, "daily-digest", "0 9 * * *", "digest", {"to": "sales"}, SHANGHAI)
    assert first == datetime(2026, 11, 25, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    with transaction(engine) as conn:
        assert fire_due_schedules(conn, SHANGHAI) == 0
    now[0] = first + timedelta(minutes=3)
    for _ in range(2):  # two workers looking at the same moment
        with transaction(engine) as conn:
            fire_due_schedules(conn, SHANGHAI)
    assert [row.kind for row in job_rows(engine)] == ["digest"]
    now[0] += timedelta(days=3)  # downtime: the missed days make one catch-up job
    with transaction(engine) as conn:
        assert fire_due_schedules(conn, SHANGHAI) == 1
        due = conn.scalar(sa.select(schedules.c.next_run_at))
    assert due == datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
    with pytest.raises(ValidationFailed), transaction(engine) as conn:
        set_schedule(conn, "bad", "every day at nine", "digest", {}, SHANGHAI)


def test_administrators_see_and_retry_dead_jobs_over_the_api(
    client: TestClient, engine: Engine
) -> None:
    with transaction(engine) as conn:
        queue.enqueue(conn, "mystery", {}, max_attempts=1)
    Worker(engine, {}, SHANGHAI).run_once()
    dead = client.get("/api/v1/jobs", params={"state": "dead"}).json()["items"]
    assert len(dead) == 1 and "no handler" in dead[0]["last_error"]
    retried = client.post(f"/api/v1/jobs/{dead[0]['id']}/retry")
    assert retried.status_code == 200 and retried.json()["state"] == "ready"
    again = client.post(f"/api/v1/jobs/{dead[0]['id']}/retry")
    assert again.status_code == 409
    assert client.post("/api/v1/jobs/999999/discard").status_code == 404


def test_each_job_is_done_as_soon_as_it_ran_not_after_its_batch(engine: Engine) -> None:
    with transaction(engine) as conn:
        for n in range(3):
            queue.enqueue(conn, "step", {"n": n})
    seen: list[list[str]] = []

    def step(context: JobContext) -> None:
        seen.append([row.state for row in job_rows(engine)])

    Worker(engine, {"step": step}, SHANGHAI, batch=3).run_once()
    # A worker dying during the third job would leave only that one to run again.
    assert seen == [
        ["running", "running", "running"],
        ["done", "running", "running"],
        ["done", "done", "running"],
    ]


def test_a_handlers_writes_and_its_jobs_completion_commit_together(
    engine: Engine, now: list[datetime]
) -> None:
    with transaction(engine) as conn:
        queue.enqueue(conn, "record", {})
        queue.enqueue(conn, "broken", {})
    with transaction(engine) as conn:
        [job, broken] = queue.claim(conn, "w1", limit=5, lease=timedelta(seconds=30))
    context = JobContext(engine, job.id, job.payload, job.attempts, "w1")
    with context.transaction() as conn:
        queue.enqueue(conn, "effect", {"of": job.id})
    # The worker dies here, before it could mark anything: the job is done all the same.
    assert context.completed
    assert [(row.kind, row.state) for row in job_rows(engine)] == [
        ("record", "done"),
        ("broken", "running"),
        ("effect", "ready"),
    ]
    failing = JobContext(engine, broken.id, broken.payload, broken.attempts, "w1")
    with pytest.raises(ZeroDivisionError), failing.transaction() as conn:
        queue.enqueue(conn, "effect", {"of": broken.id})
        _ = 1 / 0
    assert not failing.completed
    assert [(row.kind, row.state) for row in job_rows(engine)][1:] == [
        ("broken", "running"),
        ("effect", "ready"),
    ]


def test_a_worker_whose_lease_was_taken_over_cannot_commit_its_effects(
    engine: Engine, now: list[datetime]
) -> None:
    with transaction(engine) as conn:
        queue.enqueue(conn, "work", {})
    with transaction(engine) as conn:
        [job] = queue.claim(conn, "stalled", limit=1, lease=timedelta(seconds=30))
    now[0] += timedelta(seconds=31)  # the stalled worker missed its heartbeats
    ran: list[int] = []
    survivor = Worker(engine, {"work": lambda c: ran.append(c.attempt)}, SHANGHAI, name="survivor")
    with transaction(engine) as conn:
        [taken] = queue.claim(conn, "survivor", limit=1, lease=timedelta(seconds=30))
    late = JobContext(engine, job.id, job.payload, job.attempts, "stalled")
    with pytest.raises(queue.LeaseLost), late.transaction() as conn:
        queue.enqueue(conn, "effect", {})
    assert [row.kind for row in job_rows(engine)] == ["work"]
    survivor._run(taken)
    [row] = job_rows(engine)
    assert (row.state, row.worker, ran) == ("done", "survivor", [2])


def test_a_live_workers_leases_are_renewed_and_a_dead_ones_run_out_in_seconds(
    engine: Engine,
) -> None:
    lease = timedelta(seconds=0.6)
    with transaction(engine) as conn:
        queue.enqueue(conn, "slow", {})
        queue.enqueue(conn, "orphan", {})
    calls = Counter[str]()
    started = threading.Event()

    def slow(context: JobContext) -> None:
        calls["slow"] += 1
        started.set()
        time.sleep(4 * lease.total_seconds())  # outlives its lease several times over

    worker = Worker(engine, {"slow": slow}, SHANGHAI, batch=1, lease=lease, name="alive")
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_until, args=(stop,))
    thread.start()
    try:
        assert started.wait(10)
        with transaction(engine) as conn:
            [orphan] = queue.claim(conn, "killed", limit=1, lease=lease)  # nobody renews it
        other = Worker(
            engine, {"orphan": lambda c: calls.update(["orphan"])}, SHANGHAI, name="other"
        )
        deadline = time.monotonic() + 3 * lease.total_seconds()
        while time.monotonic() < deadline:
            other.run_once()  # takes the orphan once its lease ran out, never the slow job
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join()
    assert calls == {"slow": 1, "orphan": 1}
    assert {row.kind: (row.state, row.worker) for row in job_rows(engine)} == {
        "slow": ("done", "alive"),
        "orphan": ("done", "other"),
    }
    assert orphan.kind == "orphan"


def test_a_stopping_worker_gives_back_the_jobs_it_has_not_started(engine: Engine) -> None:
    with transaction(engine) as conn:
        for n in range(3):
            queue.enqueue(conn, "step", {"n": n})
    stop = threading.Event()
    worker = Worker(engine, {"step": lambda c: stop.set()}, SHANGHAI, batch=3)
    assert worker.run_once(stop) == 1
    assert [(row.state, row.attempts, row.worker) for row in job_rows(engine)] == [
        ("done", 1, worker.name),
        ("ready", 0, None),
        ("ready", 0, None),
    ]


def test_a_stopped_worker_holds_no_connection_once_it_has_returned(engine: Engine) -> None:
    """``run_until`` returns only after its heartbeat has ended. A beat still in its
    transaction when the caller went on to dispose of the engine gave its connection back to
    the disposed pool, which dropped it open: a ``ResourceWarning`` in whichever later test
    the garbage collector ran."""
    worker = Worker(engine, {}, SHANGHAI, lease=timedelta(seconds=0.3), name="beating")
    stop = threading.Event()
    in_beat = threading.Event()
    go_on = threading.Event()

    def hold(*_: Any) -> None:
        if threading.current_thread().name == "beating-heartbeat":
            in_beat.set()
            go_on.wait(0.3)  # still renewing when the worker is told to stop

    sa.event.listen(engine, "checkout", hold)
    thread = threading.Thread(target=worker.run_until, args=(stop,))
    thread.start()
    try:
        assert in_beat.wait(10)
        stop.set()
        thread.join()
        assert [t.name for t in threading.enumerate() if t.name == "beating-heartbeat"] == []
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        stop.set()
        go_on.set()
        thread.join()
        sa.event.remove(engine, "checkout", hold)
