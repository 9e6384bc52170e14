"""Parse tree + scope → checked tree: names resolved, types inferred, mistakes reported.

Everything that can be wrong with an expression is found here, when the builder saves it: an
unknown field (with the nearest real name as a suggestion), a function given the wrong number or
types of arguments, a date compared with text, arithmetic on text. A tree that passes never
fails to evaluate later; at worst it yields NULL.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NoReturn

from meridian.expr import decimals
from meridian.expr.errors import ExpressionError
from meridian.expr.functions import AGGREGATIONS, FUNCTIONS, Function
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
from meridian.expr.types import ExprType, FieldInfo, Scope

NUMBER, TEXT, BOOLEAN = ExprType.NUMBER, ExprType.TEXT, ExprType.BOOLEAN
DATE, DATETIME, LIST, NULL = ExprType.DATE, ExprType.DATETIME, ExprType.LIST, ExprType.NULL

_ARITHMETIC = frozenset("+-*/%")
_COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})
_ORDERINGS = frozenset({"<", "<=", ">", ">="})


def check(tree: Syntax, scope: Scope, source: str) -> tuple[Node, frozenset[str]]:
    """Type-check ``tree``; return the checked tree and the field paths it reads."""
    checker = _Checker(scope, source)
    node = checker.visit(tree)
    if node.type is LIST:
        checker.fail("list_position", node.span)
    return node, frozenset(checker.used)


def _reads(*nodes: Node) -> bool:
    return any(node.reads_record for node in nodes)


def retype_null(node: Node, type_: ExprType, scale: int = 0) -> Node:
    """A NULL-typed node can only ever be NULL, so it becomes a NULL literal of ``type_``."""
    if node.type is not NULL:
        return node
    return Literal(type=type_, scale=scale, span=node.span, value=None)


def _names(type_: Iterable[ExprType]) -> tuple[str, str]:
    kinds = list(type_)
    return " or ".join(kind.value for kind in kinds), "或".join(kind.zh for kind in kinds)


def _find(candidates: Mapping[str, Any], part: NamePart) -> str | None:
    """The key ``part`` names: a key, or (in braces) a label."""
    if part.is_label:
        for key, value in candidates.items():
            if getattr(value, "label", None) == part.text:
                return key
    return part.text if part.text in candidates else None


def _suggest(part: NamePart, candidates: Mapping[str, Any]) -> str | None:
    if part.is_label:
        labels = {getattr(value, "label", key): key for key, value in candidates.items()}
        close = difflib.get_close_matches(part.text, list(labels), n=1, cutoff=0.5)
        return f"{{{close[0]}}}" if close else None
    by_case = {key.lower(): key for key in candidates}
    if part.text.lower() in by_case:
        return by_case[part.text.lower()]
    close = difflib.get_close_matches(part.text, list(candidates), n=1, cutoff=0.6)
    return close[0] if close else None


class _Checker:
    def __init__(self, scope: Scope, source: str) -> None:
        self.scope = scope
        self.source = source
        self.used: set[str] = set()
        self._visitors: dict[type[Syntax], Callable[[Any], Node]] = {
            NumberLiteral: self._number,
            StringLiteral: lambda n: Literal(type=TEXT, span=n.span, value=n.value),
            BooleanLiteral: lambda n: Literal(type=BOOLEAN, span=n.span, value=n.value),
            NullLiteral: lambda n: Literal(type=NULL, span=n.span, value=None),
            ListLiteral: lambda n: self.fail("list_position", n.span),
            Reference: self._reference,
            FunctionCall: self._call,
            UnaryOperation: self._unary,
            BinaryOperation: self._binary,
        }

    def fail(self, reason: str, span: Span, **params: Any) -> NoReturn:
        raise ExpressionError(reason, source=self.source, position=span[0], end=span[1], **params)

    def visit(self, syntax: Syntax) -> Node:
        return self._visitors[type(syntax)](syntax)

    # ---- leaves ----

    def _number(self, syntax: NumberLiteral) -> Node:
        exponent = syntax.value.normalize().as_tuple().exponent
        scale = max(0, -exponent) if isinstance(exponent, int) else 0
        value = int(syntax.value) if scale == 0 else syntax.value
        return Literal(type=NUMBER, scale=scale, span=syntax.span, value=value)

    def _field(self, scope: Scope, part: NamePart) -> FieldInfo | None:
        key = _find(scope.fields, part)
        return scope.fields[key] if key is not None else None

    def _unknown(self, part: NamePart, *candidates: Mapping[str, Any]) -> NoReturn:
        merged: dict[str, Any] = {}
        for mapping in candidates:
            merged.update(mapping)
        self.fail("unknown_field", part.span, name=str(part), suggestion=_suggest(part, merged))

    def _reference(self, syntax: Reference) -> Node:
        scope = self.scope
        first = syntax.parts[0]
        relations = {**scope.links, **scope.children}
        if len(syntax.parts) == 1:
            info = self._field(scope, first)
            if info is None:
                if _find(relations, first) is not None:
                    self.fail("relation_as_value", syntax.span, name=str(first))
                self._unknown(first, scope.fields)
            self.used.add(info.key)
            return FieldValue(
                type=info.value_type,
                scale=info.scale,
                span=syntax.span,
                reads_record=True,
                info=info,
            )
        second = syntax.parts[1]
        link_key = _find(scope.links, first)
        if link_key is None:
            if _find(scope.children, first) is not None:
                self.fail("child_outside_aggregate", syntax.span, name=str(syntax))
            if self._field(scope, first) is not None:
                self.fail("not_a_link", syntax.span, name=str(first), field=str(second))
            self._unknown(first, relations, scope.fields)
        target = scope.links[link_key].target
        info = self._field(target, second)
        if info is None:
            self.fail(
                "unknown_link_field",
                second.span,
                link=str(first),
                name=str(second),
                suggestion=_suggest(second, target.fields),
            )
        self.used.add(f"{link_key}.{info.key}")
        return LinkValue(
            type=info.value_type,
            scale=info.scale,
            span=syntax.span,
            reads_record=True,
            link=link_key,
            info=info,
        )

    # ---- calls ----

    def _call(self, syntax: FunctionCall) -> Node:
        name = syntax.name.upper()
        if name in AGGREGATIONS and self._over_lines(syntax):
            return self._aggregate(name, syntax)
        if name in AGGREGATIONS and len(syntax.args) == 1:
            child_key = self._line_expression(syntax.args[0])
            if child_key is not None:
                return self._aggregate_expression(name, syntax, child_key)
        function = FUNCTIONS.get(name)
        if function is None:
            if name in AGGREGATIONS:
                span = syntax.args[0].span if syntax.args else syntax.span
                self.fail("link_in_aggregate", span, name=self.source[span[0] : span[1]])
            close = difflib.get_close_matches(name, [*FUNCTIONS, *AGGREGATIONS], n=1, cutoff=0.6)
            self.fail(
                "unknown_function",
                syntax.name_span,
                name=syntax.name,
                suggestion=close[0] if close else None,
            )
        arguments = _Arguments(self, syntax, function, [self.visit(arg) for arg in syntax.args])
        return function.bind(arguments)

    def _over_lines(self, syntax: FunctionCall) -> bool:
        if len(syntax.args) != 1 or not isinstance(syntax.args[0], Reference):
            return False
        return _find(self.scope.children, syntax.args[0].parts[0]) is not None

    def _line_expression(self, syntax: Syntax) -> str | None:
        """The child table an expression (not a bare reference) reads its lines from: every
        reference in it is ``<child>.<field>`` of one child table. None otherwise."""
        if isinstance(syntax, Reference):
            return None
        found: set[str | None] = set()
        for reference in _references(syntax):
            child = (
                _find(self.scope.children, reference.parts[0])
                if len(reference.parts) == 2
                else None
            )
            found.add(child)
        if len(found) != 1:
            return None
        return found.pop()

    def _aggregate_expression(self, name: str, syntax: FunctionCall, child_key: str) -> Node:
        aggregation = AGGREGATIONS[name]
        lines = self.scope.children[child_key].lines
        inner = _LineChecker(lines, self.source, child_key)
        body = inner.visit(syntax.args[0])
        self.used.update(f"{child_key}.{key}" for key in inner.used)
        if body.type not in aggregation.accepts:
            expected, expected_zh = _names(aggregation.accepts)
            self.fail(
                "wrong_argument",
                syntax.args[0].span,
                index=1,
                name=name,
                expected=expected,
                expected_zh=expected_zh,
                got=body.type,
            )
        result_type = body.type if name in ("MIN", "MAX") else NUMBER
        return LineAggregate(
            type=result_type,
            scale=aggregation.result_scale(body.scale),
            span=syntax.span,
            reads_record=True,
            aggregation=aggregation,
            child=child_key,
            body=body,
        )

    def _aggregate(self, name: str, syntax: FunctionCall) -> Node:
        aggregation = AGGREGATIONS[name]
        reference = syntax.args[0]
        assert isinstance(reference, Reference)
        child_key = _find(self.scope.children, reference.parts[0])
        assert child_key is not None
        lines = self.scope.children[child_key].lines
        if len(reference.parts) == 1:
            if name != "COUNT":
                self.fail("aggregate_needs_field", reference.span, name=name, child=child_key)
            self.used.add(child_key)
            return Aggregate(
                type=NUMBER,
                span=syntax.span,
                reads_record=True,
                aggregation=aggregation,
                child=child_key,
                info=None,
            )
        part = reference.parts[1]
        info = self._field(lines, part)
        if info is None:
            self.fail(
                "unknown_link_field",
                part.span,
                link=str(reference.parts[0]),
                name=str(part),
                suggestion=_suggest(part, lines.fields),
            )
        if info.value_type not in aggregation.accepts:
            expected, expected_zh = _names(aggregation.accepts)
            self.fail(
                "wrong_argument",
                reference.span,
                index=1,
                name=name,
                expected=expected,
                expected_zh=expected_zh,
                got=info.value_type,
            )
        self.used.add(f"{child_key}.{info.key}")
        result_type = info.type if name in ("MIN", "MAX") else NUMBER
        return Aggregate(
            type=result_type,
            scale=aggregation.result_scale(info.scale) if result_type is NUMBER else 0,
            span=syntax.span,
            reads_record=True,
            aggregation=aggregation,
            child=child_key,
            info=info,
        )

    # ---- operators ----

    def _unary(self, syntax: UnaryOperation) -> Node:
        operand = self.visit(syntax.operand)
        if syntax.op == "not":
            operand = self.boolean(operand, "not", "not 运算")
            return Not(
                type=BOOLEAN, span=syntax.span, reads_record=operand.reads_record, operand=operand
            )
        operand = self._number_operand(syntax.op, operand)
        if syntax.op == "+":
            return operand
        return Negate(
            type=NUMBER,
            scale=operand.scale,
            span=syntax.span,
            reads_record=operand.reads_record,
            operand=operand,
        )

    def boolean(self, node: Node, what: str, what_zh: str) -> Node:
        if node.type not in (BOOLEAN, NULL):
            self.fail("not_boolean", node.span, what=what, what_zh=what_zh, got=node.type)
        return retype_null(node, BOOLEAN)

    def _number_operand(self, op: str, node: Node) -> Node:
        if node.type is TEXT and op == "+":
            self.fail("text_plus", node.span)
        if node.type in (DATE, DATETIME):
            self.fail("date_arithmetic", node.span)
        if node.type not in (NUMBER, NULL):
            self.fail("arithmetic_type", node.span, op=op, got=node.type)
        return retype_null(node, NUMBER)

    def _binary(self, syntax: BinaryOperation) -> Node:
        op = syntax.op
        if op in ("in", "not in"):
            return self._membership(syntax)
        left = self.visit(syntax.left)
        right = self.visit(syntax.right)
        reads = _reads(left, right)
        if op in ("and", "or"):
            left = self.boolean(left, op, f"{op} 运算")
            right = self.boolean(right, op, f"{op} 运算")
            return Logic(
                type=BOOLEAN, span=syntax.span, reads_record=reads, op=op, left=left, right=right
            )
        if op in _ARITHMETIC:
            left = self._number_operand(op, left)
            right = self._number_operand(op, right)
            return Arithmetic(
                type=NUMBER,
                scale=_arithmetic_scale(op, left.scale, right.scale),
                span=syntax.span,
                reads_record=reads,
                op=op,
                left=left,
                right=right,
            )
        assert op in _COMPARISONS
        return self._comparison(syntax, left, right)

    def _comparison(self, syntax: BinaryOperation, left: Node, right: Node) -> Node:
        for node in (left, right):
            if isinstance(node, Literal) and node.type is NULL:
                self.fail("compare_null", node.span)
            if node.type is LIST:
                self.fail("list_position", node.span)
        kinds = {left.type, right.type} - {NULL}
        if TEXT in kinds and kinds & {DATE, DATETIME}:
            self.fail("compare_date_text", syntax.span, left=left.type, right=right.type)
        if len(kinds) > 1 and kinds != {DATE, DATETIME}:
            self.fail("compare_types", syntax.span, left=left.type, right=right.type)
        _, _, (left, right) = self.unify([left, right])
        if syntax.op in _ORDERINGS and left.type is BOOLEAN:
            self.fail("unordered_type", syntax.op_span, got=left.type)
        return Comparison(
            type=BOOLEAN,
            span=syntax.span,
            reads_record=_reads(left, right),
            op=syntax.op,
            left=left,
            right=right,
        )

    def _membership(self, syntax: BinaryOperation) -> Node:
        needle = self.visit(syntax.left)
        negated = syntax.op == "not in"
        if isinstance(syntax.right, ListLiteral):
            if not syntax.right.items:
                self.fail("empty_list", syntax.right.span)
            items = [self.visit(item) for item in syntax.right.items]
            for node in (needle, *items):
                if isinstance(node, Literal) and node.type is NULL:
                    self.fail("compare_null", node.span)
            _, _, (needle, *items) = self.unify([needle, *items])
            return InList(
                type=BOOLEAN,
                span=syntax.span,
                reads_record=_reads(needle, *items),
                needle=needle,
                items=tuple(items),
                negated=negated,
            )
        options = self.visit(syntax.right)
        if not isinstance(options, FieldValue | LinkValue) or options.type is not LIST:
            self.fail("in_needs_list", syntax.right.span)
        if needle.type not in (TEXT, NULL):
            self.fail("multi_select_needs_text", needle.span, got=needle.type)
        needle = retype_null(needle, TEXT)
        return InOptions(
            type=BOOLEAN,
            span=syntax.span,
            reads_record=True,
            needle=needle,
            options=options,
            negated=negated,
        )

    def unify(self, nodes: Sequence[Node]) -> tuple[ExprType, int, list[Node]]:
        """One type for ``nodes``: NULLs take it, dates become date-times beside date-times."""
        typed = [node for node in nodes if node.type is not NULL]
        for node in typed:
            if node.type is LIST:
                self.fail("list_position", node.span)
        if not typed:
            return NULL, 0, list(nodes)
        kinds = {node.type for node in typed}
        if kinds == {DATE, DATETIME}:
            target = DATETIME
        elif len(kinds) > 1:
            odd = next(node for node in typed if node.type is not typed[0].type)
            self.fail("mixed_types", odd.span, left=typed[0].type, right=odd.type)
        else:
            target = typed[0].type
        scale = max(node.scale for node in typed) if target is NUMBER else 0
        return target, scale, [self._coerce(node, target, scale) for node in nodes]

    def _coerce(self, node: Node, target: ExprType, scale: int) -> Node:
        if node.type is DATE and target is DATETIME:
            return ToInstant(
                type=DATETIME, span=node.span, reads_record=node.reads_record, operand=node
            )
        return retype_null(node, target, scale)


def _arithmetic_scale(op: str, left: int, right: int) -> int:
    if op == "*":
        return decimals.product_scale(left, right)
    if op == "/":
        return decimals.quotient_scale(left)
    return decimals.sum_scale(left, right)


class _Arguments:
    """The checked arguments of one call, with the checks a function's ``bind`` may ask for."""

    def __init__(
        self, checker: _Checker, syntax: FunctionCall, function: Function, nodes: list[Node]
    ) -> None:
        self._checker = checker
        self._syntax = syntax
        self._function = function
        self._nodes = nodes

    @property
    def nodes(self) -> Sequence[Node]:
        return self._nodes

    def fail(self, reason: str, span: Span | None = None, **params: Any) -> NoReturn:
        self._checker.fail(reason, span or self._syntax.span, name=self._function.name, **params)

    def arity(self, low: int, high: int | None) -> None:
        got = len(self._nodes)
        if low <= got and (high is None or got <= high):
            return
        if high is None:
            expected, expected_zh = f"at least {low}", f"至少 {low}"
        elif low == high:
            expected = expected_zh = str(low)
        else:
            expected, expected_zh = f"{low} to {high}", f"{low} 到 {high}"
        self._checker.fail(
            "wrong_arity",
            self._syntax.span,
            name=self._function.signature,
            expected=expected,
            expected_zh=expected_zh,
            got=got,
        )

    def expect(self, index: int, *types: ExprType) -> Node:
        node = self._nodes[index]
        if node.type is NULL:
            return retype_null(node, types[0])
        if node.type not in types:
            expected, expected_zh = _names(types)
            self.fail(
                "wrong_argument",
                node.span,
                index=index + 1,
                expected=expected,
                expected_zh=expected_zh,
                got=node.type,
            )
        return node

    def integer(self, index: int) -> Node:
        node = self.expect(index, NUMBER)
        if node.scale:
            self.fail("not_integer", node.span, index=index + 1, scale=node.scale)
        return node

    def literal_text(self, index: int, expected: str, expected_zh: str) -> tuple[str, Span]:
        syntax = self._syntax.args[index]
        if not isinstance(syntax, StringLiteral):
            self.fail(
                "literal_argument",
                syntax.span,
                index=index + 1,
                expected=expected,
                expected_zh=expected_zh,
            )
        return syntax.value, syntax.span

    def literal_integer(self, index: int) -> int:
        syntax = self._syntax.args[index]
        sign = 1
        if isinstance(syntax, UnaryOperation) and syntax.op in "+-":
            sign = -1 if syntax.op == "-" else 1
            syntax = syntax.operand
        if not isinstance(syntax, NumberLiteral) or syntax.value != syntax.value.to_integral():
            self.fail(
                "literal_argument",
                self._syntax.args[index].span,
                index=index + 1,
                expected="a whole number such as 2",
                expected_zh="整数，例如 2",
            )
        return sign * int(syntax.value)

    def unify(self, nodes: Sequence[Node]) -> tuple[ExprType, int, list[Node]]:
        return self._checker.unify(nodes)

    def result(
        self, type_: ExprType, scale: int = 0, args: Sequence[Node] | None = None, **options: Any
    ) -> Call:
        nodes = tuple(self._nodes if args is None else args)
        return Call(
            type=type_,
            scale=scale,
            span=self._syntax.span,
            reads_record=_reads(*nodes),
            function=self._function,
            args=nodes,
            options=options,
        )


def _references(syntax: Syntax) -> Iterable[Reference]:
    """Every field reference in ``syntax``, outside literals."""
    if isinstance(syntax, Reference):
        yield syntax
    elif isinstance(syntax, BinaryOperation):
        yield from _references(syntax.left)
        yield from _references(syntax.right)
    elif isinstance(syntax, UnaryOperation):
        yield from _references(syntax.operand)
    elif isinstance(syntax, FunctionCall):
        for argument in syntax.args:
            yield from _references(argument)


class _LineChecker(_Checker):
    """Checks the body of an aggregate over lines: ``items.qty`` reads the line's ``qty``."""

    def __init__(self, lines: Scope, source: str, child_key: str) -> None:
        super().__init__(Scope(fields=lines.fields), source)
        self.child_key = child_key

    def _reference(self, syntax: Reference) -> Node:
        return super()._reference(dataclasses.replace(syntax, parts=syntax.parts[1:]))

    def _call(self, syntax: FunctionCall) -> Node:
        if syntax.name.upper() in AGGREGATIONS:
            self.fail("link_in_aggregate", syntax.span, name=self.source[slice(*syntax.span)])
        return super()._call(syntax)
