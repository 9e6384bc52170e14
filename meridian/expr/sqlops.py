"""SQL building blocks that differ between SQLite and PostgreSQL.

Each helper returns the SQL that gives, on its dialect, exactly what the Python helper of the
same name in :mod:`meridian.expr.decimals` or :mod:`meridian.expr.dates` returns. Numbers are
scaled integers (``value * 10**scale``): SQLite's 64-bit integer arithmetic is exact and its
integer division truncates; PostgreSQL computes in NUMERIC so int4/int8 never overflow. Dates
are ISO text on SQLite and ``date``/``timestamptz`` on PostgreSQL.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.sql.elements import BindParameter, ColumnElement, Grouping

from meridian.db.types import UTCDateTime
from meridian.expr.zones import OffsetPeriod, offset_periods

Sql = ColumnElement[Any]

_INT64 = 2**63
_MAX_INT4 = 2**31 - 1
_SQLITE_TIMESTAMP = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class SqlContext:
    """The dialect and the clock one compilation targets."""

    dialect: str
    today: date
    now: datetime
    zone: ZoneInfo
    user: int | None = None

    @property
    def postgres(self) -> bool:
        return self.dialect == "postgresql"


# ---- literals ------------------------------------------------------------------------------


def integer(ctx: SqlContext, value: int) -> Sql:
    """A bound integer; past 64 bits PostgreSQL gets NUMERIC and SQLite a float."""
    if -_INT64 <= value < _INT64:
        return sa.literal(value, sa.BigInteger())
    if ctx.postgres:
        return sa.literal(Decimal(value), sa.Numeric())
    return sa.literal(float(value), sa.Float())


def text(value: str) -> Sql:
    return sa.literal(value, sa.String())


def day(value: date) -> Sql:
    return sa.literal(value, sa.Date())


def instant(value: datetime) -> Sql:
    return sa.literal(value, UTCDateTime())


def boolean(value: bool) -> Sql:
    return sa.literal(value, sa.Boolean())


def null(type_: sa.types.TypeEngine[Any]) -> Sql:
    return sa.cast(sa.null(), type_)


def _grouped(element: Sql) -> Sql:
    return Grouping(element)


def _as_text(element: Sql) -> Sql:
    """SQLite's dates are ISO text; compare them as such, past the Date type's bind processing."""
    return sa.type_coerce(element, sa.Text())


# ---- numbers -------------------------------------------------------------------------------


def numeric(ctx: SqlContext, value: Sql) -> Sql:
    """On PostgreSQL, an integer column or expression as NUMERIC before arithmetic."""
    if not ctx.postgres or isinstance(value, BindParameter):
        return value
    if isinstance(value.type, sa.Numeric) and not isinstance(value.type, sa.Integer):
        return value
    return sa.cast(value, sa.Numeric())


def times(ctx: SqlContext, value: Sql, factor: int) -> Sql:
    """``value * factor``; a bound integer is multiplied in Python, so PostgreSQL never sees
    two bigint parameters multiplied (which could overflow)."""
    if factor == 1:
        return value
    if isinstance(value, BindParameter) and type(value.value) is int:
        return integer(ctx, value.value * factor)
    return numeric(ctx, value) * integer(ctx, factor)


def rescale(ctx: SqlContext, value: Sql, places: int) -> Sql:
    """Multiply by ``10**places`` (``places`` ≥ 0): the same number at a larger scale."""
    return times(ctx, value, 10**places)


def add(ctx: SqlContext, left: Sql, right: Sql) -> Sql:
    return numeric(ctx, left) + numeric(ctx, right)


def subtract(ctx: SqlContext, left: Sql, right: Sql) -> Sql:
    return numeric(ctx, left) - numeric(ctx, right)


def multiply(ctx: SqlContext, left: Sql, right: Sql) -> Sql:
    return numeric(ctx, left) * numeric(ctx, right)


def negate(ctx: SqlContext, value: Sql) -> Sql:
    return -numeric(ctx, value)


def absolute(ctx: SqlContext, value: Sql) -> Sql:
    return sa.func.abs(numeric(ctx, value), type_=value.type)


def _never_zero(ctx: SqlContext, divisor: Sql) -> Sql:
    """``divisor``, or NULL in place of 0; a constant that is not 0 needs no NULLIF, and the
    planner gets a plain expression it can fold."""
    if isinstance(divisor, BindParameter) and type(divisor.value) is int and divisor.value != 0:
        return numeric(ctx, divisor)
    return sa.func.nullif(numeric(ctx, divisor), 0)


def divide(ctx: SqlContext, dividend: Sql, divisor: Sql) -> Sql:
    """Integer division truncated toward zero; NULL when ``divisor`` is 0."""
    safe = _never_zero(ctx, divisor)
    if ctx.postgres:
        return sa.func.div(numeric(ctx, dividend), safe, type_=sa.Numeric())
    return _grouped(_grouped(dividend).op("/")(safe))


def shift_down(ctx: SqlContext, value: Sql, places: int) -> Sql:
    """Truncating division by ``10**places``."""
    if places == 0:
        return value
    if ctx.postgres:
        return sa.func.div(numeric(ctx, value), integer(ctx, 10**places), type_=sa.Numeric())
    return _grouped(_grouped(value).op("/")(integer(ctx, 10**places)))


def remainder(ctx: SqlContext, dividend: Sql, divisor: Sql) -> Sql:
    """Truncated remainder (sign of the dividend); NULL when ``divisor`` is 0."""
    safe = _never_zero(ctx, divisor)
    if ctx.postgres:
        return sa.func.mod(numeric(ctx, dividend), safe, type_=sa.Numeric())
    return _grouped(_grouped(dividend).op("%")(safe))


def round_down_places(ctx: SqlContext, value: Sql, places: int) -> Sql:
    """Divide by ``10**places`` rounding half away from zero (SQLite reads ``value`` twice)."""
    if places == 0:
        return value
    if ctx.postgres:
        rounded = sa.func.round(numeric(ctx, value), sa.literal(-places, sa.Integer()))
        return sa.func.div(rounded, integer(ctx, 10**places), type_=sa.Numeric())
    half = 5 * 10 ** (places - 1)
    nudge = sa.case((value < 0, integer(ctx, -half)), else_=integer(ctx, half))
    return shift_down(ctx, value + nudge, places)


def least(ctx: SqlContext, values: Sequence[Sql], greatest: bool = False) -> Sql:
    """The smallest (largest) non-NULL value, NULL when all are NULL, as PostgreSQL's LEAST."""
    if ctx.postgres:
        pick = sa.func.greatest if greatest else sa.func.least
        return pick(*values, type_=values[0].type)
    # SQLite's multi-argument min() is NULL as soon as one argument is; COALESCE each slot
    # with the others so NULLs drop out.
    slots = [
        sa.func.coalesce(value, *values[:i], *values[i + 1 :]) for i, value in enumerate(values)
    ]
    function = sa.func.max if greatest else sa.func.min
    return function(*slots, type_=values[0].type)


