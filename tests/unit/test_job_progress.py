"""The pace an import's and an export's progress show: time left only while running, percent
of a known total, 100 once finished, 0 of an empty total."""

from __future__ import annotations

from meridian.dataio.progress import pace


def test_time_left_is_the_rows_left_at_the_pace_while_running() -> None:
    running = pace(
        rows_done=250, rows_total=1000, rows_per_second=30.0, running=True, finished=False
    )
    assert running == {"rows_per_second": 30.0, "seconds_left": 25.0, "percent": 25.0}
    stopped = pace(
        rows_done=250, rows_total=1000, rows_per_second=30.0, running=False, finished=False
    )
    assert stopped["seconds_left"] is None and stopped["percent"] == 25.0


def test_no_time_left_without_a_pace_or_a_total() -> None:
    assert (
        pace(rows_done=0, rows_total=10, rows_per_second=None, running=True, finished=False)[
            "seconds_left"
        ]
        is None
    )
    unknown = pace(rows_done=40, rows_total=None, rows_per_second=8.0, running=True, finished=False)
    assert unknown == {"rows_per_second": 8.0, "seconds_left": None, "percent": None}


def test_percent_of_the_total_then_finished_then_empty() -> None:
    assert (
        pace(rows_done=3, rows_total=3, rows_per_second=None, running=False, finished=True)[
            "percent"
        ]
        == 100.0
    )
    over = pace(rows_done=12, rows_total=10, rows_per_second=1.0, running=True, finished=False)
    assert over["percent"] == 100.0 and over["seconds_left"] == 0.0
    assert (
        pace(rows_done=0, rows_total=None, rows_per_second=None, running=False, finished=True)[
            "percent"
        ]
        == 100.0
    )
    assert (
        pace(rows_done=0, rows_total=0, rows_per_second=None, running=True, finished=False)[
            "percent"
        ]
        == 0.0
    )
    assert (
        pace(rows_done=1, rows_total=3, rows_per_second=None, running=False, finished=False)[
            "percent"
        ]
        == 33.3
    )
