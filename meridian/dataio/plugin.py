"""Imports and exports as a plugin: the jobs that run an import and a long export started in
the browser or over HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from meridian.dataio import export_job, run_job
from meridian.jobs.queue import Handler
from meridian.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from meridian.http.deps import Workspace


@hookimpl
def register_job_handlers(meridian: Workspace) -> Mapping[str, Handler]:
    store = meridian.settings.file_store_dir
    return {
        run_job.RUN: run_job.import_runner(store, meridian.tz),
        export_job.RUN: export_job.export_runner(store, meridian.tz),
    }
