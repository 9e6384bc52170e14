"""Exact decimal arithmetic, and the scale rules both back ends share.

Numbers are exact decimals. SQL holds a number as the integer ``value * 10**scale`` (money
columns already store exactly that), so ``+ - * %`` and comparisons are integer arithmetic on
SQLite and NUMERIC on PostgreSQL, and Python mirrors them with :class:`decimal.Decimal`. The only
inexact operations, ``/`` and a ``*`` whose decimals would pile up, cut the result at a fixed
scale toward zero: that is the one rounding integer division does identically everywhere.
"""

from __future__ import annotations

from decimal import (
    ROUND_DOWN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)

Number = int | Decimal

DIVISION_SCALE = 6
"""Decimal places kept by ``/`` and AVG (more when the dividend already has more)."""

_EXACT = Context(
    prec=200,
    rounding=ROUND_HALF_UP,
    Emin=-999_999,
    Emax=999_999,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)
_POWERS = [Decimal(1).scaleb(-places) for places in range(-20, 21)]
_TENS: list[int] = [10**places for places in range(40)]


def sum_scale(left: int, right: int) -> int:
    return max(left, right)


def product_scale(left: int, right: int) -> int:
    """A product keeps its exact decimals up to the larger of 6 and either factor's scale."""
    return min(left + right, max(DIVISION_SCALE, left, right))


def quotient_scale(dividend: int) -> int:
    return max(DIVISION_SCALE, dividend)


def round_scale(scale: int, digits: int) -> int:
    return min(scale, max(digits, 0))


def _unit(places: int) -> Decimal:
    """``10 ** -places``."""
    return _POWERS[places + 20]


def add(left: Number, right: Number) -> Number:
    if type(left) is int and type(right) is int:
        return left + right
    return _EXACT.add(left, right)


def subtract(left: Number, right: Number) -> Number:
    if type(left) is int and type(right) is int:
        return left - right
    return _EXACT.subtract(left, right)


def negate(value: Number) -> Number:
    return -value if isinstance(value, int) else _EXACT.minus(value)


def absolute(value: Number) -> Number:
    return abs(value) if isinstance(value, int) else _EXACT.abs(value)


def truncate(value: Number, places: int) -> Number:
    """Cut ``value`` to ``places`` decimals, toward zero."""
    if isinstance(value, int):
        return value
    return value.quantize(_unit(places), rounding=ROUND_DOWN, context=_EXACT)


def multiply(left: Number, right: Number, places: int) -> Number:
    """The product, truncated to ``places`` decimals (a no-op when it has no more)."""
    if type(left) is int and type(right) is int:
        return left * right
    return truncate(_EXACT.multiply(left, right), places)


def divide(left: Number, right: Number, places: int) -> Number | None:
    """``left / right`` truncated to ``places`` decimals; None when dividing by zero."""
    if not right:
        return None
    if type(left) is int and type(right) is int:
        quotient = abs(left) * _TENS[places] // abs(right)
        signed = -quotient if (left < 0) != (right < 0) else quotient
        return _EXACT.scaleb(Decimal(signed), -places)
    scaled = _EXACT.scaleb(Decimal(left), places)
    return _EXACT.scaleb(_EXACT.divide_int(scaled, right), -places)


def remainder(left: Number, right: Number) -> Number | None:
    """Truncated remainder (the sign of ``left``), as C's fmod and SQL's ``%``; None on zero."""
    if not right:
        return None
    if type(left) is int and type(right) is int:
        magnitude = abs(left) % abs(right)
        return -magnitude if left < 0 else magnitude
    return _EXACT.remainder(left, right)


def round_half_away(value: Number, digits: int) -> Number:
    """Round to ``digits`` decimals (negative: tens, hundreds), halves away from zero."""
    if isinstance(value, int) and digits >= 0:
        return value
    return Decimal(value).quantize(_unit(digits), rounding=ROUND_HALF_UP, context=_EXACT)


def total(values: list[Number]) -> Number:
    result: Number = 0
    for value in values:
        result = add(result, value)
    return result


def to_scaled_integer(value: Number, scale: int) -> int:
    """``value * 10**scale`` as an int; ``value`` has at most ``scale`` decimals."""
    if isinstance(value, int):
        return value * _TENS[scale]
    return int(_EXACT.scaleb(value, scale))
