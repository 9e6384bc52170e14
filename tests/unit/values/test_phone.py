import random

import phonenumbers
import pytest

from meridian.errors import InvalidValue
from meridian.schema.values.phone import normalize_phone


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("13800138000", "+8613800138000"),
        ("+86 138 0013 8000", "+8613800138000"),
        ("+86-138-0013-8000", "+8613800138000"),
        ("138-0013-8000", "+8613800138000"),
        ("138 0013 8000", "+8613800138000"),
        ("  13800138000  ", "+8613800138000"),
        ("１３８００１３８０００", "+8613800138000"),
        ("008613800138000", "+8613800138000"),
        ("+86 199 1234 5678", "+8619912345678"),
    ],
)
def test_chinese_mobile_typed_any_way_is_stored_once_in_e164(typed: str, stored: str) -> None:
    assert normalize_phone(typed) == stored


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("010-12345678", "+861012345678"),
        ("(010)12345678", "+861012345678"),
        ("0755-8888 8888", "+8675588888888"),
        ("+86 755 8888 8888", "+8675588888888"),
        ("400-800-8888", "+864008008888"),
    ],
)
def test_landline_with_area_code_is_stored_in_e164(typed: str, stored: str) -> None:
    assert normalize_phone(typed) == stored


@pytest.mark.parametrize(
    "typed",
    [
        "010-12345678 ext. 8001",
        "010-12345678 x 8001",
        "010-12345678转8001",
        "010-12345678 转 8001",
        "010-12345678分机8001",
        "010-12345678-8001",
        "+86-10-12345678-8001",
    ],
)
def test_extension_in_any_common_writing_is_kept_after_ext(typed: str) -> None:
    assert normalize_phone(typed) == "+861012345678;ext=8001"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("+1 650-253-0000", "+16502530000"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+852 2123 4567", "+85221234567"),
    ],
)
def test_international_number_with_plus_is_accepted(typed: str, stored: str) -> None:
    assert normalize_phone(typed) == stored


def test_default_region_decides_numbers_written_without_country_code() -> None:
    assert normalize_phone("(650) 253-0000", default_region="US") == "+16502530000"


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "abc",
        "12345",
        "95588",
        "1380013800",
        "138001380001",
        "14012345678",
        "13800138000abc",
        "13800138000-12",
        "010-1234-567",
        "+1 138 0013 8000",
        "+999 1234 5678",
    ],
)
def test_invalid_number_is_refused_with_its_value_in_the_message(typed: str) -> None:
    with pytest.raises(InvalidValue) as error:
        normalize_phone(typed)
    assert error.value.code == "invalid_phone"
    assert repr(typed) in error.value.message


def test_unknown_default_region_refuses_national_numbers() -> None:
    with pytest.raises(InvalidValue):
        normalize_phone("13800138000", default_region="XX")


def _by_phonenumbers(text: str) -> str | None:
    try:
        number = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _assert_same_as_phonenumbers(typed: str) -> None:
    expected = _by_phonenumbers(typed)
    if expected is None:
        with pytest.raises(InvalidValue):
            normalize_phone(typed)
    else:
        assert normalize_phone(typed) == expected, typed


def test_fast_path_agrees_with_phonenumbers_on_mobiles_of_every_prefix() -> None:
    rng = random.Random(2026)
    candidates = [f"1{prefix:02d}{rng.randrange(10**8):08d}" for prefix in range(100)]
    candidates += [f"1{rng.randrange(10**10):010d}" for _ in range(3000)]
    for digits in candidates:
        _assert_same_as_phonenumbers(digits)
        _assert_same_as_phonenumbers(f"+86 {digits[:3]} {digits[3:7]} {digits[7:]}")
        _assert_same_as_phonenumbers(f"0{digits}")


def test_fast_path_agrees_with_phonenumbers_on_landlines() -> None:
    rng = random.Random(2260)
    area_codes = ["10", "20", "21", "22", "23", "24", "25", "27", "28", "29", "311", "351"]
    area_codes += ["371", "431", "451", "512", "571", "591", "731", "755", "757", "769", "898"]
    area_codes += [f"{rng.randrange(100, 1000)}" for _ in range(200)]
    for area in area_codes:
        for length in range(5, 10):
            local = f"{rng.randrange(10**length):0{length}d}"
            _assert_same_as_phonenumbers(f"0{area}-{local}")
            _assert_same_as_phonenumbers(f"+86 {area} {local}")
            _assert_same_as_phonenumbers(f"0{area}{local}")


def test_fast_path_agrees_with_phonenumbers_on_digit_strings_of_any_length() -> None:
    rng = random.Random(11714)
    for _ in range(3000):
        length = rng.randint(6, 14)
        _assert_same_as_phonenumbers(f"{rng.randrange(10**length):0{length}d}")
