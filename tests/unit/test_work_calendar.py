"""Business time over a work calendar with China's National Day week of 2026: its holidays
(1–7 October) and 调休 make-up work days (Sunday 20 September, Saturday 10 October).

Properties hold for any instants and durations drawn around those dates, in the company's
zone (Asia/Shanghai, UTC+8, so a local work day starts on the previous UTC date) and in one
with daylight saving (America/New_York), plus a table of hand-worked cases.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meridian.flows.calendar.model import (
    CalendarTime,
    NoWorkTime,
    WorkCalendar,
    time_basis,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
HOURS = ((time(9), time(12)), (time(13, 30), time(18)))
HOLIDAYS = frozenset(date(2026, 10, d) for d in range(1, 8))
MAKE_UP = frozenset({date(2026, 9, 20), date(2026, 10, 10)})


def _calendar(tz: ZoneInfo = SHANGHAI) -> WorkCalendar:
    return WorkCalendar(tz, frozenset({1, 2, 3, 4, 5}), HOURS, HOLIDAYS, MAKE_UP)


CALENDARS = st.sampled_from([_calendar(SHANGHAI), _calendar(NEW_YORK)])
INSTANTS = st.datetimes(
    min_value=datetime(2026, 9, 15), max_value=datetime(2026, 11, 10), timezones=st.just(UTC)
)
DURATIONS = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=120))


def _at(day: int, hour: int, minute: int = 0, month: int = 10) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("start", "hours", "expected"),
    [
        # Wednesday 30 September 17:00: one hour left, then the whole holiday week.
        (_at(30, 17, month=9), 2, _at(8, 10)),
        # Friday 9 October 17:00: Saturday the 10th is a make-up work day.
        (_at(9, 17), 2, _at(10, 10)),
        # Saturday 10th 17:30 → Sunday off → Monday.
        (_at(10, 17, 30), 1, _at(12, 9, 30)),
        # Lunch is not work time.
        (_at(12, 11), 2, _at(12, 14, 30)),
        # Runs out exactly at the end of work: that end, not the next morning.
        (_at(12, 17), 1, _at(12, 18)),
        # Sunday 20 September is a make-up day; the start before work counts from 09:00.
        (_at(20, 7, month=9), 1, _at(20, 10, month=9)),
        # Zero is the start itself, even outside work time.
        (_at(3, 23), 0, _at(3, 23)),
    ],
)
def test_adding_business_hours(start: datetime, hours: float, expected: datetime) -> None:
    assert _calendar().add_hours(start, hours) == expected.astimezone(UTC)


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (_at(12, 10), 1, _at(13, 10)),
        (_at(30, 10, month=9), 1, _at(8, 10)),  # the holiday week is skipped
        (_at(9, 19), 1, _at(10, 18)),  # evening: counts from Saturday's (make-up) morning
        (_at(9, 10), 2, _at(12, 10)),
        (_at(12, 10), 0.5, _at(12, 15, 15)),  # 3¾ hours, over lunch
    ],
)
def test_adding_business_days(start: datetime, days: float, expected: datetime) -> None:
    assert _calendar().add_days(start, days) == expected.astimezone(UTC)


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        (_at(30, 18, month=9), _at(8, 9), 0),  # nothing but the holiday week
        (_at(9, 9), _at(12, 9), 15),  # Friday and the make-up Saturday
        (_at(12, 11), _at(12, 14), 1.5),  # over lunch
        (_at(12, 14), _at(12, 11), -1.5),
        (_at(19, 0, month=9), _at(21, 0, month=9), 7.5),  # Saturday off, make-up Sunday on
    ],
)
def test_business_time_elapsed(start: datetime, end: datetime, hours: float) -> None:
    assert _calendar().elapsed(start, end) == timedelta(hours=hours)


def test_work_time_is_wall_clock_time_in_the_calendar_zone() -> None:
    calendar = _calendar()
    # 01:30 UTC on Monday 12 October is 09:30 in Shanghai: work time, on the previous UTC date.
    assert calendar.is_counting(datetime(2026, 10, 12, 1, 30, tzinfo=UTC))
    assert not calendar.is_counting(datetime(2026, 10, 12, 0, 59, tzinfo=UTC))
    assert calendar.is_counting(_at(10, 9))  # the make-up Saturday
    assert not calendar.is_counting(_at(5, 10))  # a holiday Monday
    assert not calendar.is_counting(_at(12, 18))  # a period's end is after work


def test_calendar_time_counts_every_moment() -> None:
    clock = time_basis(_calendar(), "calendar")
    assert isinstance(clock, CalendarTime)
    assert clock.add_hours(_at(30, 17, month=9), 2) == _at(30, 19, month=9)
    assert clock.add_days(_at(30, 17, month=9), 3) == _at(3, 17).astimezone(UTC)
    assert clock.elapsed(_at(1, 0), _at(8, 0)) == timedelta(days=7)
    assert clock.is_counting(_at(3, 3))
    # Across New York's change back from daylight saving a calendar day is 25 hours long.
    fall = CalendarTime(NEW_YORK)
    before = datetime(2026, 10, 31, 12, tzinfo=NEW_YORK)
    assert fall.add_days(before, 1) == datetime(2026, 11, 1, 12, tzinfo=NEW_YORK)
    assert fall.elapsed(before, fall.add_days(before, 1)) == timedelta(hours=25)


def test_time_basis_is_named() -> None:
    assert time_basis(_calendar(), "business") is not None
    with pytest.raises(ValueError, match="unknown time basis"):
        time_basis(_calendar(), "lunar")  # type: ignore[arg-type]


def test_refusals() -> None:
    calendar = _calendar()
    with pytest.raises(ValueError, match="naive"):
        calendar.add_hours(datetime(2026, 10, 12, 10), 1)
    with pytest.raises(ValueError, match="zero or more"):
        calendar.add_hours(_at(12, 10), -1)
    with pytest.raises(ValueError, match="sorted"):
        WorkCalendar(SHANGHAI, frozenset({1}), ((time(13), time(12)),))
    workless = WorkCalendar(SHANGHAI, frozenset(), HOURS)
    with pytest.raises(NoWorkTime):
        workless.add_hours(_at(12, 10), 1)
    assert workless.elapsed(_at(1, 0), _at(30, 0)) == timedelta(0)


@settings(max_examples=300, deadline=None)
@given(calendar=CALENDARS, start=INSTANTS, duration=DURATIONS)
def test_elapsed_undoes_add(calendar: WorkCalendar, start: datetime, duration: timedelta) -> None:
    end = calendar.add(start, duration)
    assert end >= start
    assert calendar.elapsed(start, end) == duration
    if duration:
        # It ends in work time or just at the end of a period, never in a pause.
        assert calendar.is_counting(end - timedelta(microseconds=1))


@settings(max_examples=300, deadline=None)
@given(calendar=CALENDARS, start=INSTANTS, first=DURATIONS, second=DURATIONS)
def test_adding_in_two_steps_is_adding_once(
    calendar: WorkCalendar, start: datetime, first: timedelta, second: timedelta
) -> None:
    if first:  # a step of zero from outside work time stays put; the sum then starts later
        assert calendar.add(calendar.add(start, first), second) == calendar.add(
            start, first + second
        )
    assert calendar.add(start, min(first, second)) <= calendar.add(start, max(first, second))


@settings(max_examples=300, deadline=None)
@given(calendar=CALENDARS, a=INSTANTS, b=INSTANTS, c=INSTANTS)
def test_elapsed_adds_up_and_never_exceeds_the_clock(
    calendar: WorkCalendar, a: datetime, b: datetime, c: datetime
) -> None:
    assert calendar.elapsed(a, b) + calendar.elapsed(b, c) == calendar.elapsed(a, c)
    assert timedelta(0) <= calendar.elapsed(min(a, b), max(a, b)) <= max(a, b) - min(a, b)
    assert calendar.elapsed(a, b) == -calendar.elapsed(b, a)


@settings(max_examples=150, deadline=None)
@given(
    calendar=CALENDARS,
    start=INSTANTS.map(lambda t: t.replace(second=0, microsecond=0)),
    minutes=st.integers(min_value=0, max_value=3 * 24 * 60),
)
def test_elapsed_counts_the_minutes_in_work_time(
    calendar: WorkCalendar, start: datetime, minutes: int
) -> None:
    """Against the plainest oracle: minute by minute, is this minute work time?"""
    counted = sum(calendar.is_counting(start + timedelta(minutes=m)) for m in range(0, minutes, 1))
    hours_aligned = all(p.minute % 30 == 0 for period in HOURS for p in period)
    assert hours_aligned
    assert calendar.elapsed(start, start + timedelta(minutes=minutes)) == timedelta(minutes=counted)


@settings(max_examples=200, deadline=None)
@given(calendar=CALENDARS, day=st.dates(date(2026, 9, 14), date(2026, 11, 8)))
def test_a_days_work_time_follows_holidays_and_make_up_days(
    calendar: WorkCalendar, day: date
) -> None:
    local_start = datetime.combine(day, time(0), tzinfo=calendar.tz)
    local_end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=calendar.tz)
    worked = calendar.elapsed(local_start, local_end)
    if day in HOLIDAYS:
        assert worked == timedelta(0)
    elif day in MAKE_UP or day.isoweekday() <= 5:
        assert worked == calendar.day_length == timedelta(hours=7.5)
    else:
        assert worked == timedelta(0)


@settings(max_examples=200, deadline=None)
@given(calendar=CALENDARS, start=INSTANTS, days=st.integers(min_value=0, max_value=15))
def test_business_days_are_work_day_lengths(
    calendar: WorkCalendar, start: datetime, days: int
) -> None:
    end = calendar.add_days(start, days)
    assert calendar.elapsed(start, end) == calendar.day_length * days
