"""Unique, believable sample companies: name, web domain, industry, region and USCC.

Names are composed as city + two brand syllables + industry word + suffix
(杭州云启网络科技有限公司). The name and the USCC are unique fields, so random composition
would collide by the birthday paradox long before a million rows; instead the customer's
ordinal is sent through a seeded bijection (``ordinal * multiplier + offset`` modulo the number
of combinations, with the multiplier coprime to it) and read as a mixed-radix number whose
digits pick the parts. Distinct ordinals therefore always give distinct names and codes, and
the sequence still looks shuffled.

Each USCC is built with both check characters — GB 11714's for the organisation code
(position 17) and GB 32100-2015's for the whole code (position 18) — computed by the same
functions the ``uscc`` field type checks with, so every sample code passes that check.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd
from random import Random

from meridian.schema.values.uscc import (
    ALPHABET,
    organisation_check_character,
    uscc_check_character,
)
from meridian.solutions.idc_crm.regions import CITY_REGIONS, Region
from meridian.solutions.idc_crm.vocabulary import (
    BRAND_SYLLABLES,
    COMPANY_SUFFIXES,
    INDUSTRY_WORDS,
)

_BRANDS = len(BRAND_SYLLABLES)
MAX_COMPANIES = (
    len(CITY_REGIONS) * _BRANDS * (_BRANDS - 1) * len(INDUSTRY_WORDS) * len(COMPANY_SUFFIXES)
)
"""How many distinct companies one generation can name (about 5.1 million)."""

_ENTERPRISE = "91"
"""登记管理部门 9 (market regulation), 机构类别 1 (enterprise): every sample is a company."""
_NUMERIC_ORG_CODES = 10**8
_NEW_STYLE_ORG_CODES = len(ALPHABET) ** 6


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
    """Company number ``ordinal`` (1-based, up to ``MAX_COMPANIES``) of one seeded generation."""

    def __init__(self, rng: Random) -> None:
        self._name_key = _Bijection(rng, MAX_COMPANIES)
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
            uscc=_uscc(region.code, self._org_body(ordinal)),
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
                number, digit = divmod(number, len(ALPHABET))
                characters.append(ALPHABET[digit])
            return "MA" + "".join(characters)
        return f"{self._numeric_org(ordinal):08d}"


def _uscc(region: str, org_body: str) -> str:
    first17 = _ENTERPRISE + region + org_body + organisation_check_character(org_body)
    return first17 + uscc_check_character(first17)


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
