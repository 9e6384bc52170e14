"""The job queue: durable background work and timers in the application's own database.

A job is a row, written in the transaction of the change that causes it — so it exists exactly
when the change does. A timer is a job whose ``run_at`` lies ahead. Workers claim due jobs with
a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serialises writers), run them, and
mark them done; a failure comes back later with exponential backoff, and after
``max_attempts`` the job is dead until an operator retries or discards it. A worker that dies
mid-job loses its lease and the job is claimed again, so handlers must be idempotent (the job
id is their idempotency key).

This module is the queue's SQL; the worker loop that runs handlers is ``meridian.jobs``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from meridian.core import clock
from meridian.db.bulk import insert_many
from meridian.db.tables import jobs
from meridian.errors import Conflict, NotFound

READY, RUNNING, DONE, DEAD = "ready", "running", "done", "dead"
DEFAULT_ATTEMPTS = 8
BACKOFF_BASE = timedelta(seconds=10)
BACKOFF_CAP = timedelta(hours=1)


@dataclass(frozen=True)
class JobContext:
    """What a handler gets: the engine (it opens its own transactions) and the job."""

    engine: Engine
    job_id: int
    payload: dict[str, Any]
    attempt: int


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
    """Add a job in the caller's transaction; None when ``idempotency_key`` is already queued."""
    values = {
        "kind": kind,
        "payload": dict(payload),
        "state": READY,
        "run_at": run_at or clock.utcnow(),
        "attempts": 0,
        "max_attempts": max_attempts,
        "idempotency_key": idempotency_key,
        "created_at": clock.utcnow(),
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
    """Add one job per payload with a single multi-row INSERT (no idempotency keys)."""
    if not payloads:
        return
    now = clock.utcnow()
    insert_many(
        conn,
        jobs,
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
    )


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int


def claim(conn: Connection, worker: str, *, limit: int, lease: timedelta) -> list[ClaimedJob]:
    """Take up to ``limit`` due jobs (or jobs whose worker's lease ran out) for ``worker``."""
    now = clock.utcnow()
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
        .values(state=DONE, finished_at=clock.utcnow(), lease_until=None, last_error=None)
    )


def backoff(attempt: int) -> timedelta:
    """How long to wait after failed attempt ``attempt`` (1-based): 10 s, 20 s, 40 s … ≤ 1 h."""
    delay: timedelta = BACKOFF_BASE * 2 ** (attempt - 1)
    return min(delay, BACKOFF_CAP)


def fail(conn: Connection, job: ClaimedJob, worker: str, error: str) -> str:
    """Record a failed attempt: back to ready after the backoff, or dead; returns the state."""
    state = DEAD if job.attempts >= job.max_attempts else READY
    now = clock.utcnow()
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
    conn: Connection, *, state: str | None = None, kind: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    query = sa.select(jobs).order_by(jobs.c.id.desc()).limit(max(1, min(limit, 500)))
    if state is not None:
        query = query.where(jobs.c.state == state)
    if kind is not None:
        query = query.where(jobs.c.kind == kind)
    return [_describe(dict(row._mapping)) for row in conn.execute(query)]


def _describe(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in row.items()
    }


def retry_dead(conn: Connection, job_id: int) -> dict[str, Any]:
    """Give a dead job a fresh set of attempts, due now."""
    return _from_dead(conn, job_id, state=READY, run_at=clock.utcnow(), attempts=0)


def discard_dead(conn: Connection, job_id: int) -> dict[str, Any]:
    """Close a dead job for good (kept for the record as done, with its last error)."""
    return _from_dead(conn, job_id, state=DONE, finished_at=clock.utcnow())


def _from_dead(conn: Connection, job_id: int, **values: Any) -> dict[str, Any]:
    row = conn.execute(sa.select(jobs.c.state).where(jobs.c.id == job_id)).first()
    if row is None:
        raise NotFound(f"job {job_id} does not exist", id=job_id)
    if row.state != DEAD:
        raise Conflict(f"job {job_id} is {row.state}, not dead", id=job_id, state=row.state)
    conn.execute(jobs.update().where(jobs.c.id == job_id).values(**values))
    row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).one()
    return _describe(dict(row._mapping))
