"""Valid 统一社会信用代码 for sample companies, built with both check characters.

A sample code must pass the same check a user's code does, so the generator computes the
GB 11714 organisation-code check digit (position 17) and the GB 32100-2015 check character
(position 18) itself instead of copying real companies' codes.
"""

from __future__ import annotations

USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
"""GB 32100-2015 code characters: digits and capitals without I, O, Z, S and V."""

_USCC_VALUE = {char: index for index, char in enumerate(USCC_CHARSET)}
# Position i (from 0) weighs 3**i mod 31: the standard's weight table, derived not copied.
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

ENTERPRISE_PREFIX = "91"
"""登记管理部门 9 (market regulation) and 机构类别 1 (enterprise): every sample is a company."""


def org_code_check_digit(body: str) -> str:
    """GB 11714's check for an 8-character organisation code body.

    Digits count as themselves and letters as A=10 … Z=35; the check is 11 minus the weighted
    sum mod 11, written X for 10 and 0 for 11.
    """
    total = sum(int(char, 36) * weight for char, weight in zip(body, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def uscc_check_character(first17: str) -> str:
    """GB 32100-2015's check for the first 17 characters: 31 minus the weighted sum mod 31."""
    total = sum(
        _USCC_VALUE[char] * weight for char, weight in zip(first17, _USCC_WEIGHTS, strict=True)
    )
    return USCC_CHARSET[(31 - total % 31) % 31]


def build_uscc(region: str, org_body: str) -> str:
    """An enterprise code registered in ``region`` (6 digits) for an 8-character org body."""
    first17 = ENTERPRISE_PREFIX + region + org_body + org_code_check_digit(org_body)
    return first17 + uscc_check_character(first17)