def to_logical(ctx: SqlContext, value: Sql, scale: int) -> Sql:
    """The scaled integer as the number it stands for: NUMERIC on PostgreSQL, REAL on SQLite."""
    if ctx.postgres:
        shifted = numeric(ctx, value) * sa.literal(Decimal(1).scaleb(-scale), sa.Numeric())
        return sa.type_coerce(shifted if scale else numeric(ctx, value), sa.Numeric())
    if scale == 0:
        return sa.type_coerce(value, sa.Float())
    real = _grouped(sa.cast(value, sa.Float()))
    return sa.type_coerce(_grouped(real.op("/")(float(10**scale))), sa.Float())


# ---- text ----------------------------------------------------------------------------------


def ordered(ctx: SqlContext, value: Sql) -> Sql:
    """Text compared by code point: PostgreSQL's "C" collation; SQLite's BINARY already is."""
    return sa.collate(value, "C") if ctx.postgres else value


def length(ctx: SqlContext, value: Sql) -> Sql:
    function = sa.func.char_length if ctx.postgres else sa.func.length
    return function(value, type_=sa.BigInteger())


def _pg_substring(function: Callable[..., Sql], value: Sql, count: Sql) -> Sql:
    """PostgreSQL's left()/right() read a negative count as "all but", and take int4 only."""
    none = function(value, sa.literal(0, sa.Integer()), type_=sa.Text())
    if isinstance(count, BindParameter) and type(count.value) is int:
        if count.value < 0:
            return none
        if count.value > _MAX_INT4:
            return value
        return function(value, sa.literal(count.value, sa.Integer()), type_=sa.Text())
    return sa.case(
        (count < 0, none),
        (count > _MAX_INT4, value),
        else_=function(value, sa.cast(count, sa.Integer()), type_=sa.Text()),
    )


