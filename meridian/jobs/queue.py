"""The job queue: durable background work and timers in the application's own database.

A job is a row, written in the transaction of the change that causes it — so it exists exactly
when the change does. A timer is a job whose ``run_at`` lies ahead. Workers claim due jobs with
a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serialises writers), run them, and
mark them done one by one; a failure comes back later with exponential backoff, and after
``max_attempts`` the job is dead until an operator retries or discards it. A live worker renews
its leases (a heartbeat); one that dies loses them within a lease and its jobs are claimed again.

So that a job that is run again does nothing twice, a handler whose effect is database writes
makes them in :meth:`JobContext.transaction`, which completes the job in the same transaction:
the effects and the completion commit together or not at all, and a worker whose lease was
taken over cannot commit them (:class:`LeaseLost`). An effect outside the database (an HTTP
call) can still happen twice — the process may die after the call and before recording it — so
such a handler sends a key derived from what caused it, the same on every attempt, for the
receiver to drop the repeat.

This module is the queue's SQL; the worker loop that runs handlers is ``meridian.jobs.worker``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from meridian.core import clock
from meridian.core.i18n import N_, Text, localized, stored_detail
from meridian.db.bulk import insert_many
from meridian.db.gathering import gather, write_gathered
from meridian.db.tables import jobs
from meridian.errors import Conflict, NotFound

READY, RUNNING, DONE, DEAD = "ready", "running", "done", "dead"
JOBS = "jobs"
"""The kind jobs are gathered under (``db.gathering``)."""
STATE_NAMES = {
    READY: N_("waiting"),
    RUNNING: N_("running"),
    DONE: N_("done"),
    DEAD: N_("failed"),
}
"""Each state as a person reads it (pages translate these)."""


KIND_NAMES = {
    "rules.run": N_("Run a rule"),
    "rules.scan": N_("Check time rules"),
    "rules.scheduled": N_("Run a scheduled rule"),
    "rules.call": N_("Call a rule's web address"),
    "webhook.deliver": N_("Deliver a webhook"),
    "noop": N_("Test job"),
    "tasks.overdue": N_("Find overdue tasks"),
    "stages.sla_scan": N_("Check stage time limits"),
    "approvals.timeouts": N_("Check approval time limits"),
    "statistics.refresh": N_("Refresh database statistics"),
    "schema.view_indexes": N_("Build the indexes of saved views"),
    "documents.batch": N_("Make documents in a batch"),
    "export.run": N_("Export records"),
}
"""The built-in job kinds as a person reads them; a plugin's kind is shown by its name."""


def kind_name(kind: str) -> str:
    """A job's kind in words, said in the reader's language (``rules.run`` → "Run a rule")."""
    return Text(KIND_NAMES[kind]) if kind in KIND_NAMES else kind


def state_name(state: str) -> Text:
    """A job's state in words, said in the reader's language."""
    return Text(STATE_NAMES.get(state, state))


DEFAULT_ATTEMPTS = 8
BACKOFF_BASE = timedelta(seconds=10)
BACKOFF_CAP = timedelta(hours=1)


class LeaseLost(Exception):
    """The job's lease ran out and another worker took the job over: this run must not commit."""


