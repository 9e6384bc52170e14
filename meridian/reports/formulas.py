"""Formulas over a group's measures (``won / total * 100``): + - * / and parentheses over
measure keys and numbers, computed in exact decimals.

They are applied to the few rows an aggregation returns, after the database computed the
measures; a division by zero, or any empty operand, makes the result empty (None), as a
spreadsheet shows a blank rather than failing the whole chart.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Collection, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from meridian.core.i18n import Text

Value = Decimal | None
Compiled = Callable[[Mapping[str, Value]], Value]

_OPERATORS: dict[type[ast.operator], Callable[[Decimal, Decimal], Value]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: None if b == 0 else a / b,
}


class FormulaError(ValueError):
    """The formula is not arithmetic over the names it may use."""


def compile_formula(text: str, names: Collection[str]) -> Compiled:
    """Check ``text`` against the measure keys it may read, and return its evaluator."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise FormulaError(
            Text("not a formula: use + - * / ( ) numbers and measure keys")
        ) from None
    return _compile(tree.body, frozenset(names))


def _compile(node: ast.AST, names: frozenset[str]) -> Compiled:
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _compile(node.left, names), _compile(node.right, names)
        operate = _OPERATORS[type(node.op)]

        def binary(values: Mapping[str, Value]) -> Value:
            a, b = left(values), right(values)
            return None if a is None or b is None else operate(a, b)

        return binary
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _compile(node.operand, names)
        sign = -1 if isinstance(node.op, ast.USub) else 1
        return lambda values: None if (v := inner(values)) is None else sign * v
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        number = Decimal(str(node.value))
        return lambda _values: number
    if isinstance(node, ast.Name):
        if node.id not in names:
            raise FormulaError(Text("{key!r} is no measure of this report", key=node.id))
        key = node.id
        return lambda values: values.get(key)
    raise FormulaError(Text("only + - * / ( ), numbers and measure keys may be used"))


def rounded(value: Any, places: int) -> Decimal | None:
    """``value`` to ``places`` decimals, half away from zero (as people round by hand)."""
    if value is None:
        return None
    try:
        return Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return None
