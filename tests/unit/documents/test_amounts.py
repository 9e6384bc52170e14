"""Money and dates as documents write them; the capital-number amount is exact to the fen."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from meridian.documents.amounts import format_cn_date, format_money, rmb_capital


@pytest.mark.parametrize(
    ("amount", "capital"),
    [
        ("1234567.00", "壹佰贰拾叁万肆仟伍佰陆拾柒元整"),
        ("0.05", "伍分"),
        ("0.50", "伍角"),
        ("100.10", "壹佰元零壹角"),
        ("10000000.00", "壹仟万元整"),
        ("1000001.01", "壹佰万零壹元零壹分"),
        ("20030.00", "贰万零叁拾元整"),
        ("0", "零元整"),
        ("10", "壹拾元整"),
        ("1680.32", "壹仟陆佰捌拾元零叁角贰分"),
        ("107000.53", "壹拾万柒仟元零伍角叁分"),
        ("1409.50", "壹仟肆佰零玖元伍角"),
        ("6007.14", "陆仟零柒元壹角肆分"),
        ("325.04", "叁佰贰拾伍元零肆分"),
        ("100000000", "壹亿元整"),
        ("100005000", "壹亿零伍仟元整"),
        ("10005000", "壹仟万伍仟元整"),
        ("1010101", "壹佰零壹万零壹佰零壹元整"),
        ("200000000000.99", "贰仟亿元零玖角玖分"),
        ("-35.2", "负叁拾伍元贰角"),
        ("0.005", "壹分"),
    ],
)
def test_capital_numerals_follow_the_payment_rules(amount: str, capital: str) -> None:
    assert rmb_capital(amount) == capital


def test_capital_numerals_read_the_decimal_not_a_float() -> None:
    assert rmb_capital(Decimal("0.29")) == "贰角玖分"
    assert rmb_capital("1,000,001.01") == "壹佰万零壹元零壹分"
    with pytest.raises(ValueError):
        rmb_capital("10000000000000000")
    with pytest.raises(ValueError):
        rmb_capital("abc")


def test_money_is_grouped_with_two_places() -> None:
    assert format_money("1234567") == "¥1,234,567.00"
    assert format_money(Decimal("0.005")) == "¥0.01"
    assert format_money("-12.5") == "-¥12.50"
    assert format_money(None) == ""


def test_dates_are_written_in_chinese() -> None:
    assert format_cn_date("2026-11-23") == "2026年11月23日"
    assert format_cn_date(date(2026, 1, 5)) == "2026年1月5日"
    late = datetime(2026, 11, 22, 17, 30, tzinfo=UTC)
    assert format_cn_date(late, ZoneInfo("Asia/Shanghai")) == "2026年11月23日"
    assert (
        format_cn_date("2026-11-22T17:30:00+00:00", ZoneInfo("Asia/Shanghai")) == "2026年11月23日"
    )
