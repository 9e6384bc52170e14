"""Imports as a plugin: the job that runs an import started in the browser or over HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from meridian.dataio import run_job
from meridian.jobs.queue import Handler
from meridian.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from meridian.http.deps import Workspace


@hookimpl
def register_job_handlers(meridian: Workspace) -> Mapping[str, Handler]:
    return {run_job.RUN: run_job.import_runner(meridian.settings.file_store_dir, meridian.tz)}
