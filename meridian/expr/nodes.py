"""The checked tree: every node knows its type, its decimal scale and where it came from.

Both back ends (:mod:`meridian.expr.evaluate` and :mod:`meridian.expr.sql`) walk this tree, so
whatever the checker decided (types, scales, implicit date promotions) is decided once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meridian.expr.syntax import Span
from meridian.expr.types import ExprType, FieldInfo

if TYPE_CHECKING:
    from meridian.expr.functions import Aggregation, Function


@dataclass(frozen=True, eq=False, kw_only=True)
class Node:
    """A checked expression.

    :ivar type: the value type.
    :ivar scale: for numbers, the decimal places the value carries; SQL holds the number as an
        integer ``value * 10**scale``.
    :ivar span: where the node came from in the source.
    :ivar reads_record: the node reads a field, so SQL cannot compute it ahead of the rows.
    """

    type: ExprType
    scale: int = 0
    span: Span
    reads_record: bool = False


@dataclass(frozen=True, eq=False, kw_only=True)
class Literal(Node):
    value: Any


@dataclass(frozen=True, eq=False, kw_only=True)
class FieldValue(Node):
    """A field of the record itself."""

    info: FieldInfo


@dataclass(frozen=True, eq=False, kw_only=True)
class LinkValue(Node):
    """A field of the record a many-to-one link points at: ``customer.level``."""

    link: str
    info: FieldInfo


@dataclass(frozen=True, eq=False, kw_only=True)
class Aggregate(Node):
    """SUM/COUNT/AVG/MIN/MAX over the lines of a child table; ``info`` is None for COUNT(items)."""

    aggregation: Aggregation
    child: str
    info: FieldInfo | None


@dataclass(frozen=True, eq=False, kw_only=True)
class LineAggregate(Node):
    """SUM/AVG/MIN/MAX/COUNT of an expression over each line of a child table:
    ``SUM(items.quantity * items.unit_price)``; ``body`` reads the line's fields."""

    aggregation: Aggregation
    child: str
    body: Node


@dataclass(frozen=True, eq=False, kw_only=True)
class Negate(Node):
    operand: Node


@dataclass(frozen=True, eq=False, kw_only=True)
class Arithmetic(Node):
    op: str
    """``+ - * / %``."""
    left: Node
    right: Node


@dataclass(frozen=True, eq=False, kw_only=True)
class Comparison(Node):
    op: str
    """``== != < <= > >=``; both sides have one type (numbers may differ in scale)."""
    left: Node
    right: Node


@dataclass(frozen=True, eq=False, kw_only=True)
class Logic(Node):
    op: str
    """``and`` or ``or``, three-valued."""
    left: Node
    right: Node


@dataclass(frozen=True, eq=False, kw_only=True)
class Not(Node):
    operand: Node


@dataclass(frozen=True, eq=False, kw_only=True)
class InList(Node):
    """``needle in [a, b]``: SQL ``IN`` semantics, including NULLs among the items."""

    needle: Node
    items: tuple[Node, ...]
    negated: bool


@dataclass(frozen=True, eq=False, kw_only=True)
class InOptions(Node):
    """``"华东" in regions`` where ``regions`` is a multi-select (empty means no options)."""

    needle: Node
    options: FieldValue | LinkValue
    negated: bool


@dataclass(frozen=True, eq=False, kw_only=True)
class Call(Node):
    function: Function
    args: tuple[Node, ...]
    options: Mapping[str, Any] = field(default_factory=dict)
    """Constant settings read from literal arguments at check time (a unit, ROUND's digits)."""


@dataclass(frozen=True, eq=False, kw_only=True)
class ToInstant(Node):
    """A DATE used where a DATETIME is expected: midnight of that day in the workspace zone."""

    operand: Node