def left(ctx: SqlContext, value: Sql, count: Sql) -> Sql:
    """The first ``count`` characters; none for a negative count."""
    if ctx.postgres:
        return _pg_substring(sa.func.left, value, count)
    return sa.func.substr(value, 1, count, type_=sa.Text())


def right(ctx: SqlContext, value: Sql, count: Sql) -> Sql:
    """The last ``count`` characters; none for a negative count."""
    if ctx.postgres:
        return _pg_substring(sa.func.right, value, count)
    start = sa.func.max(length(ctx, value) - count, 0) + 1
    return sa.func.substr(value, start, type_=sa.Text())


def contains(ctx: SqlContext, value: Sql, part: Sql) -> Sql:
    function = sa.func.strpos if ctx.postgres else sa.func.instr
    return function(value, part, type_=sa.Integer()) > 0


def starts_with(ctx: SqlContext, value: Sql, prefix: Sql) -> Sql:
    if ctx.postgres:
        return sa.func.starts_with(value, prefix, type_=sa.Boolean())
    return sa.func.substr(value, 1, length(ctx, prefix), type_=sa.Text()) == prefix


def upper(ctx: SqlContext, value: Sql) -> Sql:
    """ASCII letters only, on both dialects (SQLite's upper() knows no others)."""
    return sa.func.upper(ordered(ctx, value), type_=sa.Text())


def lower(ctx: SqlContext, value: Sql) -> Sql:
    return sa.func.lower(ordered(ctx, value), type_=sa.Text())


def integer_text(ctx: SqlContext, value: Sql) -> Sql:
    return sa.cast(value, sa.Text())


def date_text(ctx: SqlContext, value: Sql) -> Sql:
    if ctx.postgres:
        return sa.func.to_char(value, "YYYY-MM-DD", type_=sa.Text())
    return sa.type_coerce(value, sa.Text())


def is_blank_text(value: Sql) -> Sql:
    return sa.func.coalesce(value, text("")) == ""


# ---- multi-select (JSON arrays) ------------------------------------------------------------


def _pg_array(value: Sql) -> Sql:
    # jsonb_array_elements_text raises on a JSON scalar; a stored JSON null must act as empty.
    return sa.case((sa.func.jsonb_typeof(value) == "array", value))


def option_values(ctx: SqlContext, options: Sql) -> sa.Select[Any]:
    """The selected option values as a one-column subquery (none for NULL or JSON null)."""
    if ctx.postgres:
        elements = sa.func.jsonb_array_elements_text(_pg_array(options)).table_valued("value")
        return sa.select(elements.c.value)
    each = sa.func.json_each(options).table_valued("value")
    return sa.select(each.c.value).where(each.c.value.is_not(None))


def has_no_options(ctx: SqlContext, options: Sql) -> Sql:
    if ctx.postgres:
        count = sa.func.jsonb_array_length(_pg_array(options))
    else:
        count = sa.func.json_array_length(options)
    return sa.func.coalesce(count, 0) == 0


# ---- dates ---------------------------------------------------------------------------------


def _in_date_range(ctx: SqlContext, value: Sql) -> Sql:
    """SQLite's date() is NULL past 9999 but prints years before 1 as 0000 or -0165."""
    valid = _as_text(value) >= text("0001-01-01")
    return sa.type_coerce(sa.case((valid, value)), value.type)


