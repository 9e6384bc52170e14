"""The built-in field types, by name, and finding any field's type — built-in or a plugin's."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from sqlalchemy.engine import Connection

from meridian.plugins.manager import Plugins, plugins_of
from meridian.schema.fieldtypes.base import FieldType, ValueContext
from meridian.schema.fieldtypes.choices import MultiSelectType, SelectType
from meridian.schema.fieldtypes.computed import FormulaType, RollupType
from meridian.schema.fieldtypes.formatted import (
    AutoNumberType,
    EmailType,
    IpType,
    PhoneType,
    RegionType,
    UrlType,
    UsccType,
)
from meridian.schema.fieldtypes.references import (
    AttachmentType,
    ChildTableType,
    LinkType,
    UserType,
)
from meridian.schema.fieldtypes.scalars import (
    BooleanType,
    DateTimeType,
    DateType,
    IntegerType,
    LongTextType,
    MoneyType,
    PercentType,
    ScaledNumberType,
    TextType,
)
from meridian.schema.model import FIELD_TYPES, FIELD_TYPES_CONTEXT, Field

FIELD_TYPE_CLASSES: tuple[type[FieldType], ...] = (
    TextType,
    LongTextType,
    IntegerType,
    ScaledNumberType,
    MoneyType,
    PercentType,
    BooleanType,
    DateType,
    DateTimeType,
    SelectType,
    MultiSelectType,
    UserType,
    LinkType,
    ChildTableType,
    AttachmentType,
    EmailType,
    PhoneType,
    UrlType,
    AutoNumberType,
    RegionType,
    UsccType,
    IpType,
    FormulaType,
    RollupType,
)

BUILTIN_FIELD_TYPES: Mapping[str, FieldType] = MappingProxyType(
    {cls.name: cls() for cls in FIELD_TYPE_CLASSES}
)
assert set(BUILTIN_FIELD_TYPES) == set(FIELD_TYPES), "every declared field type is implemented"


def field_type(field: Field) -> FieldType:
    """The type object ``field`` was validated against (a plugin's, when the form was read
    within a workspace), else the built-in of that name.

    Read from the model's private dict: ``field._kind`` goes through pydantic's
    ``__getattr__``, 7 µs against 0.4 µs, and this is asked several times per value shown or
    written (a kanban of 300 cards: 1,700 times; 5,000 sample deals loaded: 370,000)."""
    private = field.__pydantic_private__
    kind: FieldType | None = private.get("_kind") if private else None
    return kind if kind is not None else BUILTIN_FIELD_TYPES[field.type]


def field_types_of(plugins: Plugins | None) -> Mapping[str, FieldType]:
    """Every field type a workspace offers (the built-ins alone outside a workspace)."""
    if plugins is None:
        return BUILTIN_FIELD_TYPES
    found: Mapping[str, FieldType] = plugins.named("register_field_types")
    return found


def types_context(conn: Connection) -> dict[str, Any]:
    """The validation context under which a form read or written through ``conn`` may use the
    workspace's field types (see ``FIELD_TYPES_CONTEXT``)."""
    return {FIELD_TYPES_CONTEXT: field_types_of(plugins_of(conn))}


__all__ = [
    "BUILTIN_FIELD_TYPES",
    "FieldType",
    "ValueContext",
    "field_type",
    "field_types_of",
    "types_context",
]
