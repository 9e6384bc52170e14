"""Sample people: Chinese names with their pinyin, mobile numbers and work e-mails."""

from __future__ import annotations

from random import Random

from meridian.solutions.idc_crm.vocabulary import GIVEN_NAME_CHARACTERS, SURNAMES

MOBILE_PREFIXES: tuple[str, ...] = (
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152",
    "153", "155", "156", "157", "158", "159", "166", "173", "176", "177", "180", "181",
    "182", "183", "185", "186", "187", "188", "189", "199",
)  # fmt: skip
"""Mainland mobile number blocks of China Mobile, Unicom and Telecom in wide public use."""


def person(rng: Random) -> tuple[str, str]:
    """A name (a surname and one or two given-name characters) and its pinyin, e.g. 王静怡."""
    surname, surname_pinyin = rng.choice(SURNAMES)
    given, given_pinyin = rng.choice(GIVEN_NAME_CHARACTERS)
    if rng.random() < 0.6:
        second, second_pinyin = rng.choice(GIVEN_NAME_CHARACTERS)
        return surname + given + second, surname_pinyin + given_pinyin + second_pinyin
    return surname + given, surname_pinyin + given_pinyin


def mobile(rng: Random) -> str:
    """An 11-digit mainland mobile number as people type it; the phone field normalises it."""
    return f"{rng.choice(MOBILE_PREFIXES)}{rng.randrange(100_000_000):08d}"
