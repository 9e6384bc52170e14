"""The worker: claims due jobs, runs their handlers, records the outcome.

It runs inside ``meridian serve`` by default (one thread) and as ``meridian worker
--concurrency N`` processes on any number of hosts; they share the queue safely (see
``meridian.events.jobs``). Each pass also fires the recurring schedules that are due.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
import uuid
from collections.abc import Mapping
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from meridian.db.engine import transaction
from meridian.events import jobs as queue
from meridian.events.jobs import Handler, JobContext
from meridian.events.schedules import fire_due_schedules

log = logging.getLogger(__name__)


class Worker:
    def __init__(
        self,
        engine: Engine,
        handlers: Mapping[str, Handler],
        tz: ZoneInfo,
        *,
        batch: int = 10,
        lease: timedelta = timedelta(minutes=5),
        name: str | None = None,
    ) -> None:
        self.engine = engine
        self.handlers = handlers
        self.tz = tz
        self.batch = batch
        self.lease = lease
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    def run_once(self) -> int:
        """Fire due schedules, then claim and run one batch; returns how many jobs ran."""
        with transaction(self.engine) as conn:
            fire_due_schedules(conn, self.tz)
        with transaction(self.engine) as conn:
            claimed = queue.claim(conn, self.name, limit=self.batch, lease=self.lease)
        # Successes are marked done together after the batch: one commit instead of one a job.
        # A worker that dies mid-batch leaves them running, and they run again after the lease
        # (at least once, as always; handlers are idempotent).
        done = [job for job in claimed if self._run(job)]
        with transaction(self.engine) as conn:
            queue.finish(conn, done, self.name)
        return len(claimed)

    def _run(self, job: queue.ClaimedJob) -> bool:
        """Run one job; a failure is recorded at once. True when it succeeded."""
        handler = self.handlers.get(job.kind)
        try:
            if handler is None:
                raise LookupError(f"no handler for jobs of kind {job.kind!r}")
            handler(JobContext(self.engine, job.id, job.payload, job.attempts))
        except Exception:  # any failure of a handler is the job's, never the worker's
            error = traceback.format_exc(limit=5)
            with transaction(self.engine) as conn:
                state = queue.fail(conn, job, self.name, error)
            log.warning("job %s (%s) failed, now %s", job.id, job.kind, state)
            return False
        return True

    def run_until(self, stop: threading.Event, idle_wait: float = 1.0) -> None:
        """Work until ``stop`` is set, waiting ``idle_wait`` seconds whenever nothing is due."""
        while not stop.is_set():
            try:
                ran = self.run_once()
            except Exception:  # the database may be briefly away; keep the loop alive
                log.exception("worker pass failed")
                ran = 0
            if not ran:
                stop.wait(idle_wait)


def start_in_background(
    engine: Engine, handlers: Mapping[str, Handler], tz: ZoneInfo, *, threads: int = 1
) -> tuple[threading.Event, list[threading.Thread]]:
    """Run ``threads`` workers as daemon threads; set the event to stop them."""
    stop = threading.Event()
    started = []
    for index in range(threads):
        worker = Worker(engine, handlers, tz)
        thread = threading.Thread(
            target=worker.run_until, args=(stop,), name=f"meridian-worker-{index}", daemon=True
        )
        thread.start()
        started.append(thread)
    return stop, started
