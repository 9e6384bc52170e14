"""How far a long job over rows has come, as its progress page and the API show it: an
import (``drafts.progress_of``) and an export (``export_job.get_export``) alike."""

from __future__ import annotations

from typing import TypedDict


class Pace(TypedDict):
    rows_per_second: float | None
    seconds_left: float | None
    percent: float | None


def pace(
    *,
    rows_done: int,
    rows_total: int | None,
    rows_per_second: float | None,
    running: bool,
    finished: bool,
) -> Pace:
    """Rows per second as given, the seconds left at that pace while the job runs (None
    without a pace or a total) and the percent of rows done: of the total when one is known,
    100 once finished, 0 of an empty total, else None."""
    left = None
    if running and rows_per_second and rows_total is not None:
        left = round(max(rows_total - rows_done, 0) / rows_per_second, 1)
    percent = None
    if rows_total:
        percent = min(100.0, round(100.0 * rows_done / rows_total, 1))
    elif finished:
        percent = 100.0
    elif rows_total == 0:
        percent = 0.0
    return {"rows_per_second": rows_per_second, "seconds_left": left, "percent": percent}
