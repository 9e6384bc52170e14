import random
from collections.abc import Callable

import pytest

from meridian.errors import InvalidValue
from meridian.schema.values.uscc import (
    ALPHABET,
    normalize_uscc,
    organisation_check_character,
    uscc_check_character,
)

# Codes as published on business licences and in the national enterprise credit system.
PUBLISHED = [
    "91350100M000100Y43",  # the sample printed in GB 32100-2015 guidance
    "914403001922038216",  # 华为技术有限公司
    "91440300708461136T",  # 深圳市腾讯计算机系统有限公司
    "91330100799655058B",  # 阿里巴巴（中国）有限公司
    "91110108551385082Q",  # 小米科技有限责任公司
    "91110000802100433B",  # 北京百度网讯科技有限公司
]


@pytest.mark.parametrize("code", PUBLISHED)
def test_published_codes_are_valid(code: str) -> None:
    assert normalize_uscc(code) == code


@pytest.mark.parametrize("code", PUBLISHED)
def test_check_character_of_published_codes_is_recomputed(code: str) -> None:
    assert uscc_check_character(code[:17]) == code[17]
    assert organisation_check_character(code[8:16]) == code[16]


@pytest.mark.parametrize(
    "typed",
    [
        "91440300708461136t",
        " 91440300708461136T ",
        "9144 0300 7084 6113 6T",
        "914403-00708461136T",
        "９１４４０３００７０８４６１１３６Ｔ",
    ],
)
def test_lower_case_spaces_hyphens_and_full_width_are_normalised(typed: str) -> None:
    assert normalize_uscc(typed) == "91440300708461136T"


@pytest.mark.parametrize("typed", ["", "9144030070846113", "91440300708461136T1", "914403"])
def test_wrong_length_is_refused_with_the_count(typed: str) -> None:
    with pytest.raises(InvalidValue) as error:
        normalize_uscc(typed)
    assert error.value.code == "invalid_uscc_length"
    assert "18 characters" in error.value.message


@pytest.mark.parametrize("letter", ["I", "O", "S", "V", "Z"])
def test_letters_never_used_in_codes_are_refused_by_name(letter: str) -> None:
    typed = f"91350100M000100{letter}43"
    with pytest.raises(InvalidValue) as error:
        normalize_uscc(typed)
    assert error.value.code == "invalid_uscc_character"
    assert repr(letter) in error.value.message


def test_punctuation_inside_a_code_is_an_invalid_character() -> None:
    with pytest.raises(InvalidValue) as error:
        normalize_uscc("91350100M000100Y4.")
    assert error.value.code == "invalid_uscc_character"


@pytest.mark.parametrize(
    "first2",
    ["01", "B1", "X1", "90", "9A"],
    ids=["authority-0", "authority-B", "authority-X", "type-0", "type-letter"],
)
def test_unknown_registration_authority_or_type_is_refused(first2: str) -> None:
    body = f"{first2}350100M000100Y4"
    with pytest.raises(InvalidValue) as error:
        normalize_uscc(body + uscc_check_character(body))
    assert error.value.code == "invalid_uscc_character"


def test_division_code_must_be_digits() -> None:
    body = "9135A100M000100Y4"
    with pytest.raises(InvalidValue) as error:
        normalize_uscc(body + uscc_check_character(body))
    assert error.value.code == "invalid_uscc_character"
    assert "administrative division" in error.value.message


def test_mistyped_check_character_is_refused() -> None:
    with pytest.raises(InvalidValue) as error:
        normalize_uscc("91440300708461136A")
    assert error.value.code == "invalid_uscc_checksum"
    assert "91440300708461136A" in error.value.message


def test_broken_organisation_code_is_refused_even_with_a_matching_last_character() -> None:
    body = "91440300708461135"  # organisation code 70846113-5 instead of -6
    with pytest.raises(InvalidValue) as error:
        normalize_uscc(body + uscc_check_character(body))
    assert error.value.code == "invalid_uscc_checksum"
    assert "organisation code" in error.value.message


def test_every_single_character_typo_of_a_real_code_is_caught() -> None:
    code = "91440300708461136T"
    for position in range(18):
        for char in ALPHABET:
            if char == code[position]:
                continue
            typo = code[:position] + char + code[position + 1 :]
            with pytest.raises(InvalidValue):
                normalize_uscc(typo)


def test_check_characters_generate_codes_that_validate() -> None:
    rng = random.Random(32100)
    for _ in range(500):
        organisation = "".join(rng.choice(ALPHABET) for _ in range(8))
        organisation += organisation_check_character(organisation)
        body = f"{rng.choice('159Y')}{rng.randint(1, 9)}{rng.randint(110000, 659999)}{organisation}"
        code = body + uscc_check_character(body)
        assert normalize_uscc(code) == code


@pytest.mark.parametrize(
    ("function", "text"),
    [
        (uscc_check_character, "9144030070846113"),
        (uscc_check_character, "9144030070846113O"),
        (organisation_check_character, "7084611"),
        (organisation_check_character, "7084611I"),
    ],
)
def test_check_character_helpers_refuse_malformed_input(
    function: Callable[[str], str], text: str
) -> None:
    with pytest.raises(ValueError, match=r"characters|not in"):
        function(text)


def test_organisation_check_uses_x_for_ten_and_zero_for_eleven() -> None:
    assert organisation_check_character("D2143569") == "X"
    assert organisation_check_character("00000000") == "0"
