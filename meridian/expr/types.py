"""The value types of the expression language and the scope an expression is checked against.

``meridian.expr`` sits below ``meridian.schema``, so it cannot read form metadata; the schema
package builds a :class:`Scope` from a form's fields and hands it in.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

MAX_SCALE = 12
"""The most decimal places a field or a number literal may carry.

Bounding scales keeps every power of ten the compilers multiply by inside a 64-bit integer.
"""


class ExprType(enum.Enum):
    """What an expression (or part of one) evaluates to."""

    NUMBER = "number"
    TEXT = "text"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    LIST = "list"
    """A list of text: a multi-select field or a list literal; only ``in`` and ISBLANK take one."""
    NULL = "null"
    """The type of the ``null`` literal, which fits wherever any other type is expected."""

    @property
    def zh(self) -> str:
        """The type's name in Chinese, for error messages."""
        return _ZH_NAMES[self]


_ZH_NAMES = {
    ExprType.NUMBER: "数字",
    ExprType.TEXT: "文本",
    ExprType.BOOLEAN: "布尔值",
    ExprType.DATE: "日期",
    ExprType.DATETIME: "日期时间",
    ExprType.LIST: "列表",
    ExprType.NULL: "空值",
}


@dataclass(frozen=True)
class FieldInfo:
    """One field an expression may read.

    :ivar key: the identifier used in expressions and as the record key / column.
    :ivar label: the builder's label, usable in braces: ``{预计金额}``.
    :ivar type: the field's value type; a multi-select is ``TEXT`` with ``is_list``.
    :ivar scale: for numbers, the power of ten between the stored integer and the logical value
        (money in fen: 2). The SQL compiler works on the stored integers directly. A percent
        field whose formulas see the fraction (12.5 % is 0.125) uses its stored scale plus 2.
    :ivar is_list: a multi-select, stored as a JSON array of option values.
    """

    key: str
    label: str
    type: ExprType
    scale: int = 0
    is_list: bool = False

    def __post_init__(self) -> None:
        if self.type in (ExprType.LIST, ExprType.NULL):
            raise ValueError(f"field {self.key!r}: use is_list=True with TEXT for a multi-select")
        if not 0 <= self.scale <= MAX_SCALE:
            raise ValueError(f"field {self.key!r}: scale {self.scale} is outside 0..{MAX_SCALE}")
        if self.scale and self.type is not ExprType.NUMBER:
            raise ValueError(f"field {self.key!r}: only numbers have a scale")
        if self.is_list and self.type is not ExprType.TEXT:
            raise ValueError(f"field {self.key!r}: a multi-select holds text options")

    @property
    def value_type(self) -> ExprType:
        """The type an expression sees when it reads this field."""
        return ExprType.LIST if self.is_list else self.type


@dataclass(frozen=True)
class Scope:
    """Everything an expression may reach from one record.

    :ivar fields: field key → field.
    :ivar links: many-to-one link key → the linked form (``customer.level``), one level deep.
    :ivar children: child-table key → its lines (``SUM(items.amount)``, ``COUNT(items)``).
    """

    fields: Mapping[str, FieldInfo]
    links: Mapping[str, LinkScope] = field(default_factory=dict)
    children: Mapping[str, ChildScope] = field(default_factory=dict)


@dataclass(frozen=True)
class LinkScope:
    """A many-to-one link: its label (for ``{客户}.{级别}``) and the fields of the linked form."""

    label: str
    target: Scope


@dataclass(frozen=True)
class ChildScope:
    """A child table: its label (for ``SUM({明细}.{金额})``) and the fields of one line."""

    label: str
    lines: Scope
