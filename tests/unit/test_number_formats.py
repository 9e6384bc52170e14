"""Numbers on pages read exactly as Babel writes them (``web.numbers``), for every locale
Meridian speaks, decimals, money in several currencies, signs, rounding ties and the values
Babel alone handles."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from babel import Locale

from meridian.web.numbers import NumberFormat, currency_format, decimal_format

LOCALES = ["zh_CN", "en", "de_DE", "fr_FR", "hi_IN"]
"""Meridian's two, and three whose grouping, symbols and affixes differ from them (a space or
a dot to group, a comma for the point, the symbol after the number, India's 2-digit groups)."""


def _values() -> list[Decimal]:
    chosen = random.Random(21)
    fixed = ["0", "-0", "0.0005", "0.0015", "2.675", "-2.675", "1234567.5", "-1234567.505"]
    fixed += ["999.9995", "1E+6", "1.2E-7", "12345678901234567890.125", "0.1", "100", "-0.004"]
    drawn = [
        Decimal(chosen.randint(-(10**12), 10**12)).scaleb(-chosen.randint(0, 6)) for _ in range(400)
    ]
    return [Decimal(v) for v in fixed] + drawn


@pytest.mark.parametrize("locale", LOCALES)
def test_decimals_read_as_babel_writes_them(locale: str) -> None:
    babel = Locale.parse(locale)
    pattern = babel.decimal_formats[None]
    ours = decimal_format(locale)
    assert ours.plain
    for value in _values():
        assert ours(value) == pattern.apply(value, babel), value


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("currency", ["CNY", "USD", "JPY", "EUR"])
def test_money_reads_as_babel_writes_it(locale: str, currency: str) -> None:
    babel = Locale.parse(locale)
    pattern = babel.currency_formats["standard"]
    ours = currency_format(locale, currency)
    assert ours.plain
    for value in _values():
        assert ours(value) == pattern.apply(value, babel, currency=currency), value


@pytest.mark.parametrize("locale", ["en_CH", "gsw_FR"])
def test_a_locale_grouping_with_a_quote_reads_as_babel_writes_it(locale: str) -> None:
    babel = Locale.parse(locale)
    ours = currency_format(locale, "CHF")
    assert not ours.plain  # Babel takes its own quote out: left to Babel
    for value in _values()[:50]:
        assert ours(value) == babel.currency_formats["standard"].apply(value, babel, currency="CHF")
        assert decimal_format(locale)(value) == babel.decimal_formats[None].apply(value, babel)


def test_what_babel_alone_handles_goes_to_babel() -> None:
    babel = Locale.parse("en")
    scientific = NumberFormat(babel.scientific_formats[None], babel, None)
    percent = NumberFormat(babel.percent_formats[None], babel, None)
    assert not scientific.plain and not percent.plain  # an exponent; a scale of 100
    for value in (Decimal("1234.5"), Decimal("-0.25"), Decimal("Infinity"), Decimal("NaN")):
        assert scientific(value) == babel.scientific_formats[None].apply(value, babel)
        assert percent(value) == babel.percent_formats[None].apply(value, babel)
    assert decimal_format("en")(Decimal("-Infinity")) == "-∞"
