"""The form engine as a plugin: Meridian's built-in field types, the job that keeps the
planner statistics of its tables fresh, and the one that builds saved views' indexes on
PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from meridian.db import statistics
from meridian.jobs.queue import Handler, JobContext
from meridian.plugins.hookspecs import hookimpl
from meridian.schema import view_indexes
from meridian.schema.fieldtypes import BUILTIN_FIELD_TYPES, FieldType

if TYPE_CHECKING:
    from meridian.http.deps import Workspace


def _refresh_statistics(context: JobContext) -> None:
    """Planner statistics for the tables whose row count moved by a tenth since they were
    gathered (scheduled every ten minutes by the workspace)."""
    statistics.refresh_stale(context.engine)


@hookimpl
def register_field_types() -> Sequence[FieldType]:
    return list(BUILTIN_FIELD_TYPES.values())


@hookimpl
def register_job_handlers(meridian: Workspace) -> Mapping[str, Handler]:
    return {
        statistics.REFRESH: _refresh_statistics,
        view_indexes.BUILD: view_indexes.run_build,
    }
