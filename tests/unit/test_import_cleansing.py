"""The import's cleansing converters: each cell tidied exactly, with the steps it took, or
refused with a reason naming the value — never a guess, never a float for an amount."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from meridian.core.i18n import catalog
from meridian.dataio.cleansing import (
    AMOUNT_SYMBOLS,
    AMOUNT_UNIT,
    DATE_REWRITTEN,
    EXCEL_SERIAL,
    HALF_WIDTH,
    PHONE_NORMALISED,
    STEPS,
    STORED_AS_CLEANSED,
    TIME_DROPPED,
    TRIMMED,
    Outcome,
    clean_text,
    company_key,
    convert_amount,
    convert_date,
    convert_phone,
    excel_serial_date,
    is_tidy,
    plain_decimal,
    to_half_width,
    trim,
)
from meridian.errors import InvalidValue
from meridian.schema.fieldtypes import ValueContext, field_type
from meridian.schema.model import Field
from meridian.schema.values.company import _BRACKETS, _TRANSLATED, FULL_WIDTH
from meridian.schema.values.phone import normalize_phone


def test_full_width_letters_digits_punctuation_and_spaces_become_half_width() -> None:
    outcome = to_half_width("ＡＢＣ１２３，（中国）\u3000ｘ")
    assert outcome.value == "ABC123,(中国) x"
    assert outcome.steps == (HALF_WIDTH,)
    assert to_half_width("abc 中文").steps == ()


def test_trimming_cuts_both_ends_and_makes_inner_runs_one_space() -> None:
    assert trim("  ACME \u3000 Ltd\xa0 ").value == "ACME Ltd"
    assert trim("  ACME \u3000 Ltd\xa0 ").steps == (TRIMMED,)
    assert trim("ACME").steps == ()


def test_clean_text_tidies_text_and_leaves_other_cells_to_the_field_type() -> None:
    assert clean_text(" ＡＣＭＥ ").value == "ACME"
    assert clean_text(" ＡＣＭＥ ").steps == (HALF_WIDTH, TRIMMED)
    assert clean_text("   ").value is None
    assert clean_text(None).value is None
    assert clean_text(12.0).value == 12.0
    assert clean_text(True).value is True


@pytest.mark.parametrize(
    ("cell", "day", "steps"),
    [
        ("2024年3月5日", date(2024, 3, 5), (DATE_REWRITTEN,)),
        ("2024 年 03 月 05 号", date(2024, 3, 5), (DATE_REWRITTEN,)),
        ("2024/3/5", date(2024, 3, 5), (DATE_REWRITTEN,)),
        ("2024.3.5", date(2024, 3, 5), (DATE_REWRITTEN,)),
        ("2024-03-05", date(2024, 3, 5), ()),
        ("20240305", date(2024, 3, 5), (DATE_REWRITTEN,)),
        ("２０２４－０３－０５", date(2024, 3, 5), (HALF_WIDTH,)),
        (" 2024-03-05 ", date(2024, 3, 5), (TRIMMED,)),
        ("2024/3/5 14:30", date(2024, 3, 5), (TIME_DROPPED, DATE_REWRITTEN)),
        ("2024-03-05T14:30:00", date(2024, 3, 5), (TIME_DROPPED,)),
        (45356, date(2024, 3, 5), (EXCEL_SERIAL,)),
        (45356.0, date(2024, 3, 5), (EXCEL_SERIAL,)),
        (45356.75, date(2024, 3, 5), (EXCEL_SERIAL,)),
        ("45356", date(2024, 3, 5), (EXCEL_SERIAL,)),
        (61, date(1900, 3, 1), (EXCEL_SERIAL,)),
        (59, date(1900, 2, 28), (EXCEL_SERIAL,)),
        (1, date(1900, 1, 1), (EXCEL_SERIAL,)),
        (date(2024, 3, 5), date(2024, 3, 5), ()),
        (datetime(2024, 3, 5), date(2024, 3, 5), ()),
        (datetime(2024, 3, 5, 9, 30), date(2024, 3, 5), (TIME_DROPPED,)),
    ],
)
def test_dates_written_every_usual_way_become_one_day(
    cell: Any, day: date, steps: tuple[str, ...]
) -> None:
    outcome = convert_date(cell)
    assert not outcome.refused
    assert outcome.value == day
    assert outcome.steps == steps


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ("2024-02-30", "'2024-02-30' is not a day in the calendar"),
        ("2024年13月1日", "'2024年13月1日' is not a day in the calendar"),
        ("3/5/2024", "'3/5/2024' is not a date like 2024-03-05 or 2024年3月5日"),
        ("24-3-5", "'24-3-5' is not a date like 2024-03-05 or 2024年3月5日"),
        ("明天", "'明天' is not a date like 2024-03-05 or 2024年3月5日"),
        ("2024-03-05 下午", "'2024-03-05 下午' is not a date like 2024-03-05 or 2024年3月5日"),
        (0, "0 is not an Excel date serial number"),
        (60, "60 is not an Excel date serial number"),
        (-3, "-3 is not an Excel date serial number"),
        (3_000_000, "3000000 is not an Excel date serial number"),
        (True, "True is not a date"),
    ],
)
def test_dates_that_cannot_be_read_are_refused_with_the_value(cell: Any, reason: str) -> None:
    outcome = convert_date(cell)
    assert outcome.refused
    assert outcome.refusal == "invalid_date"
    assert outcome.value is None
    assert outcome.reason == reason


def test_a_blank_date_is_no_value_and_no_refusal() -> None:
    assert convert_date("  ") == convert_date(None)
    assert convert_date(None).value is None and not convert_date(None).refused


def test_excel_serials_count_the_day_that_never_was() -> None:
    assert excel_serial_date(60) is None
    assert excel_serial_date(2_958_465) == date(9999, 12, 31)
    assert excel_serial_date(2_958_466) is None


@pytest.mark.parametrize(
    ("cell", "amount", "steps"),
    [
        ("¥1,200万", Decimal("12000000"), (AMOUNT_SYMBOLS, AMOUNT_UNIT)),
        ("12.5万元", Decimal("125000"), (AMOUNT_SYMBOLS, AMOUNT_UNIT)),
        ("1.2亿", Decimal("120000000"), (AMOUNT_UNIT,)),
        ("1.23456789亿", Decimal("123456789"), (AMOUNT_UNIT,)),
        ("0.000001万", Decimal("0.01"), (AMOUNT_UNIT,)),
        ("3千万", Decimal("30000000"), (AMOUNT_UNIT,)),
        ("1,234.50", Decimal("1234.50"), (AMOUNT_SYMBOLS,)),
        ("1234.50", Decimal("1234.50"), ()),
        ("￥８，８００", Decimal("8800"), (HALF_WIDTH, AMOUNT_SYMBOLS)),
        ("RMB 5,000.00", Decimal("5000.00"), (AMOUNT_SYMBOLS,)),
        ("5000元", Decimal("5000"), (AMOUNT_SYMBOLS,)),
        ("-3,000", Decimal("-3000"), (AMOUNT_SYMBOLS,)),
        ("(1,234.50)", Decimal("-1234.50"), (AMOUNT_SYMBOLS,)),
        ("（200）", Decimal("-200"), (HALF_WIDTH,)),
        (".5", Decimal("0.5"), ()),
        (1200, Decimal("1200"), ()),
        (0.1, Decimal("0.1"), ()),
        (1234.5, Decimal("1234.5"), ()),
        (Decimal("7.25"), Decimal("7.25"), ()),
    ],
)
def test_amounts_become_exact_decimals(cell: Any, amount: Decimal, steps: tuple[str, ...]) -> None:
    outcome = convert_amount(cell)
    assert not outcome.refused
    assert isinstance(outcome.value, Decimal)
    assert outcome.value == amount
    assert str(outcome.value) == str(amount)
    assert outcome.steps == steps


@pytest.mark.parametrize(
    "cell",
    ["十万", "1,23", "12,3456", "1.2.3", "12万亿", "万", "about 5", "1e5", "--5", "(-5)", "5-"],
)
def test_text_that_is_not_one_amount_is_refused(cell: str) -> None:
    outcome = convert_amount(cell)
    assert outcome.refusal == "invalid_amount"
    assert outcome.reason == f"{cell!r} is not an amount like 1,234.50, 12.5万元 or 1.2亿"


@pytest.mark.parametrize("cell", [True, float("nan"), float("inf"), date(2024, 3, 5)])
def test_cells_that_are_not_numbers_are_refused_as_amounts(cell: Any) -> None:
    assert convert_amount(cell).refusal == "invalid_amount"


def test_plain_decimal_writes_digits_without_an_exponent() -> None:
    assert plain_decimal(Decimal("1.2E+8")) == "120000000"
    assert plain_decimal(Decimal("1234.500")) == "1234.5"
    assert plain_decimal(Decimal("-0.01")) == "-0.01"


@pytest.mark.parametrize(
    ("cell", "number"),
    [
        ("13800138000", "+8613800138000"),
        ("138 0013 8000", "+8613800138000"),
        ("138-0013-8000", "+8613800138000"),
        ("+86 138 0013 8000", "+8613800138000"),
        ("+86-138-0013-8000", "+8613800138000"),
        ("0086 13800138000", "+8613800138000"),
        ("１３８００１３８０００", "+8613800138000"),
        (13800138000, "+8613800138000"),
        (13800138000.0, "+8613800138000"),
        ("(010) 6552-1234", "+861065521234"),
        ("010-65521234", "+861065521234"),
    ],
)
def test_phone_numbers_are_normalised_to_e164(cell: Any, number: str) -> None:
    outcome = convert_phone(cell)
    assert not outcome.refused
    assert outcome.value == number
    assert PHONE_NORMALISED in outcome.steps


@pytest.mark.parametrize("cell", ["12345", "138001380001", "call me", "95588", True])
def test_numbers_that_are_not_phones_are_refused(cell: Any) -> None:
    outcome = convert_phone(cell)
    assert outcome.refusal == "invalid_phone"
    assert outcome.reason == f"{cell!r} is not a valid phone number"


PHONE_CELLS = [
    "13800138000",
    "138 0013 8000",
    "138-0013-8000",
    "138  0013 8000",
    "+86 138 0013 8000",
    "+86-138-0013-8000",
    "0086 13800138000",
    "0086-138-0013-8000",
    "１３８００１３８０００",
    "(010) 6552-1234",
    "010-65521234",
    "010 6552 1234",
    "0755-8888-6666",
    "+1 202 555 0123",
    "+44 20 7946 0958",
    "010-12345678转8001",
    "010-12345678-8001",
    "+86 10 6552 1234",
    "8613800138000",
    "12345",
    "138001380001",
    "1380013800",
    "+86 12345",
    "95588",
]


@pytest.mark.parametrize("cell", PHONE_CELLS)
def test_a_phone_in_digit_groups_is_converted_as_tidying_and_libphonenumber_would(
    cell: str,
) -> None:
    """The digits-and-single-separators shortcut answers what the whole way answers: the
    cell tidied (a step if it changed), its noise dropped, then ``normalize_phone``."""
    cleaned = clean_text(cell)
    compact = "".join(ch for ch in cleaned.value if ch not in " -().（）")
    if compact.startswith("0086"):
        compact = "+86" + compact[4:]
    try:
        number = normalize_phone(compact if compact.lstrip("+").isdigit() else cleaned.value)
    except InvalidValue:
        assert convert_phone(cell).refusal == "invalid_phone"
        return
    steps = cleaned.steps + ((PHONE_NORMALISED,) if number != cleaned.value else ())
    assert convert_phone(cell) == Outcome(number, steps)


@pytest.mark.parametrize("cell", PHONE_CELLS)
def test_a_converted_phone_is_what_the_phone_type_stores_for_it(cell: str) -> None:
    """``STORED_AS_CLEANSED`` lets an import store the converted phone without the type's
    ``parse``: that parse must give the very text back."""
    assert "phone_number" in STORED_AS_CLEANSED
    phone = Field(key="phone", label="手机", type="phone")
    assert field_type(phone).import_cleanser == "phone_number"
    outcome = convert_phone(cell)
    if outcome.refused:
        return
    ctx = ValueContext(ZoneInfo("Asia/Shanghai"))
    assert field_type(phone).parse(phone, outcome.value, ctx) == outcome.value


@pytest.mark.parametrize(
    "cell", ["ACME", "华为云", "a b", " a", "a ", "a\u3000b", "ＡＢ", "", "\xa0", 12, 1.5, None]
)
def test_a_tidy_cell_is_one_clean_text_gives_back_unchanged(cell: Any) -> None:
    outcome = clean_text(cell)
    assert is_tidy(cell) == (outcome.value is cell and outcome.steps == ())


def test_an_already_normal_phone_reports_no_step() -> None:
    assert convert_phone("+8613800138000").steps == ()
    assert convert_phone(None).value is None and convert_phone(" ").value is None


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("腾讯科技（深圳）有限公司", "腾讯科技(深圳)有限公司"),
        ("腾讯科技（深圳）有限责任公司", "腾讯科技 (深圳) 有限公司"),
        ("苹果电脑贸易（上海）有限公司", "苹果电脑贸易【上海】有限公司"),
        ("ＡＣＭＥ（中国）有限公司", "acme (中国) 有限公司"),
        ("北京 字节 跳动 有限公司", "北京字节跳动有限公司"),
    ],
)
def test_spellings_of_one_company_share_a_matching_key(one: str, other: str) -> None:
    assert company_key(one) == company_key(other)


def test_different_companies_keep_different_keys() -> None:
    assert company_key("腾讯科技（深圳）有限公司") != company_key("腾讯科技（北京）有限公司")
    assert company_key("ACME（中国）有限公司") != company_key("ACME有限公司")
    assert company_key("腾讯科技（深圳）有限责任公司") == "腾讯科技(深圳)有限公司"


def test_every_step_and_refusal_sentence_has_its_chinese() -> None:
    sentences = [*STEPS.values()]
    sentences += [convert_date(cell).reason for cell in ("2024-02-30", "x", 0, True)]
    sentences += [convert_amount("x").reason, convert_phone("x").reason]
    chinese = catalog("zh-CN")
    assert [s.msgid for s in sentences if s is not None and s.msgid not in chinese] == []


def test_every_character_a_company_key_translates_is_one_it_looks_for_first() -> None:
    """``company_key`` translates only a name holding a character of ``_TRANSLATED``."""
    changed = {chr(code) for code in (*FULL_WIDTH, *_BRACKETS)}
    missed = [char for char in changed if _TRANSLATED.search(char) is None]
    assert missed == []
    assert company_key("腾讯科技【深圳】有限责任公司") == "腾讯科技(深圳)有限公司"
    assert company_key("ＡＣＭＥ\u3000科技[北京]") == "acme科技(北京)"
    assert company_key("北京云帆星河科技12有限公司") == "北京云帆星河科技12有限公司"
