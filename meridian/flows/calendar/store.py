"""The work calendar's rows: read once per revision into a :class:`WorkCalendar`, and edited
by administrators (the working week, and holidays and 调休 days one date at a time).

Every change bumps the ``calendar`` revision token in the same transaction, so each process
rebuilds its cached calendar on the first read after a change and pays one small query
otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.db import revisions
from meridian.db.revisions import bump, token_of
from meridian.db.tables import calendar_days, work_calendar
from meridian.errors import ErrorCollector, NotFound, PermissionDenied
from meridian.events.audit import audit
from meridian.flows.calendar.model import WorkCalendar

CALENDAR_REVISION = "calendar"
DEFAULT_KEY = "default"
DAY_KINDS = ("holiday", "workday")
MAX_PERIODS = 6

_cache: dict[str, WorkCalendar] = {}
"""By revision token: random per change and per database, so never shared by mistake."""
_CACHED = 64


def load_calendar(conn: Connection) -> WorkCalendar:
    """The company's work calendar as of ``conn``'s transaction (cached per revision)."""
    token = revisions.token(conn, CALENDAR_REVISION)
    found = _cache.get(token) if token else None
    if found is not None:
        return found
    token, calendar = _read(conn)
    if token:
        if len(_cache) >= _CACHED:
            _cache.clear()
        _cache[token] = calendar
    return calendar


def _read(conn: Connection) -> tuple[str | None, WorkCalendar]:
    row = conn.execute(
        sa.select(
            token_of(CALENDAR_REVISION).label("token"),
            work_calendar.c.time_zone,
            work_calendar.c.work_days,
            work_calendar.c.work_hours,
        ).where(work_calendar.c.key == DEFAULT_KEY)
    ).one()
    days = conn.execute(sa.select(calendar_days.c.day, calendar_days.c.kind)).all()
    return row.token, WorkCalendar(
        tz=ZoneInfo(row.time_zone),
        work_weekdays=frozenset(int(d) for d in row.work_days),
        periods=tuple(
            (time.fromisoformat(start), time.fromisoformat(end)) for start, end in row.work_hours
        ),
        holidays=frozenset(d.day for d in days if d.kind == "holiday"),
        workdays=frozenset(d.day for d in days if d.kind == "workday"),
    )


def today_in_calendar(conn: Connection) -> date:
    """Today's date in the calendar's time zone."""
    return utcnow(conn).astimezone(load_calendar(conn).tz).date()


def get_settings(conn: Connection) -> dict[str, Any]:
    """The working week as stored: time zone, ISO work weekdays, work periods."""
    row = conn.execute(sa.select(work_calendar).where(work_calendar.c.key == DEFAULT_KEY)).one()
    return {
        "time_zone": row.time_zone,
        "work_days": list(row.work_days),
        "work_hours": [list(period) for period in row.work_hours],
        "updated_at": row.updated_at.isoformat() if row.updated_at else None,
    }


def list_days(conn: Connection, *, year: int | None = None) -> list[dict[str, Any]]:
    """Holidays and 调休 days, by date; of one year when ``year`` is given."""
    query = sa.select(
        calendar_days.c.day, calendar_days.c.kind, calendar_days.c.name, calendar_days.c.source
    ).order_by(calendar_days.c.day)
    if year is not None:
        query = query.where(
            calendar_days.c.day >= date(year, 1, 1), calendar_days.c.day <= date(year, 12, 31)
        )
    return [
        {"day": row.day.isoformat(), "kind": row.kind, "name": row.name, "source": row.source}
        for row in conn.execute(query)
    ]


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise PermissionDenied(Text("only administrators edit the work calendar"))


def update_settings(
    conn: Connection,
    actor: Actor,
    *,
    time_zone: Any,
    work_days: Any,
    work_hours: Any,
) -> dict[str, Any]:
    """Replace the working week; every problem is reported at once and nothing changes."""
    _require_admin(actor)
    errors = ErrorCollector()
    zone = _check_zone(time_zone, errors)
    weekdays = _check_weekdays(work_days, errors)
    periods = _check_periods(work_hours, errors)
    errors.raise_if_any()
    conn.execute(
        work_calendar.update()
        .where(work_calendar.c.key == DEFAULT_KEY)
        .values(
            time_zone=zone,
            work_days=weekdays,
            work_hours=periods,
            updated_by=actor.user_id,
            updated_at=utcnow(conn),
        )
    )
    bump(conn, CALENDAR_REVISION)
    audit(
        conn,
        actor_id=actor.user_id,
        action="calendar_changed",
        object_type="calendar",
        object_id=DEFAULT_KEY,
        detail={"time_zone": zone, "work_days": weekdays, "work_hours": periods},
    )
    return get_settings(conn)


def _check_zone(value: Any, errors: ErrorCollector) -> str:
    if isinstance(value, str) and 0 < len(value) <= 64:
        try:
            ZoneInfo(value)
            return value
        except (ZoneInfoNotFoundError, ValueError):
            pass
    errors.add("time_zone", "invalid_time_zone", Text("expected an IANA time zone name"), value)
    return ""


def _check_weekdays(value: Any, errors: ErrorCollector) -> list[int]:
    if (
        isinstance(value, list)
        and all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 7 for d in value)
        and len(set(value)) == len(value)
    ):
        return sorted(value)
    errors.add(
        "work_days", "invalid_work_days", Text("expected distinct ISO weekdays 1 (Mon) to 7"), value
    )
    return []


def _check_periods(value: Any, errors: ErrorCollector) -> list[list[str]]:
    reason = Text(
        "expected up to {limit} sorted, disjoint [start, end] times such as {example}",
        limit=MAX_PERIODS,
        example='["09:00", "12:00"]',
    )
    if not isinstance(value, list) or not 0 < len(value) <= MAX_PERIODS:
        errors.add("work_hours", "invalid_work_hours", reason, value)
        return []
    periods: list[tuple[time, time]] = []
    for index, period in enumerate(value):
        parsed = _period(period)
        if parsed is None:
            errors.add(f"work_hours.{index}", "invalid_work_hours", reason, period)
            return []
        periods.append(parsed)
    try:
        WorkCalendar(ZoneInfo("UTC"), frozenset(), tuple(periods))
    except ValueError:
        errors.add("work_hours", "invalid_work_hours", reason, value)
        return []
    return [[start.strftime("%H:%M"), end.strftime("%H:%M")] for start, end in periods]


def _period(value: Any) -> tuple[time, time] | None:
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        return None
    try:
        start, end = (time.fromisoformat(v) for v in value)
    except ValueError:
        return None
    if start.tzinfo or end.tzinfo or start.second or end.second or start.microsecond:
        return None
    return start, end


def set_day(
    conn: Connection, actor: Actor, *, day: Any, kind: Any, name: Any = ""
) -> dict[str, Any]:
    """Mark one date a holiday or a 调休 work day (replacing what it was)."""
    _require_admin(actor)
    errors = ErrorCollector()
    when = _check_date(day, errors)
    if kind not in DAY_KINDS:
        errors.add("kind", "invalid_kind", Text("expected holiday or workday"), kind)
    if not isinstance(name, str) or len(name) > 100:
        errors.add("name", "invalid_name", Text("expected text of at most 100 characters"), name)
    errors.raise_if_any()
    assert when is not None
    now = utcnow(conn)
    values = {"kind": kind, "name": name, "source": "admin", "updated_by": actor.user_id}
    changed = conn.execute(
        calendar_days.update().where(calendar_days.c.day == when).values(**values, updated_at=now)
    ).rowcount
    if not changed:
        conn.execute(calendar_days.insert().values(day=when, **values, updated_at=now))
    _changed(conn, actor, "calendar_day_set", when, {"kind": kind, "name": name})
    return {"day": when.isoformat(), "kind": kind, "name": name, "source": "admin"}


def remove_day(conn: Connection, actor: Actor, *, day: Any) -> None:
    """Let one date follow the working week again."""
    _require_admin(actor)
    errors = ErrorCollector()
    when = _check_date(day, errors)
    errors.raise_if_any()
    assert when is not None
    if not conn.execute(calendar_days.delete().where(calendar_days.c.day == when)).rowcount:
        raise NotFound(
            Text("{day} is neither a holiday nor a 调休 day", day=when.isoformat()), id=str(when)
        )
    _changed(conn, actor, "calendar_day_removed", when, {})


def seed_days(conn: Connection, actor: Actor, rows: Sequence[Mapping[str, Any]]) -> int:
    """Add package rows for dates the calendar does not have yet (an admin's edits stay);
    returns how many were added."""
    _require_admin(actor)
    known = (
        set(
            conn.scalars(
                sa.select(calendar_days.c.day).where(
                    calendar_days.c.day.in_([row["day"] for row in rows])
                )
            )
        )
        if rows
        else set()
    )
    fresh = [dict(row, source="package") for row in rows if row["day"] not in known]
    if fresh:
        conn.execute(calendar_days.insert(), fresh)
        bump(conn, CALENDAR_REVISION)
        audit(
            conn,
            actor_id=actor.user_id,
            action="calendar_seeded",
            object_type="calendar",
            object_id=DEFAULT_KEY,
            detail={"added": len(fresh)},
        )
    return len(fresh)


def _changed(
    conn: Connection, actor: Actor, action: str, day: date, detail: dict[str, Any]
) -> None:
    bump(conn, CALENDAR_REVISION)
    audit(
        conn,
        actor_id=actor.user_id,
        action=action,
        object_type="calendar_day",
        object_id=day.isoformat(),
        detail=detail,
    )


def _check_date(value: Any, errors: ErrorCollector) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    errors.add("day", "invalid_date", Text("expected a date as YYYY-MM-DD"), value)
    return None
