"""The built-in field types, by name."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

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
from meridian.schema.model import FIELD_TYPES, Field

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
    return BUILTIN_FIELD_TYPES[field.type]


__all__ = ["BUILTIN_FIELD_TYPES", "FieldType", "ValueContext", "field_type"]
