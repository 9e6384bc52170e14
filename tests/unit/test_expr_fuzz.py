"""Whatever a builder types, compiling answers with a result or an ExpressionError — quickly.

Hypothesis writes text from the language's own tokens (and some that are not), and mutates valid
expressions by deleting, repeating and swapping pieces. Nothing may raise anything else, hang,
or blow the stack, and what compiles must evaluate on any record without an exception.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from meridian.expr import ExpressionError, compile_expression
from tests.unit.test_expr_language import SCOPE

TODAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))

TOKENS = [
    *("cabinets", "expected_amount", "discount", "name", "region", "start_date", "end_date"),
    *("signed_at", "is_key", "carriers", "customer.level", "customer.since", "items.amount"),
    *("items", "{预计金额}", "{客户}.{级别}", "｛机柜数｝", "unknown", "__class__", "."),
    *("IF(", "ISBLANK(", "COALESCE(", "ROUND(", "ABS(", "MIN(", "MAX(", "CONCAT(", "LEN("),
    *("LEFT(", "RIGHT(", "CONTAINS(", "STARTS_WITH(", "UPPER(", "LOWER(", "TODAY()", "NOW()"),
    *("DATEADD(", "DATEDIF(", "YEAR(", "MONTH(", "DAY(", "WEEKDAY(", "SUM(", "COUNT(", "AVG("),
    *(
        'DATE("2026-01-31")',
        'DATE("x")',
        '"weeks"',
        '"d"',
        '"m"',
        '"y"',
        '"华东"',
        "'a'",
        '"',
        "“华南”",
    ),
    *("(", ")", "（", "）", "[", "]", "【", "】", ",", "，", "、", "+", "-", "*", "/", "%", "×"),
    *("÷", "=", "==", "!=", "<>", "<", "<=", ">", ">=", "＞＝", "≠", "and", "or", "not", "in"),
    *("&&", "||", "!", "true", "false", "null", "0", "1", "-1", "0.5", "12.345", "9" * 25),
    *("2147483648", "99999999999999999999", " ", "\n", "\u3000", "$", "\\", "\x00", "😀"),
]
VALID = [
    "expected_amount * (1 - discount)",
    'IF(cabinets > 10 and region in ["华东", "华南"], "大单", "普通")',
    'DATEDIF(start_date, end_date, "m") >= 12 or ISBLANK(end_date)',
    'CONCAT(LEFT(name, 2), "-", customer.level, YEAR(TODAY()))',
    "SUM(items.amount) / COUNT(items) > AVG(items.amount)",
    'DATEADD(signed_at, cabinets, "d") < NOW()',
]
RECORDS = st.fixed_dictionaries(
    {
        "expected_amount": st.none() | st.decimals(-(10**12), 10**12, places=2),
        "discount": st.none() | st.decimals(-10, 10, places=4),
        "cabinets": st.none() | st.integers(-(2**63), 2**63 - 1),
        "name": st.none() | st.text(max_size=20),
        "region": st.none() | st.sampled_from(["华东", "华南", ""]),
        "start_date": st.none() | st.dates(),
        "end_date": st.none() | st.dates(),
        "signed_at": st.none() | st.datetimes(timezones=st.just(ZoneInfo("UTC"))),
        "is_key": st.none() | st.booleans(),
        "carriers": st.none() | st.lists(st.sampled_from(["ct", "cu", "bgp"]), max_size=3),
    }
)
RELATED = st.fixed_dictionaries(
    {
        "customer": st.none()
        | st.fixed_dictionaries(
            {"level": st.none() | st.text(max_size=3), "since": st.none() | st.dates()}
        ),
        "items": st.lists(
            st.fixed_dictionaries(
                {
                    "amount": st.none() | st.decimals(-(10**9), 10**9, places=2),
                    "quantity": st.none() | st.integers(-(10**6), 10**6),
                }
            ),
            max_size=4,
        ),
    }
)
FUZZ = settings(max_examples=400, deadline=1000, derandomize=True, database=None)


def compiles_or_refuses(source: str) -> Any:
    try:
        return compile_expression(source, SCOPE)
    except ExpressionError as error:
        assert error.message and error.message_zh
        assert 0 <= error.position <= error.end <= len(source)
        return None


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map(" ".join))
def test_token_soup_compiles_or_is_refused(source: str) -> None:
    compiles_or_refuses(source)


@FUZZ
@given(st.text(max_size=200))
def test_any_text_compiles_or_is_refused(source: str) -> None:
    compiles_or_refuses(source)


FUNCTIONS = [token[:-1] for token in TOKENS if token.endswith("(")]
ATOMS = [
    token
    for token in TOKENS
    if not token.endswith("(") and token.strip() not in "()[]（）【】,，、"
]


@FUZZ
@given(
    st.sampled_from(FUNCTIONS),
    st.lists(st.sampled_from(ATOMS), max_size=4),
    RECORDS,
    RELATED,
)
def test_every_function_takes_any_arguments_safely(
    name: str, arguments: list[str], record: dict[str, Any], related: dict[str, Any]
) -> None:
    compiled = compiles_or_refuses(f"{name}({', '.join(arguments)})")
    if compiled is not None:
        compiled.evaluate(record, today=TODAY, now=NOW, related=related)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    source = draw(st.sampled_from(VALID))
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, len(source)))
        end = draw(st.integers(start, min(len(source), start + 8)))
        piece = source[start:end]
        source = draw(
            st.sampled_from(
                [
                    source[:start] + source[end:],
                    source[:start] + piece * 3 + source[end:],
                    source[:start] + draw(st.sampled_from(TOKENS)) + source[end:],
                ]
            )
        )
    return source


@FUZZ
@given(mutated(), RECORDS, RELATED)
def test_what_compiles_evaluates_on_any_record(
    source: str, record: dict[str, Any], related: dict[str, Any]
) -> None:
    compiled = compiles_or_refuses(source)
    if compiled is not None:
        compiled.evaluate(record, today=TODAY, now=NOW, related=related)


@FUZZ
@given(st.sampled_from(VALID), RECORDS, RELATED)
def test_valid_formulas_evaluate_on_any_record(
    source: str, record: dict[str, Any], related: dict[str, Any]
) -> None:
    result = compile_expression(source, SCOPE).evaluate(
        record, today=TODAY, now=NOW, related=related
    )
    assert result is None or isinstance(result, bool | int | Decimal | str | date)
