"""Reading a client's JSON strictly, and showing offending values short (issue 13)."""

from __future__ import annotations

import json
import math

import pytest

from meridian.core.strict_json import RefusedJSON, loads
from meridian.errors import short_text, short_value

REFUSED = {
    "NaN": (b'{"a": NaN}', "a", "not_finite"),
    "Infinity deep in a list": (b'{"a": [1, {"b": -Infinity}]}', "a.1.b", "not_finite"),
    "overflowing float": (b'{"x": 1e400}', "x", "not_finite"),
    "65-bit integer": (b'{"ids": [1, 18446744073709551616]}', "ids.1", "out_of_range"),
    "5,000 digits": (b'{"q": ' + b"9" * 5000 + b"}", "q", "out_of_range"),
    "NUL": (b'{"n": "a\\u0000b"}', "n", "invalid_character"),
    "lone surrogate": (b'{"n": ["\\ud800"]}', "n.0", "invalid_character"),
    "lone surrogate key": (b'{"\\udc00": 1}', "\udc00", "invalid_character"),
    "33 levels": (b"[" * 33 + b"]" * 33, "0" + ".0" * 31, "too_deep"),
    "100,000 levels": (b"[" * 100_000 + b"]" * 100_000, "", "too_deep"),
    "not JSON": (b'{"a":', "", "invalid_json"),
    "not UTF-8": (b'"\xff"', "", "invalid_json"),
}


@pytest.mark.parametrize("case", REFUSED.values(), ids=REFUSED.keys())
def test_what_meridian_cannot_hold_is_refused_with_its_path(case: tuple[bytes, str, str]) -> None:
    document, path, code = case
    with pytest.raises(RefusedJSON) as refused:
        loads(document)
    assert (refused.value.path, refused.value.code) == (path, code)


@pytest.mark.parametrize(
    "document",
    [
        b'{"name": "ACME \\ud83d\\ude00", "amount": "128000.00", "qty": -9223372036854775808}',
        b"[" * 32 + b"]" * 32,
        b"12.5",
        '{"city": "杭州", "note": "a\\\\u0000b"}',
    ],
)
def test_ordinary_json_reads_as_pythons_json_reads_it(document: str | bytes) -> None:
    assert loads(document) == json.loads(document)


def test_an_offending_value_is_shown_by_its_first_sixty_characters() -> None:
    assert short_value("x" * 10_000) == "x" * 60 + "…"
    assert short_value(list(range(10_000))).startswith("[0,1,2,")
    assert len(short_value(list(range(10_000)))) == 61
    assert short_value({"a": [1, 2]}) == {"a": [1, 2]}
    assert short_value(math.nan) == "nan"
    assert short_value(2**70) == str(2**70)
    assert short_value(10**5000) == "an integer of 16610 bits"
    assert short_value(b"\xff" * 1000) == "\ufffd" * 60 + "…"
    assert short_text("a\ud800b") == "a\ufffdb"
