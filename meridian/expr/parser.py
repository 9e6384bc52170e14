"""Source text → parse tree, with bounded length and depth and every failure as ExpressionError.

The LALR parser runs the tree-building callbacks inline while it reduces, bottom-up and without
recursion, so a hostile input (thousands of parentheses or minus signs) is stopped by the depth
check before anything recursive ever walks the tree.
"""

from __future__ import annotations

import dataclasses
import functools
from decimal import Decimal
from importlib import resources
from typing import Any, cast

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from meridian.expr.errors import ExpressionError
from meridian.expr.syntax import (
    BinaryOperation,
    BooleanLiteral,
    FunctionCall,
    ListLiteral,
    NamePart,
    NullLiteral,
    NumberLiteral,
    Reference,
    Span,
    StringLiteral,
    Syntax,
    UnaryOperation,
)
from meridian.expr.types import MAX_SCALE

MAX_LENGTH = 4000
MAX_DEPTH = 64
MAX_DIGITS = 30

_FULL_WIDTH = str.maketrans("０１２３４５６７８９．＋－＊／％＝＜＞！", "0123456789.+-*/%=<>!")
_OPERATORS = {
    "=": "==",
    "==": "==",
    "!=": "!=",
    "<>": "!=",
    "≠": "!=",
    "<": "<",
    "<=": "<=",
    "≤": "<=",
    ">": ">",
    ">=": ">=",
    "≥": ">=",
    "×": "*",
    "÷": "/",
}
_QUOTES = frozenset("\"'“”‘’＂")
_ESCAPES = {"n": "\n", "t": "\t"}
_VALUE_TERMINALS = frozenset(
    {"NUMBER", "STRING", "IDENT", "LABEL", "TRUE", "FALSE", "NULL", "LPAR", "LSQB"}
)
_OPERATOR_TERMINALS = frozenset({"COMPARE", "IN", "AND", "OR", "MUL", "DOT"})
_PUNCTUATION = {"RPAR": ")", "RSQB": "]", "COMMA": ","}


@functools.cache
def _lark() -> Lark:
    grammar = resources.files("meridian.expr").joinpath("grammar.lark").read_text("utf-8")
    return Lark(grammar, parser="lalr", lexer="contextual", transformer=_Builder(), cache=False)


@functools.lru_cache(maxsize=2048)
def parse(source: str) -> Syntax:
    """Parse ``source``; raise :class:`ExpressionError` on any problem.

    Trees are immutable, so a source parsed once (a rule's condition, a saved filter) is not
    parsed again."""
    if len(source) > MAX_LENGTH:
        raise ExpressionError(
            "too_long", source=source, position=MAX_LENGTH, length=len(source), limit=MAX_LENGTH
        )
    if not source.strip():
        raise ExpressionError("empty", source=source, position=0)
    try:
        tree = cast(Syntax, _lark().parse(source))
    except _DepthExceeded as exc:
        raise ExpressionError(
            "too_deep", source=source, position=exc.span[0], end=exc.span[1], limit=MAX_DEPTH
        ) from None
    except _BadLiteral as exc:
        raise ExpressionError(
            exc.reason, source=source, position=exc.span[0], end=exc.span[1], **exc.params
        ) from None
    except UnexpectedInput as exc:
        raise _syntax_error(source, exc) from None
    return tree


class _DepthExceeded(Exception):
    def __init__(self, span: Span) -> None:
        self.span = span


class _BadLiteral(Exception):
    def __init__(self, reason: str, span: Span, **params: Any) -> None:
        self.reason = reason
        self.span = span
        self.params = params


def _span(token: Token) -> Span:
    return (token.start_pos or 0, token.end_pos or 0)


def _depth(span: Span, *children: Syntax) -> int:
    depth = 1 + max((child.depth for child in children), default=0)
    if depth > MAX_DEPTH:
        raise _DepthExceeded(span)
    return depth


def _unquote(token: Token) -> str:
    body = str(token)[1:-1]
    if str(token)[0] not in "\"'":
        return body
    out: list[str] = []
    chars = iter(body)
    for char in chars:
        if char == "\\":
            escaped = next(chars)
            out.append(_ESCAPES.get(escaped, escaped))
        else:
            out.append(char)
    return "".join(out)


