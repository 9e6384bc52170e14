"""Form metadata: apps, forms and fields as frozen, strictly validated data.

A form definition is stored whole (as JSON) in ``meta_form.definition`` and versioned; the
physical table is derived from it by ``meridian.schema.compile``. Labels are for people and
never become SQL identifiers; keys do, after validation against ``KEY_PATTERN``.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Literal, TypeVar, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic import Field as PydanticField

from meridian.core.i18n import Text
from meridian.errors import FieldError, ValidationFailed
from meridian.schema.values.filetypes import normalise_accept

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
FORM_KEY_MAX = 40
"""Form keys are shorter than field keys so ``data_<form>`` and line tables stay under 63 bytes."""

SYSTEM_COLUMNS = (
    "id",
    "_version",
    "owner_id",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
    "deleted_at",
    "_search",
    "_name_key",
    "_name_rev",
)
DERIVED_COLUMNS = frozenset({"_search", "_name_key", "_name_rev"})
"""System columns the write path derives from a record's fields (search text, name keys): kept
for lookups, never shown as the record's values."""
RESERVED_KEYS = frozenset(SYSTEM_COLUMNS) | {"_parent_id", "_position"}

FieldTypeName = Literal[
    "text",
    "long_text",
    "integer",
    "decimal",
    "money",
    "percent",
    "boolean",
    "date",
    "datetime",
    "select",
    "multi_select",
    "user",
    "link",
    "child_table",
    "attachment",
    "email",
    "phone",
    "url",
    "auto_number",
    "region",
    "uscc",
    "ip",
    "formula",
    "rollup",
]


FIELD_TYPES: tuple[str, ...] = get_args(FieldTypeName)
"""The built-in field types; plugins add more (see :data:`FIELD_TYPES_CONTEXT`)."""

FIELD_TYPES_CONTEXT = "field_types"
"""Validation context key: the workspace's field types by name. A form parsed with it may use
a plugin's field type, and each field keeps the type object it was checked against; one parsed
without it knows only the built-in names."""


M = TypeVar("M", bound=BaseModel)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SelectOption(_Frozen):
    """One choice of a select field; ``value`` is stored, ``label`` is shown."""

    value: str = PydanticField(min_length=1, max_length=64)
    label: str = PydanticField(min_length=1, max_length=200)
    color: str = "#8c8c8c"


class Rollup(_Frozen):
    """Aggregate over a child table's lines or the records that link here."""

    source: str  # child_table field key on this form, or "<form>.<link field>" pointing here
    function: Literal["sum", "count", "min", "max", "avg"]
    field: str | None = None  # the aggregated field on the source; None for count


class Field(_Frozen):
    """One field of a form; type-specific settings are validated by the field type."""

    key: str
    label: str = PydanticField(min_length=1, max_length=200)
    type: str
    help: str = ""
    required: bool = False
    unique: bool = False
    indexed: bool = False
    sensitive: bool = False
    """Each read of a value (an ID number, a personal phone) goes to the audit trail."""
    default: str | int | float | bool | tuple[str, ...] | None = None
    # Validation rules
    min_value: Decimal | None = None
    max_value: Decimal | None = None
    min_length: int | None = PydanticField(default=None, ge=0)
    max_length: int | None = PydanticField(default=None, ge=1)
    pattern: str | None = None
    # select / multi_select
    options: tuple[SelectOption, ...] = ()
    # decimal / percent: digits in total and after the point; money: currency
    precision: int = PydanticField(default=18, ge=1, le=38)
    scale: int = PydanticField(default=2, ge=0, le=10)
    currency: str = "CNY"
    # link: target form and cardinality
    target: str | None = None
    many: bool = False
    # link: this form's fields shown in the related list on the linked record's page (none:
    # its first few listed fields)
    related_columns: tuple[str, ...] = ()
    # child_table: the line fields
    fields: tuple[Field, ...] = ()
    # auto_number, e.g. "HT-{YYYY}-{0000}"
    auto_pattern: str | None = None
    # ip: which values are allowed
    ip_kind: Literal["address", "network", "any"] = "any"
    # formula: the expression; result_type fixes the stored column type
    expression: str | None = None
    result_type: Literal["number", "text", "boolean", "date", "datetime"] | None = None
    # formula / rollup: a number result shown as money (in ``currency``) or a percentage
    shown_as: Literal["currency", "percent"] | None = None
    rollup: Rollup | None = None
    # attachment: the extensions it accepts (none: anything but programs and scripts) and
    # the largest file in bytes (none: the workspace's upload limit)
    accept: tuple[str, ...] = ()
    max_size: int | None = PydanticField(default=None, ge=1)
    archived: bool = False
    _kind: Any = PrivateAttr(default=None)
    """The field type object this field was validated against (None: a built-in by name)."""

    @field_validator("type")
    @classmethod
    def _type_is_known(cls, name: str, info: ValidationInfo) -> str:
        known = (info.context or {}).get(FIELD_TYPES_CONTEXT) or FIELD_TYPES
        if name not in known:
            raise ValueError(
                Text(
                    "unknown field type {name!r}; choose one of {value}",
                    name=name,
                    value=", ".join(known),
                )
            )
        return name

    @model_validator(mode="after")
    def _bind_type(self, info: ValidationInfo) -> Field:
        known = (info.context or {}).get(FIELD_TYPES_CONTEXT)
        if known is not None:
            self._kind = known[self.type]
        return self

    @field_validator("key")
    @classmethod
    def _key_is_identifier(cls, key: str) -> str:
        if not KEY_PATTERN.match(key):
            raise ValueError(
                Text(
                    "field key {key!r} must start with a-z and hold only a-z, 0-9 and _ (at most "
                    "63 characters)",
                    key=key,
                )
            )
        if key in RESERVED_KEYS:
            raise ValueError(Text("field key {key!r} is reserved for a system column", key=key))
        return key

    @field_validator("accept")
    @classmethod
    def _accept_is_extensions(cls, accept: tuple[str, ...]) -> tuple[str, ...]:
        cleaned, problems = normalise_accept(accept)
        if problems:
            raise ValueError(problems[0])
        return cleaned

    def option_values(self) -> tuple[str, ...]:
        return tuple(option.value for option in self.options)


