"""Dates and times of the sample data as ready-made ISO strings around a fixed anchor day.

Every date in a generation is an offset in days from the anchor (the sample's "today"), so
output never depends on the clock. Strings are formatted once per day and per time slot, not
per row: formatting is what would otherwise dominate generating millions of rows.
"""

from __future__ import annotations

from datetime import date, timedelta

FIRST_OFFSET = -3000
LAST_OFFSET = 2000
"""Offsets the generators may use: about eight years back and five ahead of the anchor."""

_UTC_OFFSET = "+08:00"  # Asia/Shanghai has no daylight saving time, so one suffix is exact.
TIME_SLOTS: tuple[str, ...] = tuple(
    f"T{hour:02d}:{minute:02d}:00{_UTC_OFFSET}"
    for hour in range(8, 21)
    for minute in (0, 15, 30, 45)
)
"""Working-hours times of day, the suffix of a datetime string."""


class Timeline:
    """ISO dates and datetimes by day offset from ``anchor``.

    A lookup outside ``FIRST_OFFSET..LAST_OFFSET`` raises ``KeyError`` rather than producing a
    wrong day, so a generator bug cannot silently emit out-of-range dates.
    """

    def __init__(self, anchor: date) -> None:
        self.anchor = anchor
        self._days = {
            offset: (anchor + timedelta(days=offset)).isoformat()
            for offset in range(FIRST_OFFSET, LAST_OFFSET + 1)
        }

    def day(self, offset: int) -> str:
        return self._days[offset]

    def moment(self, offset: int, slot: str) -> str:
        """The datetime at ``slot`` (one of ``TIME_SLOTS``) on the day ``offset``."""
        return self._days[offset] + slot


def yuan(amount: int) -> str:
    """A whole-yuan amount as the API's money string."""
    return f"{amount}.00"


def fen(amount: int) -> str:
    """An amount in fen (hundredths of a yuan) as the API's money string."""
    return f"{amount // 100}.{amount % 100:02d}"
