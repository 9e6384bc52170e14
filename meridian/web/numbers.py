"""Numbers as pages show them: Babel's CLDR patterns, with the locale's symbols looked up once.

``NumberPattern.apply`` looks up the group, decimal and currency symbols in the locale data
and runs a regular expression over its result on every call: 14–38 µs a value, and a kanban
of 350 cards with an amount each spent 5–13 ms there (issue 21). :class:`NumberFormat` keeps
one pattern of one locale (and currency) with its symbols and does the same steps — sign,
quantize to the pattern's (or the currency's) fraction digits with the context's rounding,
group the integer part, trim the fraction to its minimum — for the plain patterns every
locale Meridian speaks uses; anything else (significant digits, exponents, scaling, quoted
text, ``¤¤``, infinities) goes to Babel itself. A test holds it to Babel's output.
"""

from __future__ import annotations

import functools
from decimal import Decimal

from babel import Locale
from babel.numbers import (
    NumberPattern,
    get_currency_precision,
    get_currency_symbol,
    get_decimal_quantum,
    get_decimal_symbol,
    get_group_symbol,
)


class NumberFormat:
    """One pattern of one locale, for one currency or none."""

    def __init__(self, pattern: NumberPattern, locale: Locale, currency: str | None) -> None:
        self.pattern = pattern
        self.locale = locale
        self.currency = currency
        affixes = "".join((*pattern.prefix, *pattern.suffix))
        self.plain = (
            not pattern.exp_prec
            and "@" not in pattern.pattern
            and pattern.scale == 0
            and "'" not in affixes
            and "¤¤" not in affixes
            and (currency is not None or "¤" not in affixes)
        )
        symbol = get_currency_symbol(currency, locale) if currency else ""
        self.prefix = tuple(p.replace("¤", symbol) for p in pattern.prefix)
        self.suffix = tuple(s.replace("¤", symbol) for s in pattern.suffix)
        digits = get_currency_precision(currency) if currency else None
        self.fraction = (digits, digits) if digits is not None else pattern.frac_prec
        self.quantum = get_decimal_quantum(self.fraction[1])
        self.group = get_group_symbol(locale)
        self.decimal = get_decimal_symbol(locale)
        # Babel drops a quote from its own output (en_CH and gsw_FR group with one).
        self.plain = self.plain and "'" not in self.group + self.decimal

    def __call__(self, value: Decimal) -> str:
        if not self.plain or not value.is_finite():
            return str(self.pattern.apply(value, self.locale, currency=self.currency))
        negative = int(value.is_signed())
        whole, _, fraction = f"{abs(value).normalize().quantize(self.quantum):f}".partition(".")
        return (
            self.prefix[negative]
            + self._grouped(whole)
            + self._fraction(fraction)
            + (self.suffix[negative])
        )

    def _grouped(self, whole: str) -> str:
        least = self.pattern.int_prec[0]
        if len(whole) < least:
            whole = "0" * (least - len(whole)) + whole
        size, more = self.pattern.grouping
        grouped = ""
        while len(whole) > size:
            grouped = self.group + whole[-size:] + grouped
            whole = whole[:-size]
            size = more
        return whole + grouped

    def _fraction(self, fraction: str) -> str:
        least, most = self.fraction
        fraction = fraction or "0"
        if len(fraction) < least:
            fraction += "0" * (least - len(fraction))
        if most == 0 or (least == 0 and int(fraction) == 0):
            return ""
        while len(fraction) > least and fraction[-1] == "0":
            fraction = fraction[:-1]
        return self.decimal + fraction


@functools.lru_cache(maxsize=64)
def decimal_format(locale: str) -> NumberFormat:
    """The locale's standard decimal pattern."""
    parsed = Locale.parse(locale)
    return NumberFormat(parsed.decimal_formats[None], parsed, None)


@functools.lru_cache(maxsize=256)
def currency_format(locale: str, currency: str | None) -> NumberFormat:
    """The locale's standard currency pattern for ``currency`` (none: Babel's own handling)."""
    parsed = Locale.parse(locale)
    return NumberFormat(parsed.currency_formats["standard"], parsed, currency)
