"""Which handler runs which kind of job: the one registry every worker is started with.

Features add their job kinds here as they arrive (rule actions, webhook deliveries,
notifications); a job of a kind no handler knows fails with a clear error and, after its
attempts, waits dead for an operator.
"""

from __future__ import annotations

from meridian.jobs.worker import Handler, JobContext


def _noop(context: JobContext) -> None:
    """Does nothing: lets an operator check that workers are running (``meridian jobs``)."""


def job_handlers() -> dict[str, Handler]:
    return {"noop": _noop}
