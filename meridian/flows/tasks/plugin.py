"""Tasks as a plugin: the overdue scan's job handler."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from meridian.flows.tasks.overdue import OVERDUE_SCAN, scan_overdue
from meridian.jobs.queue import Handler
from meridian.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from meridian.http.deps import Workspace


@hookimpl
def register_job_handlers(meridian: Workspace) -> Mapping[str, Handler]:
    return {OVERDUE_SCAN: scan_overdue}
