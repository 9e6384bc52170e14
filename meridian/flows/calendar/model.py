"""Business and calendar time over a work calendar: pure functions of the calendar's rows.

A :class:`WorkCalendar` is the company's working week (ISO weekdays and work periods such as
09:00–12:00 and 13:30–18:00, wall-clock times in its time zone) corrected by dated exceptions:
public holidays (no work although a work weekday) and 调休 make-up work days (work although a
weekend). It answers three questions in business time — is an instant in work time, what
instant lies N business hours or days after another, how much work time lies between two
instants — and :class:`CalendarTime` answers the same in plain elapsed time, so a caller (an
SLA, a task's due date, an approval's timeout) chooses the basis with :func:`time_basis`.

Instants are aware datetimes; results are in UTC. A business day is the length of one work
day's periods (7.5 hours with the hours above): adding one to Monday 10:00 gives Tuesday 10:00,
and adding one to an instant outside work time counts from the next period's start, so a lead
that arrives on Friday evening is due by the end of Monday.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from meridian.core.i18n import Text

Basis = Literal["business", "calendar"]
BASES: tuple[Basis, ...] = ("business", "calendar")

_SEARCH_DAYS = 3 * 366
"""How far ahead a work period is looked for before the calendar is called workless."""

_ZERO = timedelta(0)


class NoWorkTime(ValueError):
    """The calendar has no work time within three years of the instant (no work days or no
    hours): business time cannot advance."""


class TimeBasis(Protocol):
    """What an SLA or a due date needs from a clock: business or calendar time alike."""

    def is_counting(self, instant: datetime) -> bool:
        """Whether time counts at ``instant`` (always, in calendar time)."""
        ...

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant at which ``duration`` (≥ 0) of counted time has passed since ``start``."""
        ...

    def add_hours(self, start: datetime, hours: float) -> datetime:
        """``add`` with a number of hours."""
        ...

    def add_days(self, start: datetime, days: float) -> datetime:
        """``days`` days after ``start``: business days (each one work day's length) or
        calendar days (the same wall-clock time, ``days`` dates later)."""
        ...

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Counted time from ``start`` to ``end`` (negative when ``end`` is earlier)."""
        ...


def _utc(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError(f"naive datetime {instant!r}: calendar arithmetic needs aware instants")
    return instant.astimezone(UTC)


@dataclass(frozen=True)
class CalendarTime:
    """Plain elapsed time; ``days`` are dates in the calendar's time zone (so a day is 24 hours
    except across a daylight-saving change there)."""

    tz: ZoneInfo

    def is_counting(self, instant: datetime) -> bool:
        _utc(instant)
        return True

    def add(self, start: datetime, duration: timedelta) -> datetime:
        if duration < _ZERO:
            raise ValueError("a duration to add is zero or more")
        return _utc(start) + duration

    def add_hours(self, start: datetime, hours: float) -> datetime:
        return self.add(start, timedelta(hours=hours))

    def add_days(self, start: datetime, days: float) -> datetime:
        if days < 0:
            raise ValueError("days to add are zero or more")
        whole = int(days)
        local = _utc(start).astimezone(self.tz)
        moved = datetime.combine(local.date() + timedelta(days=whole), local.timetz())
        return _utc(moved) + timedelta(days=days - whole)

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        return _utc(end) - _utc(start)


@dataclass(frozen=True)
class WorkCalendar:
    """The working week and its dated exceptions, in ``tz``.

    :ivar tz: the time zone whose wall clock the work periods follow.
    :ivar work_weekdays: ISO weekdays (1 = Monday) that are work days by default.
    :ivar periods: a work day's periods as (start, end) wall-clock times, sorted and disjoint.
    :ivar holidays: dates without work although their weekday is a work weekday.
    :ivar workdays: 调休 make-up dates with work although their weekday is not.
    """

    tz: ZoneInfo
    work_weekdays: frozenset[int]
    periods: tuple[tuple[time, time], ...]
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    _day_length: timedelta = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        previous_end: time | None = None
        for start, end in self.periods:
            if not start < end or (previous_end is not None and start < previous_end):
                raise ValueError(
                    "work periods must be sorted, disjoint and each end after it starts"
                )
            previous_end = end
        length = sum(
            (
                datetime.combine(date.min, end) - datetime.combine(date.min, start)
                for start, end in self.periods
            ),
            _ZERO,
        )
        object.__setattr__(self, "_day_length", length)

    @property
    def day_length(self) -> timedelta:
        """The work time of one work day (the length of a business day)."""
        return self._day_length

    def is_work_day(self, day: date) -> bool:
        """Whether ``day`` (a date in the calendar's zone) has work periods."""
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.isoweekday() in self.work_weekdays

    def work_periods(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The day's work periods as UTC instants; empty on a day off."""
        return _periods_of(self, day) if self.is_work_day(day) else ()

    def is_counting(self, instant: datetime) -> bool:
        """Whether ``instant`` is in work time (a period's start counts, its end does not)."""
        moment = _utc(instant)
        day = moment.astimezone(self.tz).date()
        return any(start <= moment < end for start, end in self.work_periods(day))

    def next_work_time(self, instant: datetime) -> datetime:
        """``instant`` itself when in work time, else the start of the next work period."""
        moment = _utc(instant)
        for start, end in self._periods_from(moment):
            if moment < end:
                return max(start, moment)
        raise NoWorkTime(Text("the calendar has no work time ahead"))  # pragma: no cover

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant at which ``duration`` (≥ 0) of work time has passed since ``start``: a
        period's end when it runs out exactly there, and ``start`` itself for zero."""
        if duration < _ZERO:
            raise ValueError("a duration to add is zero or more")
        moment = _utc(start)
        remaining = duration
        if remaining == _ZERO:
            return moment
        for period_start, period_end in self._periods_from(moment):
            if period_end <= moment:
                continue
            begin = max(period_start, moment)
            available = period_end - begin
            if remaining <= available:
                return begin + remaining
            remaining -= available
        raise NoWorkTime(Text("the calendar has no work time ahead"))  # pragma: no cover

    def add_hours(self, start: datetime, hours: float) -> datetime:
        """``add`` with a number of work hours."""
        return self.add(start, timedelta(hours=hours))

    def add_days(self, start: datetime, days: float) -> datetime:
        """``days`` business days after ``start``: ``days`` × one work day's length of work
        time (Monday 10:00 + 1 → Tuesday 10:00; Friday 19:00 + 1 → Monday's end of work)."""
        if days < 0:
            raise ValueError("days to add are zero or more")
        return self.add(start, self.day_length * days)

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Work time between two instants (negative when ``end`` is before ``start``)."""
        first, last = _utc(start), _utc(end)
        if last < first:
            return -self.elapsed(last, first)
        total = _ZERO
        first_day = first.astimezone(self.tz).date()
        last_day = last.astimezone(self.tz).date()
        day = first_day
        while day <= last_day:
            for period_start, period_end in self.work_periods(day):
                overlap = min(period_end, last) - max(period_start, first)
                if overlap > _ZERO:
                    total += overlap
            day += timedelta(days=1)
        return total

    def _periods_from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Work periods from the local day of ``moment`` on, for three years (a period is
        wall-clock times within one day, so none of an earlier day reaches ``moment``)."""
        day = moment.astimezone(self.tz).date()
        for offset in range(_SEARCH_DAYS):
            yield from self.work_periods(day + timedelta(days=offset))
        raise NoWorkTime(Text("the calendar has no work time within three years"))


@lru_cache(maxsize=4096)
def _periods_of(calendar: WorkCalendar, day: date) -> tuple[tuple[datetime, datetime], ...]:
    return tuple(
        (
            datetime.combine(day, start, tzinfo=calendar.tz).astimezone(UTC),
            datetime.combine(day, end, tzinfo=calendar.tz).astimezone(UTC),
        )
        for start, end in calendar.periods
    )


def time_basis(calendar: WorkCalendar, basis: Basis) -> TimeBasis:
    """The calendar's business time, or plain calendar time in its zone."""
    if basis == "business":
        return calendar
    if basis == "calendar":
        return CalendarTime(calendar.tz)
    raise ValueError(f"unknown time basis {basis!r}: expected one of {', '.join(BASES)}")
