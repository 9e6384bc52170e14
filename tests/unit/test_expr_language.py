"""The expression language as a builder meets it: what a formula gives, and what a mistake says.

Each case goes through the public API (compile, type-check, evaluate). That SQL agrees with
Python is the differential test's job (tests/integration/test_expr_differential.py).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from meridian.expr import (
    ChildScope,
    ExpressionError,
    ExprType,
    FieldInfo,
    LinkScope,
    Scope,
    compile_expression,
)

N, T, B, D, DT = ExprType.NUMBER, ExprType.TEXT, ExprType.BOOLEAN, ExprType.DATE, ExprType.DATETIME
SHANGHAI = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=SHANGHAI)

SCOPE = Scope(
    fields={
        "expected_amount": FieldInfo("expected_amount", "预计金额", N, scale=2),
        "discount": FieldInfo("discount", "折扣", N, scale=4),
        "cabinets": FieldInfo("cabinets", "机柜数", N),
        "name": FieldInfo("name", "名称", T),
        "region": FieldInfo("region", "区域", T),
        "start_date": FieldInfo("start_date", "开始日期", D),
        "end_date": FieldInfo("end_date", "结束日期", D),
        "signed_at": FieldInfo("signed_at", "签约时间", DT),
        "is_key": FieldInfo("is_key", "重点客户", B),
        "carriers": FieldInfo("carriers", "运营商", T, is_list=True),
    },
    links={
        "customer": LinkScope(
            "客户",
            Scope(
                fields={
                    "level": FieldInfo("level", "级别", T),
                    "since": FieldInfo("since", "合作日期", D),
                }
            ),
        )
    },
    children={
        "items": ChildScope(
            "明细",
            Scope(
                fields={
                    "amount": FieldInfo("amount", "金额", N, scale=2),
                    "quantity": FieldInfo("quantity", "数量", N),
                }
            ),
        )
    },
)

RECORD: dict[str, Any] = {
    "expected_amount": Decimal("1200000.00"),
    "discount": Decimal("0.1500"),
    "cabinets": 12,
    "name": "华为云 IDC 扩容",
    "region": "华东",
    "start_date": date(2026, 1, 31),
    "end_date": date(2027, 1, 30),
    "signed_at": datetime(2026, 11, 23, 17, 0, tzinfo=UTC),  # 2026-11-24 01:00 in Shanghai
    "is_key": True,
    "carriers": ["ct", "bgp"],
}
RELATED: dict[str, Any] = {
    "customer": {"level": "A", "since": date(2020, 5, 1)},
    "items": [
        {"amount": Decimal("100.10"), "quantity": 2},
        {"amount": Decimal("0.20"), "quantity": None},
        {"amount": None, "quantity": 3},
    ],
}


def value(source: str, record: dict[str, Any] | None = None, **related: Any) -> Any:
    compiled = compile_expression(source, SCOPE)
    return compiled.evaluate(
        RECORD if record is None else record,
        today=TODAY,
        now=NOW,
        related={**RELATED, **related},
    )


def refusal(source: str) -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source, SCOPE)
    error = caught.value
    assert error.message and error.message_zh and error.message != error.message_zh
    return error


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # arithmetic, with money exact and division real
        ("expected_amount * (1 - discount)", Decimal("1020000")),
        ("0.1 + 0.2 = 0.3", True),
        ("7 / 2", Decimal("3.5")),
        ("7 % 3", 1),
        ("-7 % 3", -1),
        ("1 / 0", None),
        ("cabinets / (cabinets - 12)", None),
        ("-cabinets + +2", -10),
        # references by key, by label in braces, across one link
        ("{预计金额} > 1000000", True),
        ("｛机柜数｝ * 2", 24),
        ('customer.level = "A"', True),
        ("{客户}.{级别}", "A"),
        # full-width operators and punctuation from a Chinese input method
        ("（{机柜数} ＋ 1）× 2", 26),
        ("cabinets ＞＝ 12 ＆＆ cabinets ≤ 12", True),
        ("region in 【“华东”、“华南”】", True),
        ("cabinets ≠ 12", False),
        ("10 ÷ 4", Decimal("2.5")),
        # keywords in any case
        ("NOT is_key OR TRUE", True),
        ("is_key And Not False", True),
        # in, with lists and a multi-select
        ('region in ["华东", "华南"]', True),
        ('region not in ["华东", "华南"]', False),
        ('"bgp" in carriers', True),
        ('"cmcc" not in carriers', True),
        # IF and the text functions
        ('IF(expected_amount > 1000000, "大单", "普通")', "大单"),
        ('IF(null, "yes", "no")', "no"),
        ('CONCAT(region, "-", cabinets, "柜")', "华东-12柜"),
        ("LEN(name)", 10),
        ("LEFT(name, 3)", "华为云"),
        ("RIGHT(name, 2)", "扩容"),
        ('CONTAINS(name, "IDC")', True),
        ('STARTS_WITH(name, "华为")', True),
        ('UPPER("idc")', "IDC"),
        ('LOWER("IDC")', "idc"),
        # numbers
        ("ROUND(2.345, 2)", Decimal("2.35")),
        ("ROUND(-2.5, 0)", Decimal("-3")),
        ("ABS(-3)", 3),
        ("MIN(3, cabinets, 5)", 3),
        ("MAX(3, cabinets, 5)", 12),
        ("COALESCE(null, cabinets, 1)", 12),
        # dates, in the workspace time zone
        ("TODAY()", TODAY),
        ('DATEADD(start_date, 1, "m")', date(2026, 2, 28)),
        ('DATEADD(start_date, -1, "y")', date(2025, 1, 31)),
        ('DATEADD(start_date, 30, "d")', date(2026, 3, 2)),
        ('DATEDIF(start_date, end_date, "d")', 364),
        ('DATEDIF(start_date, end_date, "m")', 11),
        ('DATEDIF(start_date, end_date, "y")', 0),
        ('DATEDIF(signed_at, TODAY(), "d")', 0),
        ("YEAR(end_date)", 2027),
        ("MONTH(start_date)", 1),
        ("DAY(start_date)", 31),
        ('WEEKDAY(DATE("2026-11-23"))', 1),
        ('WEEKDAY(DATE("2026-11-29"))', 7),
        ('end_date > DATE("2026-12-31")', True),
        ("end_date >= start_date", True),
        # SUM, COUNT and AVG over child lines skip blanks, as SQL does
        ("SUM(items.amount)", Decimal("100.30")),
        ("COUNT(items)", 3),
        ("COUNT(items.quantity)", 2),
        ("AVG(items.quantity)", Decimal("2.5")),
        ("MAX(items.amount)", Decimal("100.10")),
        # … and over an expression of each line's fields (a quote's lines: qty × price)
        ("SUM(items.amount * items.quantity)", Decimal("200.20")),
        ("MAX(items.quantity * 2 + 1)", 7),
        ("ROUND(SUM(items.amount * items.quantity) * (1 - discount), 2)", Decimal("170.17")),
    ],
)
def test_a_formula_gives_what_a_builder_expects(source: str, expected: Any) -> None:
    assert value(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # SQL's three-valued logic: unknown stays unknown unless the other side decides
        ("is_key and null", None),
        ("not (cabinets > 100)", None),
        ("false and null", False),
        ("true or null", True),
        ("null or false", None),
        ("cabinets + 1 = 2", None),
        ("ISBLANK(region)", True),
        ('region in ["华东"]', None),
        ('CONCAT(region, "x")', "x"),
        ("expected_amount + 1", None),
        ("COALESCE(expected_amount, 0)", 0),
        ("LEN(region)", None),
        ('DATEADD(start_date, 1, "d")', None),
        ("SUM(items.amount)", 0),
        ("AVG(items.amount)", None),
        ("COUNT(items)", 0),
        ("SUM(items.amount * items.quantity)", 0),
    ],
)
def test_blanks_follow_sql(source: str, expected: Any) -> None:
    blank = dict.fromkeys(RECORD)
    assert value(source, blank, items=[], customer=None) == expected


def test_a_condition_passes_only_when_true() -> None:
    condition = compile_expression("cabinets > 10", SCOPE)
    assert condition.result_type is B
    assert condition.fields_used == frozenset({"cabinets"})
    assert condition.evaluate({"cabinets": None}, today=TODAY, now=NOW) is None


@pytest.mark.parametrize(
    ("source", "reason", "position", "suggestion"),
    [
        ("expected_amout * 2", "unknown_field", 0, "expected_amount"),
        ("cabinets + {机柜}", "unknown_field", 11, "{机柜数}"),
        ("customer.levle", "unknown_link_field", 9, "level"),
        ('end_date > "2026-01-01"', "compare_date_text", 0, None),
        ("cabinets * name", "arithmetic_type", 11, None),
        ('region + "x"', "text_plus", 0, None),
        ("ROUND(name, 2)", "wrong_argument", 6, None),
        ("ABS(1, 2)", "wrong_arity", 0, None),
        ("ROUNDUP(1, 2)", "unknown_function", 0, None),
        ("cabinets > ", "unexpected_end", 10, None),
        ("cabinets >> 2", "unexpected_token", 10, None),
        ('"open', "unterminated_string", 0, None),
        ("cabinets $ 2", "unexpected_character", 9, None),
        ("IF(cabinets, 1, 2)", "wrong_argument", 3, None),
        ("cabinets and is_key", "not_boolean", 0, None),
        ("items.amount > 1", "child_outside_aggregate", 0, None),
        ("SUM(items.amount * cabinets)", "link_in_aggregate", 4, None),
        ("SUM(items.amount * items.amout)", "unknown_field", 25, "amount"),
        ("SUM(items.amount * SUM(items.quantity))", "link_in_aggregate", 19, None),
        ("cabinets = null", "compare_null", 11, None),
        ('DATEADD(start_date, 1, "weeks")', "bad_unit", 23, None),
        ('DATE("2026-02-30")', "bad_date", 5, None),
        ("region in []", "empty_list", 10, None),
    ],
)
def test_a_mistake_is_named_where_it_is(
    source: str, reason: str, position: int, suggestion: str | None
) -> None:
    error = refusal(source)
    assert (error.reason, error.position) == (reason, position), error.message
    if suggestion is not None:
        assert error.suggestion == suggestion
        assert suggestion in error.message and suggestion in error.message_zh


def test_an_error_carries_what_the_api_shows() -> None:
    error = refusal("cabinets +\n  expected_amout")
    assert error.as_dict() == {
        "reason": "unknown_field",
        "position": 13,
        "end": 27,
        "line": 2,
        "column": 3,
        "message": "Unknown field expected_amout. Did you mean expected_amount?",
        "message_zh": "未知字段 expected_amout。您是不是要写 expected_amount？",
        "suggestion": "expected_amount",
    }


@pytest.mark.parametrize(
    "source",
    [
        '__import__("os")',
        "name.__class__",
        "().__class__",
        'eval("1")',
        'open("/etc/passwd")',
        "lambda: 1",
        "customer.level.upper",
        "name[0]",
        "cabinets; 1",
        "cabinets if is_key else 0",
        "{预计金额}()",
        "exec",
    ],
)
def test_nothing_but_fields_and_functions_can_be_reached(source: str) -> None:
    refusal(source)


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("1 + " * 1000 + "1", "too_long"),
        ("(" * 10_000 + "1" + ")" * 10_000, "too_long"),
        ("ABS(" * 100 + "1" + ")" * 100, "too_deep"),
        ("-" * 3000 + "1", "too_deep"),
        ("not " * 900 + "true", "too_deep"),
        ("9" * 40, "bad_number"),
        ("", "empty"),
        ("   ", "empty"),
    ],
)
def test_hostile_input_is_stopped_with_a_clear_error(source: str, reason: str) -> None:
    assert refusal(source).reason == reason


def test_deep_parentheses_within_the_length_limit_still_compile() -> None:
    assert value("(" * 1900 + "cabinets" + ")" * 1900) == 12
