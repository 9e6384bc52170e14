"""Cleansing converters for imported cells: each one a pure function from one raw cell to an
:class:`Outcome` — the cleansed value with the steps taken, or a refusal with its reason.

Years of spreadsheets write one date or amount a dozen ways (2024年3月5日, 2024/3/5, 20240305,
an Excel serial; ¥1,200万, 12.5万元, 1.2亿). The converters accept the ways people actually write
them and refuse everything else rather than guess, so the per-row report of an import can say
what was changed and why a cell was rejected. Amounts are exact :class:`~decimal.Decimal`
throughout: a float never touches a value. A blank cell converts to None (no step).

Which converter a column gets is the field type's decision (``FieldType.import_cleanser``);
:data:`CLEANSERS` maps those names to the functions here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from meridian.core.i18n import Text
from meridian.errors import InvalidValue
from meridian.schema.values.company import FULL_WIDTH
from meridian.schema.values.company import company_key as company_key
from meridian.schema.values.phone import chinese_number, normalize_phone

HALF_WIDTH = "half_width"
TRIMMED = "trimmed"
EXCEL_SERIAL = "excel_serial"
DATE_REWRITTEN = "date_rewritten"
TIME_DROPPED = "time_dropped"
AMOUNT_UNIT = "amount_unit"
AMOUNT_SYMBOLS = "amount_symbols"
PHONE_NORMALISED = "phone_normalised"

STEPS: dict[str, Text] = {
    HALF_WIDTH: Text("full-width characters made half-width"),
    TRIMMED: Text("spaces trimmed"),
    EXCEL_SERIAL: Text("Excel serial date read as a date"),
    DATE_REWRITTEN: Text("date rewritten as YYYY-MM-DD"),
    TIME_DROPPED: Text("time of day dropped from a date"),
    AMOUNT_UNIT: Text("万/亿 unit multiplied out"),
    AMOUNT_SYMBOLS: Text("currency symbols and thousands separators removed"),
    PHONE_NORMALISED: Text("phone number normalised"),
}
"""Every step a converter may report, with the sentence a report shows for it."""


@dataclass(frozen=True)
class Outcome:
    """What a converter made of one cell: a value and the steps taken, or a refusal.

    :ivar value: the cleansed value (None for a blank cell or a refusal).
    :ivar steps: codes from :data:`STEPS`, in the order they were applied.
    :ivar refusal: an error code (``invalid_date``, ``invalid_amount``, …) when refused.
    :ivar reason: the sentence a report shows for the refusal, naming the value.
    """

    value: Any = None
    steps: tuple[str, ...] = ()
    refusal: str | None = None
    reason: Text | None = None

    @property
    def refused(self) -> bool:
        return self.refusal is not None


def refuse(code: str, reason: Text) -> Outcome:
    return Outcome(refusal=code, reason=reason)


# --- text -----------------------------------------------------------------------------------


_SPACES = re.compile(r"\s+")


def to_half_width(text: str) -> Outcome:
    """Full-width ASCII (ＡＢＣ１２３，（）) and the ideographic space as their half-width forms."""
    half = text.translate(FULL_WIDTH)
    return Outcome(half, (HALF_WIDTH,) if half != text else ())


def trim(text: str) -> Outcome:
    """Spaces (also no-break and ideographic) cut from both ends and runs inside made one."""
    trimmed = _SPACES.sub(" ", text.replace("\u3000", " ").replace("\xa0", " ")).strip()
    return Outcome(trimmed, (TRIMMED,) if trimmed != text else ())


_UNTIDY = re.compile("[\\s\u3000\xa0\uff01-\uff5e]")
"""What :func:`clean_text` changes: any space (runs, ends, ideographic, no-break) or a
full-width character. Most cells hold none, and skip the work."""


def is_tidy(cell: Any) -> bool:
    """Whether :func:`clean_text` gives ``cell`` back as it is, with no step: a cell that is
    not text, or text with neither a space to trim nor a full-width character (most cells). A
    run converting many cells asks this first and makes no :class:`Outcome` for them."""
    return not isinstance(cell, str) or (cell != "" and _UNTIDY.search(cell) is None)


def clean_text(cell: Any) -> Outcome:
    """A text cell made tidy: half-width, trimmed, None when blank. A cell that is not text (a
    number, a date, a boolean) is left as it is, for the field type to read."""
    if is_tidy(cell):
        return Outcome(cell)
    half = to_half_width(cell)
    trimmed = trim(half.value)
    return Outcome(trimmed.value or None, half.steps + trimmed.steps)


# --- dates ----------------------------------------------------------------------------------

_EXCEL_EPOCH = date(1899, 12, 30)
_MAX_SERIAL = 2_958_465  # 9999-12-31
_DATE_FORMS = (
    re.compile(r"(?P<y>\d{4})\s*年\s*(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*[日号]?"),
    re.compile(r"(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})"),
    re.compile(r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})"),
)
_TIME_PART = re.compile(r"(?:\s+|T)\d{1,2}[:：]\d{2}(?:[:：]\d{2}(?:\.\d+)?)?")


def excel_serial_date(serial: float) -> date | None:
    """The day an Excel (1900 system) serial number stands for; None out of range.

    Excel counts 1900-02-29, a day that never was, so serials from 61 on are one day later
    than a plain count from 1899-12-31; a fraction is a time of day and is dropped here."""
    whole = int(serial)
    if whole < 1 or whole > _MAX_SERIAL or whole == 60:
        return None
    if whole > 60:
        return _EXCEL_EPOCH + timedelta(days=whole)
    return date(1899, 12, 31) + timedelta(days=whole)


def convert_date(cell: Any) -> Outcome:
    """A day from a date or time cell, an Excel serial (a number, or digits in text), or text
    written 2024年3月5日, 2024/3/5, 2024-03-05, 2024.3.5 or 20240305 (a time after it is dropped).
    Refused: anything else, and days no calendar has (2024-02-30)."""
    if cell is None:
        return Outcome()
    if isinstance(cell, datetime):
        return Outcome(cell.date(), (TIME_DROPPED,) if cell.time() != datetime.min.time() else ())
    if isinstance(cell, date):
        return Outcome(cell)
    if isinstance(cell, bool):
        return refuse("invalid_date", Text("{value!r} is not a date", value=cell))
    if isinstance(cell, int | float):
        return _serial(cell, cell)
    if not isinstance(cell, str):
        return refuse("invalid_date", Text("{value!r} is not a date", value=cell))
    cleaned = clean_text(cell)
    text = cleaned.value
    if text is None:
        return Outcome()
    steps = cleaned.steps
    if text.isdigit() and len(text) <= 5:
        return _serial(int(text), cell, steps)
    time_part = _TIME_PART.search(text)
    if time_part and time_part.end() == len(text):
        text, steps = text[: time_part.start()], (*steps, TIME_DROPPED)
    for form in _DATE_FORMS:
        match = form.fullmatch(text)
        if match:
            try:
                day = date(int(match["y"]), int(match["m"]), int(match["d"]))
            except ValueError:
                return refuse(
                    "invalid_date", Text("{value!r} is not a day in the calendar", value=cell)
                )
            rewritten = (DATE_REWRITTEN,) if text != day.isoformat() else ()
            return Outcome(day, steps + rewritten)
    return refuse(
        "invalid_date", Text("{value!r} is not a date like 2024-03-05 or 2024年3月5日", value=cell)
    )


def _serial(serial: float, cell: Any, steps: tuple[str, ...] = ()) -> Outcome:
    day = excel_serial_date(serial)
    if day is None:
        return refuse(
            "invalid_date", Text("{value!r} is not an Excel date serial number", value=cell)
        )
    return Outcome(day, (*steps, EXCEL_SERIAL))


# --- amounts --------------------------------------------------------------------------------

_UNITS = {"亿": 8, "千万": 7, "百万": 6, "万": 4, "千": 3}
_CURRENCY = re.compile(r"^(?:¥|￥|RMB|CNY|人民币)\s*|\s*(?:元|圆|RMB|CNY)$", re.IGNORECASE)
_PLAIN = re.compile(r"\d+(?:\.\d+)?|\.\d+")
_GROUPED = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")


def convert_amount(cell: Any) -> Outcome:
    """An exact :class:`~decimal.Decimal` from a number cell or from text such as ¥1,200万,
    12.5万元, 1.2亿, -3,000, (1,234.50) (an accountant's negative) or 1,234.50 RMB.

    A float cell is read through its shortest text (0.1 stays 0.1). Refused: text that is not
    one number with at most one unit, and thousands separators out of place (1,23)."""
    if cell is None:
        return Outcome()
    if isinstance(cell, bool):
        return refuse("invalid_amount", Text("{value!r} is not an amount", value=cell))
    if isinstance(cell, int | Decimal):
        return Outcome(Decimal(cell))
    if isinstance(cell, float):
        if cell != cell or cell in (float("inf"), float("-inf")):
            return refuse("invalid_amount", Text("{value!r} is not an amount", value=cell))
        return Outcome(Decimal(repr(cell)))
    if not isinstance(cell, str):
        return _not_amount(cell)
    cleaned = clean_text(cell)
    text = cleaned.value
    if text is None:
        return Outcome()
    steps = list(cleaned.steps)
    negative = False
    if text.startswith("(") and text.endswith(")"):
        text, negative = text[1:-1].strip(), True
    if text.startswith("-"):
        if negative:
            return _not_amount(cell)
        text, negative = text[1:].strip(), True
    bare = _CURRENCY.sub("", text).strip()
    unit = next((u for u in _UNITS if bare.endswith(u)), None)
    if unit:
        bare = _CURRENCY.sub("", bare[: -len(unit)]).strip()
    if bare + (unit or "") != text:
        steps.append(AMOUNT_SYMBOLS)
    if _GROUPED.fullmatch(bare):
        bare = bare.replace(",", "")
        if AMOUNT_SYMBOLS not in steps:
            steps.append(AMOUNT_SYMBOLS)
    elif not _PLAIN.fullmatch(bare):
        return _not_amount(cell)
    amount = Decimal(bare)
    if unit:
        amount = Decimal(plain_decimal(amount.scaleb(_UNITS[unit])))
        steps.append(AMOUNT_UNIT)
    return Outcome(-amount if negative else amount, tuple(steps))


def _not_amount(cell: Any) -> Outcome:
    return refuse(
        "invalid_amount",
        Text("{value!r} is not an amount like 1,234.50, 12.5万元 or 1.2亿", value=cell),
    )


def plain_decimal(amount: Decimal) -> str:
    """A Decimal as plain digits (1.2E+8 → 120000000), as the API's number fields read it."""
    text = format(amount, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


# --- phones ---------------------------------------------------------------------------------

_PHONE_NOISE = re.compile(r"[\s\-()（）.]")
_SPACED_DIGITS = re.compile(r"\+?[0-9]+(?:[ -][0-9]+)*")
"""A number written the common way — digits in groups of single spaces or hyphens, nothing
around them — which tidying leaves as it is: it goes straight to the CN check."""


def convert_phone(cell: Any) -> Outcome:
    """A phone number in E.164 (+8613800138000), from 138 0013 8000, 138-0013-8000,
    +86 138…, 0086-138…, (010) 6552-1234 or a number cell. Refused: not a valid number."""
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)
    if isinstance(cell, int) and not isinstance(cell, bool):
        cell = str(cell)
    if cell is None:
        return Outcome()
    if not isinstance(cell, str):
        return refuse("invalid_phone", Text("{value!r} is not a valid phone number", value=cell))
    if _SPACED_DIGITS.fullmatch(cell):
        known = chinese_number(cell.replace(" ", "").replace("-", ""))
        if known is not None:
            return Outcome(known, (PHONE_NORMALISED,) if known != cell else ())
    cleaned = clean_text(cell)
    text = cleaned.value
    if text is None:
        return Outcome()
    compact = _PHONE_NOISE.sub("", text)
    if compact.startswith("0086"):
        compact = "+86" + compact[4:]
    try:
        number = normalize_phone(compact if compact.lstrip("+").isdigit() else text)
    except InvalidValue:
        return refuse("invalid_phone", Text("{value!r} is not a valid phone number", value=cell))
    return Outcome(number, cleaned.steps + ((PHONE_NORMALISED,) if number != text else ()))


# --- company names --------------------------------------------------------------------------

CLEANSERS: dict[str, Callable[[Any], Outcome]] = {
    "tidy_text": clean_text,
    "calendar_day": convert_date,
    "amount": convert_amount,
    "phone_number": convert_phone,
}
"""The converters a field type may name as its ``import_cleanser``."""

STORED_AS_CLEANSED = frozenset({"phone_number"})
"""Converters whose text value is the stored value of the type naming them, as its ``parse``
would give it again: :func:`convert_phone` answers with :func:`normalize_phone`'s E.164,
which the phone type's ``parse`` normalises to itself (a test holds the two to that)."""
