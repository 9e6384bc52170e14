"""Guards found in conditions, and their meaning kept."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from meridian.expr import ExprType, FieldInfo, Scope, compile_expression, environment, guard_of

SCOPE = Scope(
    fields={
        "stage": FieldInfo("stage", "阶段", ExprType.TEXT),
        "amount": FieldInfo("amount", "金额", ExprType.NUMBER, scale=2),
        "vip": FieldInfo("vip", "VIP", ExprType.BOOLEAN),
    }
)
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.mark.parametrize(
    ("source", "key"),
    [
        ('stage = "won" and amount > 100', ("stage", "won")),
        ('amount > 100 and "won" = stage', ("stage", "won")),
        ('amount > 1 and (vip and stage == "lost")', ("stage", "lost")),
        ("vip = true and amount > 1", ("vip", True)),
        ('stage = "won" or amount > 100', None),
        ('stage != "won" and amount > 100', None),
        ('not (stage = "won")', None),
        ("amount > 100", None),
    ],
)
def test_the_first_pinning_conjunct_is_the_guard(source: str, key: object) -> None:
    guard = guard_of(compile_expression(source, SCOPE))
    assert (guard.key if guard else None) == key


def test_a_condition_holds_only_where_its_guard_does() -> None:
    condition = compile_expression('amount > 100 and stage = "won"', SCOPE)
    guard = guard_of(condition)
    assert guard is not None
    for stage in ("won", "lost", None):
        for amount in (None, 50, 500):
            record = {"stage": stage, "amount": amount}
            env = environment(record, today=date(2026, 12, 1), now=NOW)
            if condition.evaluate(record, today=date(2026, 12, 1), now=NOW) is True:
                assert guard.check(env) is True
            assert (guard.check(env) is True) == (stage == "won")