class _Builder(Transformer[Token, Syntax]):
    """Builds :mod:`meridian.expr.syntax` nodes as the parser reduces each rule."""

    def number(self, children: list[Token]) -> Syntax:
        (token,) = children
        text = str(token).translate(_FULL_WIDTH)
        value = Decimal(text)
        span = _span(token)
        exponent = value.normalize().as_tuple().exponent
        scale = max(0, -exponent) if isinstance(exponent, int) else 0
        if scale > MAX_SCALE or len(text.replace(".", "").lstrip("0")) > MAX_DIGITS:
            raise _BadLiteral("bad_number", span, text=text, limit=MAX_SCALE, digits=MAX_DIGITS)
        return NumberLiteral(span=span, depth=1, value=value, text=text)

    def string(self, children: list[Token]) -> Syntax:
        (token,) = children
        value = _unquote(token)
        if "\x00" in value:
            raise _BadLiteral("bad_string", _span(token))
        return StringLiteral(span=_span(token), depth=1, value=value)

    def true(self, children: list[Token]) -> Syntax:
        return BooleanLiteral(span=_span(children[0]), depth=1, value=True)

    def false(self, children: list[Token]) -> Syntax:
        return BooleanLiteral(span=_span(children[0]), depth=1, value=False)

    def null(self, children: list[Token]) -> Syntax:
        return NullLiteral(span=_span(children[0]), depth=1)

    def list_literal(self, children: list[Any]) -> Syntax:
        items = tuple(child for child in children if isinstance(child, Syntax))
        span = (_span(children[0])[0], _span(children[-1])[1])
        return ListLiteral(span=span, depth=_depth(span, *items), items=items)

    def call(self, children: list[Any]) -> Syntax:
        name, args = children[0], tuple(c for c in children if isinstance(c, Syntax))
        span = (_span(name)[0], _span(children[-1])[1])
        return FunctionCall(
            span=span, depth=_depth(span, *args), name=str(name), name_span=_span(name), args=args
        )

    def name(self, children: list[Token]) -> NamePart:
        (token,) = children
        if token.type == "LABEL":
            return NamePart(str(token)[1:-1].strip(), True, _span(token))
        return NamePart(str(token), False, _span(token))

    def reference(self, children: list[Any]) -> Syntax:
        parts = tuple(child for child in children if isinstance(child, NamePart))
        span = (parts[0].span[0], parts[-1].span[1])
        return Reference(span=span, depth=1, parts=parts)

    def parens(self, children: list[Any]) -> Syntax:
        inner: Syntax = children[1]
        span = (_span(children[0])[0], _span(children[2])[1])
        return dataclasses.replace(inner, span=span)

    def unary(self, children: list[Any]) -> Syntax:
        token, operand = children
        op = "not" if token.type == "NOT" else str(token).translate(_FULL_WIDTH)
        span = (_span(token)[0], operand.span[1])
        return UnaryOperation(span=span, depth=_depth(span, operand), op=op, operand=operand)

    def binary(self, children: list[Any]) -> Syntax:
        left, token, right = children
        return _binary(_operator(token), _span(token), left, right)

    def not_in(self, children: list[Any]) -> Syntax:
        left, not_token, in_token, right = children
        return _binary("not in", (_span(not_token)[0], _span(in_token)[1]), left, right)


def _operator(token: Token) -> str:
    if token.type in ("AND", "OR", "IN"):
        return token.type.lower()
    text = str(token).translate(_FULL_WIDTH)
    return _OPERATORS.get(text, text)


def _binary(op: str, op_span: Span, left: Syntax, right: Syntax) -> Syntax:
    span = (left.span[0], right.span[1])
    return BinaryOperation(
        span=span, depth=_depth(span, left, right), op=op, op_span=op_span, left=left, right=right
    )


def _describe_expected(expected: set[str]) -> tuple[str, str]:
    english: list[str] = []
    chinese: list[str] = []
    if expected & _VALUE_TERMINALS:
        english.append("a value")
        chinese.append("值")
    if expected & _OPERATOR_TERMINALS:
        # After a complete operand LALR also lists every closer its state could reduce to;
        # "an operator" is the useful part of that.
        return "an operator", "运算符"
    for terminal, char in _PUNCTUATION.items():
        if terminal in expected:
            english.append(f"'{char}'")
            chinese.append(f"“{char}”")
    if "$END" in expected:
        english.append("the end of the expression")
        chinese.append("表达式结尾")
    return " or ".join(english) or "something else", "或".join(chinese) or "其他内容"


def _syntax_error(source: str, exc: UnexpectedInput) -> ExpressionError:
    if isinstance(exc, UnexpectedCharacters):
        position = exc.pos_in_stream or 0
        char = source[position]
        if char in _QUOTES:
            return ExpressionError("unterminated_string", source=source, position=position)
        return ExpressionError(
            "unexpected_character", source=source, position=position, found=repr(char)
        )
    if isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
        expected, expected_zh = _describe_expected(set(exc.expected))
        start, end = _span(exc.token)
        return ExpressionError(
            "unexpected_token",
            source=source,
            position=start,
            end=end,
            found=repr(str(exc.token)),
            expected=expected,
            expected_zh=expected_zh,
        )
    expected_set = set(exc.expected) if isinstance(exc, UnexpectedToken | UnexpectedEOF) else set()
    expected, expected_zh = _describe_expected(expected_set)
    return ExpressionError(
        "unexpected_end",
        source=source,
        position=len(source.rstrip()),
        expected=expected,
        expected_zh=expected_zh,
    )