_FIRST_DAY = date(1, 1, 1)
_LAST_DAY_INDEX = (date(9999, 12, 31) - _FIRST_DAY).days
_FIRST_MONTH_INDEX, _LAST_MONTH_INDEX = 12 * 1, 12 * 9999 + 11
_FIRST_EPOCH = Decimal(
    int((datetime(1, 1, 1, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds())
)
_LAST_EPOCH = Decimal(
    int(
        (
            datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)
        ).total_seconds()
    )
) + Decimal("0.999999")


def _pg_if_between(index: Sql, low: int | Decimal, high: int | Decimal, result: Sql) -> Sql:
    """``result`` when ``index`` lies in [low, high], else NULL; PostgreSQL raises on dates
    past 4713 BC, so the range is checked before the date arithmetic runs."""
    valid = index.between(sa.literal(low, sa.Numeric()), sa.literal(high, sa.Numeric()))
    return sa.type_coerce(sa.case((valid, result)), result.type)


def add_days(ctx: SqlContext, value: Sql, days: Sql) -> Sql:
    if ctx.postgres:
        index = sa.cast(value - day(_FIRST_DAY), sa.Numeric()) + numeric(ctx, days)
        shifted = sa.type_coerce(value + sa.cast(days, sa.Integer()), sa.Date())
        return _pg_if_between(index, 0, _LAST_DAY_INDEX, shifted)
    step = sa.cast(days, sa.Text()) + " days"
    return _in_date_range(ctx, sa.func.date(value, step, type_=sa.Date()))


def add_months(ctx: SqlContext, value: Sql, months: Sql) -> Sql:
    """Calendar months, clamped to the last day of the month."""
    if ctx.postgres:
        index = part(ctx, value, "year") * 12 + part(ctx, value, "month") - 1 + numeric(ctx, months)
        interval = sa.func.make_interval(0, sa.cast(months, sa.Integer()))
        shifted = sa.cast(value + interval, sa.Date())
        return _pg_if_between(index, _FIRST_MONTH_INDEX, _LAST_MONTH_INDEX, shifted)
    # date(d, '+n months') overflows into the next month when the day does not exist;
    # the last day of the target month caps it.
    step = sa.cast(months, sa.Text()) + " months"
    overflowing = sa.func.date(value, step, type_=sa.Text())
    last_day = sa.func.date(value, "start of month", step, "+1 month", "-1 day", type_=sa.Text())
    return _in_date_range(ctx, sa.func.min(overflowing, last_day, type_=sa.Date()))


def add_seconds(ctx: SqlContext, value: Sql, seconds: Sql) -> Sql:
    if ctx.postgres:
        index = sa.extract("epoch", value) + numeric(ctx, seconds)
        interval = sa.func.make_interval(0, 0, 0, 0, 0, 0, sa.cast(seconds, sa.Float()))
        shifted = sa.type_coerce(value + interval, UTCDateTime())
        return _pg_if_between(index, _FIRST_EPOCH, _LAST_EPOCH, shifted)
    step = sa.cast(seconds, sa.Text()) + " seconds"
    whole = sa.func.strftime(_SQLITE_TIMESTAMP, _whole_seconds(value), step, type_=sa.Text())
    # Whole seconds added leave the microseconds as they were.
    shifted = sa.type_coerce(whole + sa.func.substr(value, 20, type_=sa.Text()), UTCDateTime())
    return sa.type_coerce(
        sa.case((_as_text(shifted) >= text("0001-01-01"), shifted)), UTCDateTime()
    )


def part(ctx: SqlContext, value: Sql, name: str) -> Sql:
    """``year``, ``month``, ``day`` or ``isodow`` (Monday 1 … Sunday 7) of a date."""
    if ctx.postgres:
        return sa.extract(name, value)
    if name == "isodow":
        sunday_first = sa.cast(sa.func.strftime("%w", value), sa.Integer())
        return (sunday_first + 6) % 7 + 1
    pattern = {"year": "%Y", "month": "%m", "day": "%d"}[name]
    return sa.cast(sa.func.strftime(pattern, value), sa.Integer())


def days_between(ctx: SqlContext, start: Sql, end: Sql) -> Sql:
    if ctx.postgres:
        return sa.type_coerce(end - start, sa.Integer())
    return sa.cast(sa.func.julianday(end) - sa.func.julianday(start), sa.Integer())


def _month_key(ctx: SqlContext, value: Sql) -> Sql:
    """``(12 * year + month) * 100 + day``, as :func:`meridian.expr.dates.months_between`."""
    if ctx.postgres:
        return (part(ctx, value, "year") * 12 + part(ctx, value, "month")) * 100 + part(
            ctx, value, "day"
        )
    # YYYYMMDD - 8800 * YYYY == 1200 * YYYY + 100 * MM + DD, reading the date twice, not thrice.
    packed = sa.cast(sa.func.strftime("%Y%m%d", value), sa.Integer())
    return packed - part(ctx, value, "year") * 8800


def months_between(ctx: SqlContext, start: Sql, end: Sql) -> Sql:
    difference = _month_key(ctx, end) - _month_key(ctx, start)
    return shift_down(ctx, difference, 2)


def years_between(ctx: SqlContext, start: Sql, end: Sql) -> Sql:
    months = months_between(ctx, start, end)
    if ctx.postgres:
        return sa.func.div(months, 12, type_=sa.Numeric())
    return _grouped(_grouped(months).op("/")(12))


# ---- time zones ----------------------------------------------------------------------------


def _whole_seconds(value: Sql) -> Sql:
    """SQLite's date functions round fractions to milliseconds (23:59:59.9999 becomes the next
    day); the offsets are whole seconds, so cut the fraction off before adding them."""
    return sa.func.substr(value, 1, 19, type_=sa.Text())


def _constant(text: str) -> Sql:
    """An inline SQL string literal for text this module generated (digits, dashes, colons and
    "seconds"): hundreds of offset thresholds as bound parameters would dominate compile time."""
    assert all(char.isalnum() or char in " -+:" for char in text), text
    return sa.literal_column(f"'{text}'", sa.Text())


def _sqlite_offset_case(
    periods: Sequence[OffsetPeriod],
    value: Sql,
    threshold: Callable[[OffsetPeriod], str],
    shift: Callable[[OffsetPeriod], int],
) -> Sql:
    """The date modifier of ``value``'s period as two levels of flat CASE over runs of about
    √n periods: some 2·√n tests a row, and never deeper than two — SQLite's parser stack
    overflows on the deep trees a balanced search builds inside larger expressions."""

    def latest_first(steps: Sequence[tuple[str, Sql]]) -> Sql:
        """``steps`` ascending by threshold; the last threshold ``value`` reaches wins."""
        if len(steps) == 1:
            return steps[0][1]
        whens = [(_as_text(value) >= _constant(start), result) for start, result in steps[:0:-1]]
        return sa.case(*whens, else_=steps[0][1])

    size = max(1, math.isqrt(len(periods)))
    runs = [periods[i : i + size] for i in range(0, len(periods), size)]
    return latest_first(
        [
            (
                threshold(run[0]),
                latest_first([(threshold(p), _constant(f"{shift(p):+d} seconds")) for p in run]),
            )
            for run in runs
        ]
    )


def local_date(ctx: SqlContext, value: Sql) -> Sql:
    """The date a UTC instant falls on in the workspace zone."""
    if ctx.postgres:
        return sa.cast(sa.func.timezone(ctx.zone.key, value), sa.Date())
    modifier = _sqlite_offset_case(
        offset_periods(ctx.zone.key),
        value,
        lambda period: period.starts.strftime(_SQLITE_TIMESTAMP),
        lambda period: period.offset,
    )
    return sa.func.date(_whole_seconds(value), modifier, type_=sa.Date())


def local_midnight(ctx: SqlContext, value: Sql) -> Sql:
    """The UTC instant of a date's midnight in the workspace zone."""
    if ctx.postgres:
        return sa.func.timezone(ctx.zone.key, sa.cast(value, sa.DateTime()), type_=UTCDateTime())
    modifier = _sqlite_offset_case(
        offset_periods(ctx.zone.key),
        value,
        lambda period: period.first_midnight.isoformat(),
        lambda period: -period.offset,
    )
    whole = sa.func.strftime(_SQLITE_TIMESTAMP, value, modifier, type_=sa.Text())
    return sa.type_coerce(whole + ".000000", UTCDateTime())