class Section(_Frozen):
    """A titled group of fields laid out in one to three columns on record pages."""

    title: str = PydanticField(default="", max_length=200)
    columns: int = PydanticField(default=2, ge=1, le=3)
    fields: tuple[str, ...] = ()


class ValidationRule(_Frozen):
    """A form-level rule in the expression language, e.g. ``end_date >= start_date``."""

    expression: str
    message: str


class Form(_Frozen):
    """A form: its fields are the columns of ``data_<key>``."""

    key: str
    app_key: str
    label: str = PydanticField(min_length=1, max_length=200)
    description: str = ""
    fields: tuple[Field, ...] = ()
    title_field: str | None = None
    validations: tuple[ValidationRule, ...] = ()
    sections: tuple[Section, ...] = ()
    """The designer's layout; fields in no section follow in a last, untitled one."""
    version: int = 1

    @field_validator("key")
    @classmethod
    def _form_key_is_identifier(cls, key: str) -> str:
        if not KEY_PATTERN.match(key) or len(key) > FORM_KEY_MAX:
            raise ValueError(
                Text(
                    "form key {key!r} must start with a-z and hold only a-z, 0-9 and _ (at most "
                    "{limit} characters)",
                    key=key,
                    limit=FORM_KEY_MAX,
                )
            )
        return key

    @property
    def table_name(self) -> str:
        return f"data_{self.key}"

    @property
    def active_fields(self) -> tuple[Field, ...]:
        """Worked out on each call, never kept on the form: ``model_copy`` copies what an
        instance keeps, so a copy with other fields (a field archived, the fields a role may
        not see taken out) would answer with the original's."""
        return tuple(f for f in self.fields if not f.archived)

    def get_field(self, key: str) -> Field | None:
        for field in self.fields:
            if field.key == key:
                return field
        return None


class App(_Frozen):
    """A group of forms that make one business application, e.g. the IDC CRM."""

    key: str
    label: str = PydanticField(min_length=1, max_length=200)
    description: str = ""

    @field_validator("key")
    @classmethod
    def _app_key_is_identifier(cls, key: str) -> str:
        if not KEY_PATTERN.match(key):
            raise ValueError(
                Text("app key {key!r} must start with a-z and hold only a-z, 0-9 and _", key=key)
            )
        return key


def _message_of(error: Any) -> str:
    """A validator's own :class:`Text` (so it can be said in the reader's language), else
    pydantic's English sentence."""
    raised = error.get("ctx", {}).get("error")
    if isinstance(raised, ValueError) and raised.args and isinstance(raised.args[0], Text):
        return raised.args[0]
    return str(error["msg"])


def parse_model(model: type[M], data: Any, context: dict[str, Any] | None = None) -> M:
    """Validate ``data`` as ``model``, turning pydantic's errors into Meridian field errors."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise ValidationFailed(
            [
                FieldError(
                    ".".join(str(part) for part in error["loc"]) or "body",
                    error["type"],
                    _message_of(error),
                    error.get("input"),
                )
                for error in exc.errors()
            ]
        ) from None
