"""Public holidays and 调休 make-up work days as the ``chinese-calendar`` package knows them."""

from __future__ import annotations

from typing import Any

import chinese_calendar

from meridian.core.i18n import Text
from meridian.errors import FieldError, ValidationFailed


def known_years() -> list[int]:
    """The years the installed package has data for."""
    return sorted({day.year for day in chinese_calendar.holidays})


def package_days(year: int) -> list[dict[str, Any]]:
    """The year's holidays and weekend make-up work days, named in Chinese."""
    years = known_years()
    if year not in years:
        raise ValidationFailed(
            [
                FieldError(
                    "year",
                    "unknown_year",
                    Text(
                        "chinese-calendar knows {first}–{last}; enter later years by hand",
                        first=years[0],
                        last=years[-1],
                    ),
                    year,
                )
            ]
        )
    names = {holiday.value: holiday.chinese for holiday in chinese_calendar.Holiday}
    holidays = [
        {"day": day, "kind": "holiday", "name": names.get(name, name or "")}
        for day, name in sorted(chinese_calendar.holidays.items())
        if day.year == year
    ]
    workdays = [
        {"day": day, "kind": "workday", "name": names.get(name, name or "")}
        for day, name in sorted(chinese_calendar.workdays.items())
        if day.year == year and day.weekday() >= 5
    ]
    return holidays + workdays
