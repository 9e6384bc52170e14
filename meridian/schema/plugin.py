"""The form engine as a plugin: Meridian's built-in field types."""

from __future__ import annotations

from collections.abc import Sequence

from meridian.plugins.hookspecs import hookimpl
from meridian.schema.fieldtypes import BUILTIN_FIELD_TYPES, FieldType


@hookimpl
def register_field_types() -> Sequence[FieldType]:
    return list(BUILTIN_FIELD_TYPES.values())