@dataclass
class JobContext:
    """What a handler gets: the engine (it opens its own transactions) and the job.

    :ivar worker: the worker holding the job's lease; None when the handler is called outside
        a worker (then :meth:`transaction` is a plain transaction).
    :ivar completed: set once :meth:`transaction` committed the job's completion.
    """

    engine: Engine
    job_id: int
    payload: dict[str, Any]
    attempt: int
    worker: str | None = None
    completed: bool = field(default=False, init=False)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A transaction that also completes the job: what the handler writes in it and the
        job's completion commit together, or neither does. The completion is written first,
        so the job row stays locked (PostgreSQL) or the database (SQLite) until the commit and
        no other worker can claim the job meanwhile; :class:`LeaseLost` when one already has."""
        with self.engine.begin() as conn:
            if self.worker is not None:
                complete(conn, self.job_id, self.worker)
            yield conn
        self.completed = self.worker is not None

    @contextmanager
    def step(self) -> Iterator[Connection]:
        """A transaction of a long job's intermediate work (a batch's chunk): it commits only
        while this worker still holds the job — :class:`LeaseLost` when another worker took it
        over after the lease ran out, so two runs of one job never both write. The job's row
        stays locked (PostgreSQL) or the database (SQLite) until the commit."""
        with self.engine.begin() as conn:
            if self.worker is not None:
                hold(conn, self.job_id, self.worker)
            yield conn


Handler = Callable[[JobContext], None]
"""Runs one job; raising means the attempt failed. Features define handlers beside their code."""


def enqueue(
    conn: Connection,
    kind: str,
    payload: Mapping[str, Any],
    *,
    run_at: datetime | None = None,
    max_attempts: int = DEFAULT_ATTEMPTS,
    idempotency_key: str | None = None,
) -> int | None:
    """Add a job in the caller's transaction; None when ``idempotency_key`` is already queued.
    Jobs gathered before it (:func:`enqueue_many` in a ``gathering`` scope) are written first,
    so jobs keep the order they were enqueued in."""
    write_gathered(conn, JOBS)
    values = {
        "kind": kind,
        "payload": dict(payload),
        "state": READY,
        "run_at": run_at or clock.utcnow(conn),
        "attempts": 0,
        "max_attempts": max_attempts,
        "idempotency_key": idempotency_key,
        "created_at": clock.utcnow(conn),
    }
    insert_of = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert_of(jobs)
        .values(values)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(jobs.c.id)
    )
    job_id = conn.execute(statement).scalar_one_or_none()
    return int(job_id) if job_id is not None else None


def enqueue_many(
    conn: Connection,
    kind: str,
    payloads: Sequence[Mapping[str, Any]],
    *,
    run_at: datetime | None = None,
) -> None:
    """Add one job per payload with a single multi-row INSERT (no idempotency keys); inside
    a ``gathering`` scope (a record write telling its subscribers) the jobs join the scope's one
    INSERT of jobs, written before the scope ends."""
    if not payloads:
        return
    now = clock.utcnow(conn)
    gather(
        conn,
        JOBS,
        [
            {
                "kind": kind,
                "payload": dict(payload),
                "state": READY,
                "run_at": run_at or now,
                "attempts": 0,
                "max_attempts": DEFAULT_ATTEMPTS,
                "created_at": now,
            }
            for payload in payloads
        ],
        _insert_jobs,
    )


def _insert_jobs(conn: Connection, rows: list[dict[str, Any]]) -> None:
    insert_many(conn, jobs, rows)


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int


def claim(conn: Connection, worker: str, *, limit: int, lease: timedelta) -> list[ClaimedJob]:
    """Take up to ``limit`` due jobs (or jobs whose worker's lease ran out) for ``worker``."""
    now = clock.utcnow(conn)
    due = sa.or_(
        sa.and_(jobs.c.state == READY, jobs.c.run_at <= now),
        sa.and_(jobs.c.state == RUNNING, jobs.c.lease_until < now),
    )
    candidates = sa.select(jobs.c.id).where(due).order_by(jobs.c.run_at, jobs.c.id).limit(limit)
    if conn.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    rows = conn.execute(
        jobs.update()
        .where(jobs.c.id.in_(candidates.scalar_subquery()))
        .values(
            state=RUNNING,
            lease_until=now + lease,
            worker=worker,
            attempts=jobs.c.attempts + 1,
        )
        .returning(jobs.c.id, jobs.c.kind, jobs.c.payload, jobs.c.attempts, jobs.c.max_attempts)
    ).all()
    return sorted(
        (ClaimedJob(r.id, r.kind, dict(r.payload), r.attempts, r.max_attempts) for r in rows),
        key=lambda job: job.id,
    )


def complete(conn: Connection, job_id: int, worker: str) -> None:
    """Mark one job done in the caller's transaction; :class:`LeaseLost` unless ``worker``
    still holds it."""
    taken = conn.execute(
        jobs.update()
        .where(jobs.c.id == job_id, jobs.c.worker == worker, jobs.c.state == RUNNING)
        .values(state=DONE, finished_at=clock.utcnow(conn), lease_until=None, last_error=None)
    ).rowcount
    if taken != 1:
        raise LeaseLost(f"job {job_id} is no longer held by {worker}")


def hold(conn: Connection, job_id: int, worker: str) -> None:
    """Lock one job's row in the caller's transaction; :class:`LeaseLost` unless ``worker``
    still holds it."""
    held = conn.execute(
        jobs.update()
        .where(jobs.c.id == job_id, jobs.c.worker == worker, jobs.c.state == RUNNING)
        .values(lease_until=jobs.c.lease_until)
    ).rowcount
    if held != 1:
        raise LeaseLost(f"job {job_id} is no longer held by {worker}")


def renew(conn: Connection, worker: str, *, lease: timedelta) -> int:
    """The heartbeat: extend the lease of every job ``worker`` holds; returns how many.

    Rows locked by the worker's own completing transactions are skipped (PostgreSQL): they are
    about to be done, and waiting for them would only stall the heartbeat."""
    held = sa.select(jobs.c.id).where(jobs.c.worker == worker, jobs.c.state == RUNNING)
    if conn.dialect.name == "postgresql":
        held = held.with_for_update(skip_locked=True)
    renewed = conn.execute(
        jobs.update()
        .where(jobs.c.id.in_(held.scalar_subquery()))
        .values(lease_until=clock.utcnow(conn) + lease)
    ).rowcount
    return int(renewed)


def release(conn: Connection, claimed: Sequence[ClaimedJob], worker: str) -> None:
    """Give back claimed jobs that never started (a stopping worker), due at once, their
    claim not counted as an attempt."""
    if not claimed:
        return
    conn.execute(
        jobs.update()
        .where(
            jobs.c.id.in_([job.id for job in claimed]),
            jobs.c.worker == worker,
            jobs.c.state == RUNNING,
        )
        .values(state=READY, lease_until=None, worker=None, attempts=jobs.c.attempts - 1)
    )


def finish(conn: Connection, done: Sequence[ClaimedJob], worker: str) -> None:
    """Mark jobs done, except any another worker took over after this one's lease ran out."""
    if not done:
        return
    conn.execute(
        jobs.update()
        .where(
            jobs.c.id.in_([job.id for job in done]),
            jobs.c.worker == worker,
            jobs.c.state == RUNNING,
        )
        .values(state=DONE, finished_at=clock.utcnow(conn), lease_until=None, last_error=None)
    )


def backoff(attempt: int) -> timedelta:
    """How long to wait after failed attempt ``attempt`` (1-based): 10 s, 20 s, 40 s … ≤ 1 h."""
    delay: timedelta = BACKOFF_BASE * 2 ** (attempt - 1)
    return min(delay, BACKOFF_CAP)


def fail(conn: Connection, job: ClaimedJob, worker: str, error: str) -> str:
    """Record a failed attempt: back to ready after the backoff, or dead; returns the state."""
    state = DEAD if job.attempts >= job.max_attempts else READY
    now = clock.utcnow(conn)
    conn.execute(
        jobs.update()
        .where(jobs.c.id == job.id, jobs.c.worker == worker, jobs.c.state == RUNNING)
        .values(
            state=state,
            run_at=now + backoff(job.attempts) if state == READY else now,
            lease_until=None,
            last_error=error[:4000],
            finished_at=now if state == DEAD else None,
        )
    )
    return state


def list_jobs(
    conn: Connection,
    *,
    state: str | None = None,
    kind: str | None = None,
    limit: int = 100,
    locale: str = "en",
) -> list[dict[str, Any]]:
    """Jobs, newest first; a last error said in ``locale``, its traceback as ``trace``."""
    query = sa.select(jobs).order_by(jobs.c.id.desc()).limit(max(1, min(limit, 500)))
    if state is not None:
        query = query.where(jobs.c.state == state)
    if kind is not None:
        query = query.where(jobs.c.kind == kind)
    return [_describe(dict(row._mapping), locale) for row in conn.execute(query)]


def _describe(row: Mapping[str, Any], locale: str = "en") -> dict[str, Any]:
    described = {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in row.items()
    }
    if "last_error" in described:
        kept = described["last_error"]
        described["last_error"] = None if kept is None else localized(kept, locale)
        described["trace"] = stored_detail(kept, "trace")
    return described


def retry_dead(conn: Connection, job_id: int) -> dict[str, Any]:
    """Give a dead job a fresh set of attempts, due now."""
    return _from_dead(conn, job_id, state=READY, run_at=clock.utcnow(conn), attempts=0)


def discard_dead(conn: Connection, job_id: int) -> dict[str, Any]:
    """Close a dead job for good (kept for the record as done, with its last error)."""
    return _from_dead(conn, job_id, state=DONE, finished_at=clock.utcnow(conn))


def _from_dead(conn: Connection, job_id: int, **values: Any) -> dict[str, Any]:
    row = conn.execute(sa.select(jobs.c.state).where(jobs.c.id == job_id)).first()
    if row is None:
        raise NotFound(Text("job {job_id} does not exist", job_id=job_id), id=job_id)
    if row.state != DEAD:
        raise Conflict(
            Text("job {job_id} is {state}, not dead", job_id=job_id, state=state_name(row.state)),
            id=job_id,
            state=row.state,
        )
    conn.execute(jobs.update().where(jobs.c.id == job_id).values(**values))
    row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).one()
    return _describe(dict(row._mapping))
