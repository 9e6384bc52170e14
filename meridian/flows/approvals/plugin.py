"""The approval engine as a plugin: its timeout scan (a job and its minute schedule)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from meridian.flows.approvals import timeouts
from meridian.jobs.queue import Handler
from meridian.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from meridian.http.deps import Workspace


@hookimpl
def register_job_handlers(meridian: Workspace) -> Mapping[str, Handler]:
    return {timeouts.SCAN: timeouts.scan_timeouts}
