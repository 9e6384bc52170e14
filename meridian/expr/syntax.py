"""The parse tree: what the builder wrote, with source spans, before any type is known."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

Span = tuple[int, int]
"""0-based start and end offsets into the source."""


@dataclass(frozen=True, kw_only=True)
class Syntax:
    span: Span
    depth: int
    """Nesting depth of this subtree (a leaf is 1), bounded while parsing."""


@dataclass(frozen=True, kw_only=True)
class NumberLiteral(Syntax):
    value: Decimal
    text: str


@dataclass(frozen=True, kw_only=True)
class StringLiteral(Syntax):
    value: str


@dataclass(frozen=True, kw_only=True)
class BooleanLiteral(Syntax):
    value: bool


@dataclass(frozen=True, kw_only=True)
class NullLiteral(Syntax):
    pass


@dataclass(frozen=True, kw_only=True)
class ListLiteral(Syntax):
    items: tuple[Syntax, ...]


@dataclass(frozen=True)
class NamePart:
    """One segment of a reference: ``customer`` or ``{客户}``."""

    text: str
    is_label: bool
    span: Span

    def __str__(self) -> str:
        return f"{{{self.text}}}" if self.is_label else self.text


@dataclass(frozen=True, kw_only=True)
class Reference(Syntax):
    """``amount``, ``{预计金额}``, ``customer.level`` or ``items.amount``."""

    parts: tuple[NamePart, ...]

    def __str__(self) -> str:
        return ".".join(str(part) for part in self.parts)


@dataclass(frozen=True, kw_only=True)
class FunctionCall(Syntax):
    name: str
    name_span: Span
    args: tuple[Syntax, ...]


@dataclass(frozen=True, kw_only=True)
class UnaryOperation(Syntax):
    op: str
    """``-``, ``+`` or ``not``."""
    operand: Syntax


@dataclass(frozen=True, kw_only=True)
class BinaryOperation(Syntax):
    op: str
    """Normalised: ``+ - * / % == != < <= > >= and or in not in``."""
    op_span: Span
    left: Syntax
    right: Syntax
