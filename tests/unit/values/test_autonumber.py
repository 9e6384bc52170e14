from datetime import datetime

import pytest

from meridian.errors import InvalidValue
from meridian.schema.values.autonumber import parse_pattern

MARCH_5 = datetime(2026, 3, 5, 9, 30)


@pytest.mark.parametrize(
    ("pattern", "counter", "number"),
    [
        ("HT-{YYYY}-{0000}", 7, "HT-2026-0007"),
        ("QT{YY}{MM}{000000}", 42, "QT2603000042"),
        ("{YYYY}{MM}{DD}-{000}", 1, "20260305-001"),
        ("合同{YYYY}第{000}号", 12, "合同2026第012号"),
        ("NO-{0}", 5, "NO-5"),
    ],
)
def test_number_is_formatted_with_date_and_zero_padded_counter(
    pattern: str, counter: int, number: str
) -> None:
    assert parse_pattern(pattern).format(counter, MARCH_5) == number


def test_counter_grows_beyond_its_width_instead_of_truncating() -> None:
    assert parse_pattern("HT-{YYYY}-{0000}").format(123456, MARCH_5) == "HT-2026-123456"


def test_negative_counter_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="start at 0"):
        parse_pattern("HT-{0000}").format(-1, MARCH_5)


@pytest.mark.parametrize(
    ("pattern", "same_sequence", "next_sequence"),
    [
        ("HT-{YYYY}-{0000}", datetime(2026, 12, 31), datetime(2027, 1, 1)),
        ("QT{YY}{MM}{000000}", datetime(2026, 3, 31), datetime(2026, 4, 1)),
        ("{YYYY}{MM}{DD}-{000}", datetime(2026, 3, 5, 23, 59), datetime(2026, 3, 6)),
    ],
    ids=["yearly", "monthly", "daily"],
)
def test_counter_restarts_with_each_period_its_date_tokens_show(
    pattern: str, same_sequence: datetime, next_sequence: datetime
) -> None:
    parsed = parse_pattern(pattern)
    assert parsed.sequence_key(MARCH_5) == parsed.sequence_key(same_sequence)
    assert parsed.sequence_key(MARCH_5) != parsed.sequence_key(next_sequence)


def test_sequence_key_is_the_number_with_the_counter_left_out() -> None:
    assert parse_pattern("HT-{YYYY}-{0000}").sequence_key(MARCH_5) == "HT-2026-#"
    assert parse_pattern("{YYYY}{MM}{DD}-{000}").sequence_key(MARCH_5) == "20260305-#"


def test_pattern_without_date_tokens_never_restarts() -> None:
    parsed = parse_pattern("KH-{00000}")
    assert parsed.sequence_key(datetime(2020, 1, 1)) == parsed.sequence_key(datetime(2030, 6, 1))


def test_month_without_year_continues_last_years_counter_so_numbers_never_repeat() -> None:
    parsed = parse_pattern("M{MM}-{000}")
    assert parsed.sequence_key(datetime(2026, 3, 1)) == parsed.sequence_key(datetime(2027, 3, 1))


def test_changing_only_the_counter_width_keeps_the_sequence() -> None:
    narrow, wide = parse_pattern("HT-{YYYY}-{000}"), parse_pattern("HT-{YYYY}-{00000}")
    assert narrow.sequence_key(MARCH_5) == wide.sequence_key(MARCH_5)


def test_parsed_pattern_remembers_its_text_and_counter_width() -> None:
    parsed = parse_pattern("HT-{YYYY}-{0000}")
    assert parsed.pattern == "HT-{YYYY}-{0000}"
    assert parsed.width == 4


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("HT-{YYYY}", "no counter"),
        ("HT-", "no counter"),
        ("", "1 to 64"),
        ("HT-" + "X" * 62 + "{0}", "1 to 64"),
        ("HT-{HH}-{000}", "unknown token {HH}"),
        ("HT-{yyyy}-{000}", "unknown token {yyyy}"),
        ("HT-{}-{000}", "unknown token {}"),
        ("HT-{000}-{00}", "more than one counter"),
        ("HT-{0000000000000}", "wider than 12"),
        ("HT-{YYYY-{000}", "unmatched brace"),
        ("HT}-{000}", "unmatched brace"),
        ("HT-{000}{", "unmatched brace"),
        ("HT\n{000}", "control"),
    ],
)
def test_bad_pattern_is_refused_with_the_reason(pattern: str, reason: str) -> None:
    with pytest.raises(InvalidValue) as error:
        parse_pattern(pattern)
    assert error.value.code == "invalid_pattern"
    assert reason in error.value.message
