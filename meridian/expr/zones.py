"""UTC-offset history of a time zone, for the SQL dialect that has no time zone database.

SQLite cannot convert between UTC and a named zone, so the compiler spells the zone's offsets
out as a CASE over the instants where they change. The table is read from the same
``zoneinfo`` data Python uses, for 1900-2100; outside that range SQLite keeps the nearest
known offset.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

_FIRST = datetime(1900, 1, 1, tzinfo=UTC)
_LAST = datetime(2100, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class OffsetPeriod:
    """From ``starts`` (UTC, naive) on, local time is UTC + ``offset`` seconds.

    :ivar first_midnight: the first local date whose midnight falls in this period under the
        "smaller offset wins" rule of :func:`meridian.expr.dates.local_midnight`.
    """

    starts: datetime
    offset: int
    first_midnight: date


def _offset(zone: ZoneInfo, moment: datetime) -> int:
    delta = moment.astimezone(zone).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


def _transition(zone: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """The first second in (before, after] whose offset differs from ``before``'s."""
    low, high = before, after
    old = _offset(zone, before)
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if _offset(zone, middle) == old:
            low = middle
        else:
            high = middle
    return high


def _first_midnight(starts: datetime, offset: int) -> date:
    local = starts + timedelta(seconds=offset)
    return local.date() if local.time() == datetime.min.time() else local.date() + timedelta(1)


@functools.lru_cache(maxsize=16)
def offset_periods(zone_key: str) -> tuple[OffsetPeriod, ...]:
    """The zone's offsets, oldest first; the first period also covers everything before 1900
    and the last everything after 2100."""
    zone = ZoneInfo(zone_key)
    periods = [OffsetPeriod(datetime(1, 1, 1), _offset(zone, _FIRST), date(1, 1, 1))]
    moment = _FIRST
    current = periods[0].offset
    while moment < _LAST:
        following = moment + timedelta(days=1)
        offset = _offset(zone, following)
        if offset != current:
            starts = _transition(zone, moment, following)
            naive = starts.replace(tzinfo=None)
            periods.append(OffsetPeriod(naive, offset, _first_midnight(naive, offset)))
            current = offset
        moment = following
    return tuple(periods)
