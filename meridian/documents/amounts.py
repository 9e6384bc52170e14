"""How documents write money and dates: ¥1,234,567.00, 人民币大写 and 2026年11月23日.

Every amount is taken as a ``Decimal`` from its text (an API value is a decimal string), never
through a float, so the capital-number amount on a contract is exact to the fen.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from meridian.core.i18n import Text

_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_PLACES = ("", "拾", "佰", "仟")
_SECTIONS = ("", "万", "亿", "万亿")
CENT = Decimal("0.01")
LIMIT = Decimal(10) ** 16
"""Amounts from 一万亿亿 up have no agreed capital form; they are refused."""


def to_decimal(value: Any) -> Decimal:
    """``value`` as an exact decimal: a ``Decimal``, an int, or decimal text such as
    ``"1234.50"`` (floats go through their shortest text, as ``str`` writes them)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise ValueError(Text("not an amount: {value!r}", value=value))
    try:
        return Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        raise ValueError(Text("not an amount: {value!r}", value=value)) from None


def format_money(value: Any, symbol: str = "¥", places: int = 2) -> str:
    """``¥1,234,567.00``: grouped by thousands, ``places`` decimals rounded half up; empty for
    an empty value, so a blank field prints blank rather than ¥0.00."""
    if value is None or value == "":
        return ""
    amount = to_decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    sign = "-" if amount < 0 else ""
    return f"{sign}{symbol}{abs(amount):,.{places}f}"


def format_number(value: Any, places: int = 2) -> str:
    """``1,234.50``: grouped by thousands, ``places`` decimals rounded half up."""
    if value is None or value == "":
        return ""
    amount = to_decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{amount:,.{places}f}"


def rmb_capital(value: Any) -> str:
    """An amount in capital Chinese numerals as cheques and contracts write it.

    The integer part is read in sections of four digits (万, 亿, 万亿); a run of zeros inside
    the number is read as one 零, and none is written at the end of a section. ``元`` follows
    the integer part (left out when it is zero and there are 角 or 分), then 角 and 分: an amount
    that ends at 元 ends with 整; a zero 角 before a 分 is written 零, and so is a zero 元 digit
    before a 角 (¥1,680.32 → 壹仟陆佰捌拾元零叁角贰分, as the payment rules' own example).
    Amounts are rounded half up to the fen first.
    """
    amount = to_decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)
    if abs(amount) >= LIMIT:
        raise ValueError(Text("amount too large for capital numerals: {value!r}", value=value))
    sign = "负" if amount < 0 else ""
    fen_total = int(abs(amount) * 100)
    yuan, rest = divmod(fen_total, 100)
    jiao, fen = divmod(rest, 10)
    if fen_total == 0:
        return "零元整"
    text = ""
    if yuan:
        text = _integer(yuan) + "元"
    if jiao:
        zero = "零" if yuan and yuan % 10 == 0 else ""
        text += f"{zero}{_DIGITS[jiao]}角"
    if fen:
        zero = "零" if yuan and not jiao else ""
        text += f"{zero}{_DIGITS[fen]}分"
    if not jiao and not fen:
        text += "整"
    return sign + text


def _integer(number: int) -> str:
    sections: list[int] = []
    while number:
        number, section = divmod(number, 10_000)
        sections.append(section)
    words = ""
    pending_zero = False
    for index in range(len(sections) - 1, -1, -1):
        section = sections[index]
        if section == 0:
            pending_zero = bool(words)
            continue
        if words and (pending_zero or section < 1000):
            words += "零"
        words += _section(section) + _SECTIONS[index]
        pending_zero = False
    return words


def _section(section: int) -> str:
    """Up to four digits with their places; inner zeros as one 零, trailing zeros silent."""
    digits = f"{section:04d}".lstrip("0")
    words = ""
    zero = False
    for position, digit in enumerate(digits):
        place = len(digits) - 1 - position
        if digit == "0":
            zero = True
            continue
        if zero:
            words += "零"
            zero = False
        words += _DIGITS[int(digit)] + _PLACES[place]
    return words


def format_cn_date(value: Any, tz: ZoneInfo | None = None) -> str:
    """``2026年11月23日`` from a date, a date-time (in ``tz``) or ISO text; empty when empty."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        if tz is not None and value.tzinfo is not None:
            value = value.astimezone(tz)
        value = value.date()
    if not isinstance(value, date):
        raise ValueError(Text("not a date: {value!r}", value=value))
    return f"{value.year}年{value.month}月{value.day}日"
