"""The contract every field type keeps: its column, its checks, its JSON form."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from meridian.errors import InvalidValue
from meridian.schema.model import Field, Form

SchemaOf = Callable[[Field], dict[str, Any]]


@dataclass(frozen=True)
class ValueContext:
    """What a value check may need beyond the value: the workspace time zone."""

    tz: ZoneInfo


class FieldType:
    """Base of the built-in field types.

    ``parse`` turns an API value into the stored value (raising ``InvalidValue``); ``dump`` turns
    a stored value back into the API value. Storage is exact on both dialects: decimals and money
    are scaled integers, datetimes are UTC.
    """

    name: ClassVar[str]
    has_column: ClassVar[bool] = True
    """False for types stored in a table of their own (child tables, many-to-many links)."""
    searchable: ClassVar[bool] = False
    """True when the value goes into the record's search text."""
    computed: ClassVar[bool] = False
    """True when the server computes the value; input is refused."""
    supports_unique: ClassVar[bool] = True
    inline_editable: ClassVar[bool] = True
    """False when a grid cell cannot edit the value in place (lines, files): the record's own
    page does."""

    def sql_type(self, field: Field) -> sa.types.TypeEngine[Any]:
        raise NotImplementedError

    def check_definition(self, field: Field, form: Form) -> list[str]:
        """Problems with the field's settings, as sentences (empty when fine)."""
        return []

    def parse(self, field: Field, value: Any, ctx: ValueContext) -> Any:
        raise NotImplementedError

    def dump(self, field: Field, stored: Any) -> Any:
        return stored

    def converter(self, field: Field) -> Callable[[Any], Any] | None:
        """``dump`` for one field as a function of non-empty stored values, prepared once for
        reading many rows; None when the stored value is already the API value."""
        if type(self).dump is FieldType.dump:
            return None
        return functools.partial(self.dump, field)

    def text_reader(self, field: Field, dialect: str) -> Callable[[Any], Any] | None:
        """A shortcut from the driver's raw value, read without SQLAlchemy's result
        processing, straight to the API value, for list pages; None when there is none and the
        column is read as usual. It must agree with reading the column and then :meth:`dump`."""
        return None

    def json_schema(self, field: Field, schema_of: SchemaOf) -> dict[str, Any]:
        """JSON Schema of the field's API value, for the OpenAPI document (``schema_of`` gives a
        line field's); any JSON value unless the type says more."""
        return {}

    def display(self, field: Field, stored: Any) -> str | None:
        """The value as people read it on a page (plain text), or None for the page's usual
        rendering of the stored value."""
        return None

    def storage_scale(self, field: Field) -> int:
        """Power of ten between the stored integer and the logical value (0 when unscaled)."""
        return 0


def require_type(value: Any, expected: type | tuple[type, ...], code: str, what: str) -> None:
    if isinstance(value, bool) and bool not in (
        expected if isinstance(expected, tuple) else (expected,)
    ):
        raise InvalidValue(code, f"expected {what}, got {value!r}")
    if not isinstance(value, expected):
        raise InvalidValue(code, f"expected {what}, got {value!r}")


def require_text(value: Any, code: str) -> str:
    """``value`` as text a column can store: PostgreSQL refuses NUL, and UTF-8 cannot hold a
    lone surrogate; both came through as server errors (issue 13)."""
    require_type(value, str, code, "a string")
    text: str = value
    if "\x00" in text:
        raise InvalidValue("invalid_character", "text may not contain NUL (\\u0000)")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            message = "text may not contain a lone surrogate (\\ud800-\\udfff)"
            raise InvalidValue("invalid_character", message) from None
    return text
