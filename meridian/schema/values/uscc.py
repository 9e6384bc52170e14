"""统一社会信用代码 (unified social credit code), checked per GB 32100-2015.

An 18-character code: registration authority (1), organisation type (1), the registering
office's administrative division (6), the organisation code of GB 11714 with its own check
character (9), and a check character over the first 17 (1). Letters I, O, S, V and Z are never
used, so a code typed with O for 0 is refused rather than guessed at.
"""

from __future__ import annotations

import re
import unicodedata
from operator import mul

from meridian.core.i18n import Text
from meridian.errors import InvalidValue

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {char: index for index, char in enumerate(ALPHABET)}
_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))

# GB 11714 values letters by their place in the full Latin alphabet (A=10 … Z=35), unlike
# the USCC check, which counts only the 31 characters in use.
_ORG_VALUE = {char: int(char, 36) for char in ALPHABET}
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

# Registration authorities assigned under GB 32100 (1 机构编制 … 9 市场监管, A 中央军委改革和编制
# 办公室, N 农业农村, Y 其他). Organisation types are a digit in every published assignment.
_STRUCTURE = re.compile(r"[1-9ANY][1-9][0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}")
_SEPARATORS = re.compile(r"[\s\-]+")


def uscc_check_character(first17: str) -> str:
    """The 18th character for the first 17 (uppercase, from ``ALPHABET``).

    Useful to build valid sample data: ``first17 + uscc_check_character(first17)``.
    """
    if len(first17) != 17:
        raise ValueError(f"expected 17 characters, got {len(first17)}: {first17!r}")
    try:
        total = sum(map(mul, map(_VALUE.__getitem__, first17), _WEIGHTS))
    except KeyError as error:
        raise ValueError(f"{first17!r} has {error.args[0]!r}, not in {ALPHABET}") from None
    return ALPHABET[(31 - total % 31) % 31]


def organisation_check_character(first8: str) -> str:
    """The GB 11714 check character of an organisation code's first eight characters."""
    if len(first8) != 8:
        raise ValueError(f"expected 8 characters, got {len(first8)}: {first8!r}")
    try:
        total = sum(map(mul, map(_ORG_VALUE.__getitem__, first8), _ORG_WEIGHTS))
    except KeyError as error:
        raise ValueError(f"{first8!r} has {error.args[0]!r}, not in {ALPHABET}") from None
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def normalize_uscc(value: str) -> str:
    """The code in upper case without spaces or hyphens, or ``InvalidValue``.

    Codes: ``invalid_uscc_length``, ``invalid_uscc_character`` (including a registration
    authority, organisation type or division code that cannot occur),
    ``invalid_uscc_checksum`` (the organisation code's or the whole code's check character).
    """
    text = value if value.isascii() else unicodedata.normalize("NFKC", value)
    code = _SEPARATORS.sub("", text).upper()
    if not _STRUCTURE.fullmatch(code):
        raise _structure_error(value, code)
    if organisation_check_character(code[8:16]) != code[16]:
        raise InvalidValue(
            "invalid_uscc_checksum",
            Text(
                "The organisation code inside {value!r} ({code}) fails its check character; the "
                "code is probably mistyped.",
                value=value,
                code=code[8:17],
            ),
        )
    if uscc_check_character(code[:17]) != code[17]:
        raise InvalidValue(
            "invalid_uscc_checksum",
            Text(
                "The last character of {value!r} does not match its check character; the code is "
                "probably mistyped.",
                value=value,
            ),
        )
    return code


def _structure_error(value: str, code: str) -> InvalidValue:
    if len(code) != 18:
        return InvalidValue(
            "invalid_uscc_length",
            Text(
                "A unified social credit code has 18 characters; {value!r} has {count}.",
                value=value,
                count=len(code),
            ),
        )
    bad = next((char for char in code if char not in _VALUE), None)
    if bad is not None:
        return InvalidValue(
            "invalid_uscc_character",
            Text(
                "{value!r} contains {bad!r}; a unified social credit code uses only digits and "
                "the letters A–Y without I, O, S, V and Z.",
                value=value,
                bad=bad,
            ),
        )
    if not code[2:8].isdigit():
        return InvalidValue(
            "invalid_uscc_character",
            Text(
                "Characters 3–8 of {value!r} must be the six digits of an administrative division.",
                value=value,
            ),
        )
    return InvalidValue(
        "invalid_uscc_character",
        Text(
            "{value!r} does not start with a registration authority (1–9, A, N or Y) "
            "followed by an organisation type (1–9).",
            value=value,
        ),
    )
