"""The worker: claims due jobs, runs their handlers, records the outcome.

It runs inside ``meridian serve`` by default (one thread) and as ``meridian worker
--concurrency N`` processes on any number of hosts; they share the queue safely (see
``meridian.jobs.queue``). Each pass also fires the recurring schedules that are due.

Each job is completed the moment it ran — by its handler's own transaction
(:meth:`JobContext.transaction`) or right after it — so a worker that dies loses at most the
job it was running. While the worker lives a heartbeat renews its leases every third of a
lease; when it dies they run out within one lease (``MERIDIAN_JOB_LEASE_SECONDS``) and its jobs
are claimed again.
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

from meridian.core.i18n import Text, stored
from meridian.db.engine import transaction
from meridian.jobs import queue
from meridian.jobs.queue import Handler, JobContext, LeaseLost
from meridian.jobs.reactions import dispatch_events
from meridian.jobs.schedules import fire_due_schedules

log = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(seconds=30)


class Worker:
    def __init__(
        self,
        engine: Engine,
        handlers: Mapping[str, Handler],
        tz: ZoneInfo,
        *,
        batch: int = 10,
        lease: timedelta = DEFAULT_LEASE,
        name: str | None = None,
    ) -> None:
        self.engine = engine
        self.handlers = handlers
        self.tz = tz
        self.batch = batch
        self.lease = lease
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    def run_once(self, stop: threading.Event | None = None) -> int:
        """Hand committed events to the reactions, fire due schedules, then claim and run one
        batch; returns how many jobs ran.

        Once ``stop`` is set, the jobs of the batch not yet started are given back."""
        dispatch_events(self.engine)
        with transaction(self.engine) as conn:
            fire_due_schedules(conn, self.tz)
        with transaction(self.engine) as conn:
            claimed = queue.claim(conn, self.name, limit=self.batch, lease=self.lease)
        for index, job in enumerate(claimed):
            if stop is not None and stop.is_set():
                with transaction(self.engine) as conn:
                    queue.release(conn, claimed[index:], self.name)
                return index
            self._run(job)
        return len(claimed)

    def _run(self, job: queue.ClaimedJob) -> None:
        """Run one job and record its outcome at once (done, or failed)."""
        handler = self.handlers.get(job.kind)
        context = JobContext(self.engine, job.id, job.payload, job.attempts, self.name)
        try:
            if handler is None:
                raise LookupError(Text("no handler for jobs of kind {kind!r}", kind=job.kind))
            handler(context)
            if not context.completed:
                with transaction(self.engine) as conn:
                    queue.finish(conn, [job], self.name)
        except LeaseLost:
            log.warning("job %s (%s): lease lost to another worker", job.id, job.kind)
        except Exception as exc:  # any failure of a handler is the job's, never the worker's
            error = failure(exc, traceback.format_exc(limit=5))
            with transaction(self.engine) as conn:
                state = queue.fail(conn, job, self.name, error)
            log.warning("job %s (%s) failed, now %s", job.id, job.kind, state)

    def heartbeat(self, stop: threading.Event) -> None:
        """Renew this worker's leases every third of a lease until ``stop`` is set."""
        while not stop.wait(self.lease.total_seconds() / 3):
            try:
                with transaction(self.engine) as conn:
                    queue.renew(conn, self.name, lease=self.lease)
            except Exception:  # the database may be briefly away; the next beat tries again
                log.exception("worker heartbeat failed")

    def run_until(self, stop: threading.Event, idle_wait: float = 1.0) -> None:
        """Work until ``stop`` is set, waiting ``idle_wait`` seconds whenever nothing is due;
        a heartbeat thread renews the leases meanwhile. Returns once the heartbeat has ended
        too, so a stopped worker holds no connection: one a beat still held would go back to
        a pool already disposed of and be dropped open."""
        done = threading.Event()
        beat = threading.Thread(
            target=self.heartbeat, args=(done,), name=f"{self.name}-heartbeat", daemon=True
        )
        beat.start()
        try:
            while not stop.is_set():
                try:
                    ran = self.run_once(stop)
                except Exception:  # the database may be briefly away; keep the loop alive
                    log.exception("worker pass failed")
                    ran = 0
                if not ran:
                    stop.wait(idle_wait)
        finally:
            done.set()
            beat.join()


def start_in_background(
    engine: Engine,
    handlers: Mapping[str, Handler],
    tz: ZoneInfo,
    *,
    threads: int = 1,
    lease: timedelta = DEFAULT_LEASE,
) -> tuple[threading.Event, list[threading.Thread]]:
    """Run ``threads`` workers as daemon threads; set the event to stop them."""
    stop = threading.Event()
    started = []
    for index in range(threads):
        worker = Worker(engine, handlers, tz, lease=lease)
        thread = threading.Thread(
            target=worker.run_until, args=(stop,), name=f"meridian-worker-{index}", daemon=True
        )
        thread.start()
        started.append(thread)
    return stop, started


def failure(exc: Exception, trace: str) -> str:
    """A failed attempt as the job keeps it: the error's own sentence when it is a catalog
    :class:`Text` (said later in each reader's language), else the exception's English as the
    parameter of one; the traceback beside it, for operators."""
    said = exc.args[0] if exc.args and isinstance(exc.args[0], Text) else None
    if said is None:
        said = Text("{kind}: {reason}", kind=type(exc).__name__, reason=str(exc))
    return stored(said, limit=4000, trace=trace[-3000:])
