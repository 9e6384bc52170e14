"""Phone numbers in E.164 (``+8613800138000``), checked against libphonenumber's metadata.

One number typed as ``138-0013-8000``, ``+86 138 0013 8000`` or ``１３８００１３８０００`` is
stored once, as ``+8613800138000``. An extension follows RFC 3966's parameter:
``+861012345678;ext=8001``. Chinese writing of extensions (``010-12345678转8001``,
``…分机8001`` and the business-card ``010-12345678-8001``) is understood.
"""

from __future__ import annotations

import re
from functools import cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from meridian.core.i18n import Text
from meridian.errors import InvalidValue

# phonenumbers takes 15–20 µs to parse a number; bulk imports are mostly Chinese mobiles and
# landlines typed with only spaces and hyphens. Those are answered in about 1 µs by
# libphonenumber's own CN patterns, so the result is the slow path's (a test holds it to that).
_PLAIN_DIGITS = re.compile(r"\+?[0-9][0-9 -]{5,18}[0-9]")
_CHINESE_EXTENSION = re.compile(r"\s*(?:转|分机|分機)\s*")
_DASHED_EXTENSION = re.compile(r"(.*\d)\s*[-－]\s*(\d{1,6})")
_LANDLINE = frozenset({PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE})


def normalize_phone(value: str, default_region: str = "CN") -> str:
    """The number in E.164, with ``;ext=…`` when it has an extension; or ``InvalidValue``.

    ``default_region`` (ISO 3166 alpha-2) is the country of numbers written without ``+``.
    Service short codes such as 95588 are not phone numbers here. Code: ``invalid_phone``.
    """
    text = value.strip()
    if _PLAIN_DIGITS.fullmatch(text):
        known = chinese_number(text.replace(" ", "").replace("-", ""), default_region)
        if known:
            return known
    number = _parse(_CHINESE_EXTENSION.sub(" ext. ", text), default_region)
    if number is None or not phonenumbers.is_valid_number(number):
        dashed = _DASHED_EXTENSION.fullmatch(text)
        number = _parse(f"{dashed[1]} ext. {dashed[2]}", default_region) if dashed else None
        if number is None or not _is_valid_landline(number):
            raise InvalidValue(
                "invalid_phone", Text("{value!r} is not a valid phone number.", value=value)
            )
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    return f"{e164};ext={number.extension}" if number.extension else e164


def chinese_number(digits: str, default_region: str = "CN") -> str | None:
    """E.164 for a valid CN mobile or landline written as bare digits (``+86…``, ``0…`` or
    a mobile's eleven); None for anything else, which :func:`normalize_phone` then reads."""
    if digits.startswith("+86"):
        national = digits[3:]
    elif default_region != "CN" or digits.startswith(("+", "00")):
        return None
    elif digits.startswith("0"):
        national = digits[1:]
    elif len(digits) == 11 and digits.startswith("1"):
        national = digits
    else:
        return None
    general, fixed_line, mobile = _cn_patterns()
    if general.fullmatch(national) and (
        mobile.fullmatch(national) or fixed_line.fullmatch(national)
    ):
        return f"+86{national}"
    return None


@cache
def _cn_patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """CN's number patterns, each including its possible lengths, as libphonenumber checks."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region("CN")
    if metadata is None:
        raise RuntimeError("phonenumbers has no CN metadata")
    patterns = []
    for desc in (metadata.general_desc, metadata.fixed_line, metadata.mobile):
        if desc is None or not desc.national_number_pattern:
            raise RuntimeError("phonenumbers' CN metadata lacks a number pattern")
        lengths = "|".join(f"\\d{{{n}}}" for n in desc.possible_length or ())
        length_check = f"(?=(?:{lengths})$)" if lengths else ""
        patterns.append(re.compile(f"{length_check}(?:{desc.national_number_pattern})"))
    return patterns[0], patterns[1], patterns[2]


def _is_valid_landline(number: phonenumbers.PhoneNumber) -> bool:
    """Only desk phones have extensions, so ``13800138000-12`` stays a typo, not ``;ext=12``."""
    return phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in _LANDLINE


def _parse(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except NumberParseException:
        return None
