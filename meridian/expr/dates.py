"""Calendar arithmetic in Python, with the rules the SQL back end reproduces.

- Results outside 0001-01-01 … 9999-12-31 are NULL (None), never an error.
- Adding months or years clamps to the month's last day (Jan 31 + 1 month = Feb 28), as Excel's
  EDATE and PostgreSQL's interval arithmetic do.
- DATEDIF counts whole units from ``start`` to ``end``, negative when ``end`` is earlier.
- A DATE compared with a DATETIME means midnight of that day in the workspace time zone. A
  midnight that does not exist or occurs twice (a daylight-saving switch) takes the smaller
  UTC offset, which is what PostgreSQL's ``AT TIME ZONE`` does.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta, tzinfo


def add_days(day: date, days: int) -> date | None:
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return None


def add_months(day: date, months: int) -> date | None:
    year, month_index = divmod(day.year * 12 + day.month - 1 + months, 12)
    if not 1 <= year <= 9999:
        return None
    month = month_index + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def add_seconds(moment: datetime, seconds: int) -> datetime | None:
    try:
        return moment.astimezone(UTC) + timedelta(seconds=seconds)
    except OverflowError:
        return None


def _month_key(day: date) -> int:
    return (day.year * 12 + day.month) * 100 + day.day


def months_between(start: date, end: date) -> int:
    """Whole months from ``start`` to ``end``: Jan 31 → Feb 28 is 0, Jan 15 → Feb 15 is 1.

    ``(12 * year + month) * 100 + day`` orders dates like the calendar and makes "a day of the
    month not yet reached" the last two digits, so truncating the difference by 100 counts
    complete months in either direction; SQL computes the same key.
    """
    difference = _month_key(end) - _month_key(start)
    whole = abs(difference) // 100
    return -whole if difference < 0 else whole


def date_difference(start: date, end: date, unit: str) -> int:
    if unit == "d":
        return (end - start).days
    months = months_between(start, end)
    if unit == "m":
        return months
    years = abs(months) // 12
    return -years if months < 0 else years


def local_date(moment: datetime, zone: tzinfo) -> date | None:
    try:
        return moment.astimezone(zone).date()
    except OverflowError:
        return None


def local_midnight(day: date, zone: tzinfo) -> datetime | None:
    naive = datetime.combine(day, time())
    offsets = [naive.replace(tzinfo=zone, fold=fold).utcoffset() for fold in (0, 1)]
    offset = min(offset for offset in offsets if offset is not None)
    try:
        return (naive - offset).replace(tzinfo=UTC)
    except OverflowError:
        return None
