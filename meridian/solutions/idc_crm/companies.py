"""Unique, believable sample companies: name, web domain, industry, region and USCC.

Names are composed as city + two brand syllables + industry word + suffix
(杭州云启网络科技有限公司). The name and the USCC are unique fields, so random composition
would collide by the birthday paradox long before a million rows; instead the customer's
ordinal is sent through a seeded bijection (``ordinal * multiplier + offset`` modulo the number
of combinations, with the multiplier coprime to it) and read as a mixed-radix number whose
digits pick the parts. Distinct ordinals therefore always give distinct names and codes, and
the sequence still looks shuffled.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd
from random import Random

from meridian.solutions.idc_crm.codes import USCC_CHARSET, build_uscc
from meridian.solutions.idc_crm.regions import CITY_REGIONS, Region
from meridian.solutions.idc_crm.vocabulary import (
    BRAND_SYLLABLES,
    COMPANY_SUFFIXES,
    INDUSTRY_WORDS,
)

_BRANDS = len(BRAND_SYLLABLES)
_NAME_COMBINATIONS = (
    len(CITY_REGIONS) * _BRANDS * (_BRANDS - 1) * len(INDUSTRY_WORDS) * len(COMPANY_SUFFIXES)
)
MAX_COMPANIES = _NAME_COMBINATIONS
"""How many distinct companies one generation can name (about 5.1 million)."""

_NUMERIC_ORG_CODES = 10**8
_NEW_STYLE_ORG_CODES = len(USCC_CHARSET) ** 6


@dataclass(frozen=True)
class Company:
    name: str
    short_name: str
    """Brand and industry word without city and suffix (云启网络科技), for deal names."""
    domain: str
    industry: str
    region: Region
    uscc: str


class CompanyNamer:
    """Company number ``ordinal`` (1-based, up to ``count``) of one seeded generation."""

    def __init__(self, rng: Random, count: int) -> None:
        if count > MAX_COMPANIES:
            raise ValueError(f"at most {MAX_COMPANIES} sample companies have distinct names")
        self._name_key = _Bijection(rng, _NAME_COMBINATIONS)
        self._numeric_org = _Bijection(rng, _NUMERIC_ORG_CODES)
        self._new_style_org = _Bijection(rng, _NEW_STYLE_ORG_CODES)

    def company(self, ordinal: int) -> Company:
        rest, suffix = divmod(self._name_key(ordinal), len(COMPANY_SUFFIXES))
        rest, industry_index = divmod(rest, len(INDUSTRY_WORDS))
        rest, second = divmod(rest, _BRANDS - 1)
        city, first = divmod(rest, _BRANDS)
        # Skipping the first syllable's own index keeps names like 华华科技 out.
        second = (first + 1 + second) % _BRANDS
        word, industry, domain_tag = INDUSTRY_WORDS[industry_index]
        regions = CITY_REGIONS[city]
        region = regions[ordinal % len(regions)]
        brand = BRAND_SYLLABLES[first][0] + BRAND_SYLLABLES[second][0]
        domain = BRAND_SYLLABLES[first][1] + BRAND_SYLLABLES[second][1] + domain_tag + ".com"
        return Company(
            name=region.city + brand + word + COMPANY_SUFFIXES[suffix],
            short_name=brand + word,
            domain=domain,
            industry=industry,
            region=region,
            uscc=build_uscc(region.code, self._org_body(ordinal)),
        )

    def _org_body(self, ordinal: int) -> str:
        """The 8-character organisation code body: ``MA…`` since 2015 (odd ordinals), else digits.

        The two styles never produce the same body, and each is a bijection of the ordinal,
        so no two companies share a USCC.
        """
        if ordinal % 2:
            number = self._new_style_org(ordinal)
            characters = []
            for _ in range(6):
                number, digit = divmod(number, len(USCC_CHARSET))
                characters.append(USCC_CHARSET[digit])
            return "MA" + "".join(characters)
        return f"{self._numeric_org(ordinal):08d}"


class _Bijection:
    """``ordinal ↦ (ordinal * multiplier + offset) % size``: a seeded shuffle of the range."""

    def __init__(self, rng: Random, size: int) -> None:
        multiplier = rng.randrange(size // 3, size)
        while gcd(multiplier, size) != 1:
            multiplier += 1
        self._multiplier = multiplier
        self._offset = rng.randrange(size)
        self._size = size

    def __call__(self, ordinal: int) -> int:
        return (ordinal * self._multiplier + self._offset) % self._size
