"""The Python back end: a checked tree becomes nested closures, built once, run per record.

Semantics are SQL's, on purpose, so this agrees with :mod:`meridian.expr.sql` on every row:
three-valued ``and``/``or``/``not``, NULL from any comparison or arithmetic with NULL, SQL ``IN``
with NULL items, division by zero giving NULL.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import UTC
from decimal import Decimal
from typing import Any

from meridian.expr import dates, decimals
from meridian.expr.nodes import (
    Aggregate,
    Arithmetic,
    Call,
    Comparison,
    FieldValue,
    InList,
    InOptions,
    LineAggregate,
    LinkValue,
    Literal,
    Logic,
    Negate,
    Node,
    Not,
    ToInstant,
)
from meridian.expr.runtime import Env
from meridian.expr.types import ExprType

Closure = Callable[[Env], Any]

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def compile_python(node: Node) -> Closure:
    """The closure computing ``node``'s value, normalised as the result of a whole expression.

    Numbers come out as ``int`` when they have no decimals and ``Decimal`` otherwise; date-times
    as aware UTC datetimes.
    """
    closure = _compile(node)
    if node.type is ExprType.NUMBER:
        if node.scale == 0:
            return lambda env: _as_int(closure(env))
        return lambda env: _as_decimal(closure(env))
    if node.type is ExprType.DATETIME:
        return lambda env: _as_utc(closure(env))
    return closure


def _as_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _as_decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def _as_utc(value: Any) -> Any:
    return None if value is None else value.astimezone(UTC)


def _compile(node: Node) -> Closure:
    return _COMPILERS[type(node)](node)


def _literal(node: Literal) -> Closure:
    value = node.value
    return lambda env: value


def _field(node: FieldValue) -> Closure:
    key = node.info.key
    return lambda env: env.record.get(key)


def _link(node: LinkValue) -> Closure:
    link, key = node.link, node.info.key

    def read(env: Env) -> Any:
        target = env.related.get(link)
        return None if target is None else target.get(key)

    return read


def _aggregate(node: Aggregate) -> Closure:
    child = node.child
    aggregation = node.aggregation
    if node.info is None:
        return lambda env: len(env.related.get(child) or ())
    key, scale = node.info.key, node.info.scale

    def run(env: Env) -> Any:
        lines = env.related.get(child) or ()
        values = [value for line in lines if (value := line.get(key)) is not None]
        return aggregation.python(values, scale)

    return run


def _line_aggregate(node: LineAggregate) -> Closure:
    child, aggregation, scale = node.child, node.aggregation, node.body.scale
    body = _compile(node.body)

    def run(env: Env) -> Any:
        lines = env.related.get(child) or ()
        values = [
            value
            for line in lines
            if (value := body(Env(line, {}, env.today, env.now, env.zone, env.user))) is not None
        ]
        return aggregation.python(values, scale)

    return run


def _negate(node: Negate) -> Closure:
    operand = _compile(node.operand)

    def run(env: Env) -> Any:
        value = operand(env)
        return None if value is None else decimals.negate(value)

    return run


def _arithmetic(node: Arithmetic) -> Closure:
    left, right, scale = _compile(node.left), _compile(node.right), node.scale
    body: Callable[[Any, Any], Any] = {
        "+": decimals.add,
        "-": decimals.subtract,
        "*": lambda a, b: decimals.multiply(a, b, scale),
        "/": lambda a, b: decimals.divide(a, b, scale),
        "%": decimals.remainder,
    }[node.op]

    def run(env: Env) -> Any:
        a = left(env)
        if a is None:
            return None
        b = right(env)
        return None if b is None else body(a, b)

    return run


def _comparison(node: Comparison) -> Closure:
    left, compare = _compile(node.left), _COMPARE[node.op]
    if isinstance(node.right, Literal):
        constant = node.right.value

        def against_constant(env: Env) -> bool | None:
            value = left(env)
            return None if value is None or constant is None else compare(value, constant)

        return against_constant
    right = _compile(node.right)

    def run(env: Env) -> bool | None:
        a = left(env)
        if a is None:
            return None
        b = right(env)
        return None if b is None else compare(a, b)

    return run


def _logic(node: Logic) -> Closure:
    left, right = _compile(node.left), _compile(node.right)
    decisive = node.op == "or"

    def run(env: Env) -> bool | None:
        a = left(env)
        if a is decisive:
            return bool(decisive)
        b = right(env)
        if b is decisive:
            return bool(decisive)
        return None if a is None or b is None else not decisive

    return run


def _not(node: Not) -> Closure:
    operand = _compile(node.operand)

    def run(env: Env) -> bool | None:
        value = operand(env)
        return None if value is None else not value

    return run


def _kleene_not(result: bool | None, negated: bool) -> bool | None:
    return result if result is None or not negated else not result


def _in_list(node: InList) -> Closure:
    needle, negated = _compile(node.needle), node.negated
    if all(isinstance(item, Literal) for item in node.items):
        values = {item.value for item in node.items if isinstance(item, Literal)}
        has_null = None in values

        def against_constants(env: Env) -> bool | None:
            value = needle(env)
            if value is None:
                return None
            found: bool | None = True if value in values else (None if has_null else False)
            return _kleene_not(found, negated)

        return against_constants
    items = [_compile(item) for item in node.items]

    def run(env: Env) -> bool | None:
        value = needle(env)
        if value is None:
            return None
        found: bool | None = False
        for item in items:
            candidate = item(env)
            if candidate is None:
                found = None
            elif candidate == value:
                return _kleene_not(True, negated)
        return _kleene_not(found, negated)

    return run


def _in_options(node: InOptions) -> Closure:
    needle, options, negated = _compile(node.needle), _compile(node.options), node.negated

    def run(env: Env) -> bool | None:
        chosen = options(env)
        if not chosen:
            return negated
        value = needle(env)
        if value is None:
            return None
        return bool(value in chosen) != negated

    return run


def _call(node: Call) -> Closure:
    body = node.function.python(node)
    args = [_compile(arg) for arg in node.args]
    if not args:
        return lambda env: body(env)
    if len(args) == 1:
        (only,) = args
        return lambda env: body(env, only(env))
    if len(args) == 2:
        first, second = args
        return lambda env: body(env, first(env), second(env))
    return lambda env: body(env, *[arg(env) for arg in args])


def _to_instant(node: ToInstant) -> Closure:
    operand = _compile(node.operand)

    def run(env: Env) -> Any:
        day = operand(env)
        return None if day is None else dates.local_midnight(day, env.zone)

    return run


_COMPILERS: dict[type[Node], Callable[[Any], Closure]] = {
    Literal: _literal,
    FieldValue: _field,
    LinkValue: _link,
    Aggregate: _aggregate,
    LineAggregate: _line_aggregate,
    Negate: _negate,
    Arithmetic: _arithmetic,
    Comparison: _comparison,
    Logic: _logic,
    Not: _not,
    InList: _in_list,
    InOptions: _in_options,
    Call: _call,
    ToInstant: _to_instant,
}
