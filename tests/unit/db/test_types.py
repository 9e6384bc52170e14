"""The SQLite text shortcuts give exactly the text the parsed values would."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from meridian.db.types import sqlite_date_iso, sqlite_datetime_iso


def _stored(moment: datetime) -> str:
    """How SQLAlchemy's SQLite dialect writes a naive UTC datetime (four-digit years)."""
    return f"{moment.year:04d}-{moment:%m-%d %H:%M:%S.%f}"


def test_datetimes_read_from_text_match_isoformat() -> None:
    rng = random.Random(7)
    start = datetime(1, 1, 1)
    for _ in range(5000):
        moment = start + timedelta(seconds=rng.randrange(0, 315_000_000_000))
        if rng.random() < 0.5:
            moment = moment.replace(microsecond=rng.randrange(1_000_000))
        expected = moment.replace(tzinfo=UTC).isoformat()
        assert sqlite_datetime_iso(_stored(moment)) == expected
        assert sqlite_datetime_iso(moment.isoformat(sep=" ")) == expected  # written elsewhere


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("2026-01-31", "2026-01-31"),
        ("0999-12-31", "0999-12-31"),
        ("2026-01-31 00:00:00", "2026-01-31"),
    ],
)
def test_dates_read_from_text_match_isoformat(stored: str, expected: str) -> None:
    assert sqlite_date_iso(stored) == expected == date.fromisoformat(expected).isoformat()
