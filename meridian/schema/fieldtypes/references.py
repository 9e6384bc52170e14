"""Fields that point elsewhere: users, other forms' records, line items, files.

Existence checks (does user 7 exist, is customer 12 alive) are set-based and live in the
records service; these types check shape only.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from meridian.core.ids import is_id
from meridian.db.types import JSONType
from meridian.errors import InvalidValue
from meridian.schema.fieldtypes.base import FieldType, SchemaOf, ValueContext
from meridian.schema.model import Field, Form
from meridian.schema.values.filetypes import is_token, unknown_file


def parse_id(value: Any) -> int:
    """A record, user or file id: a positive 64-bit integer, or its digits as text."""
    if isinstance(value, str) and value.strip().isdecimal() and len(value.strip()) <= 19:
        value = int(value)
    if is_id(value):
        return int(value)
    raise InvalidValue("invalid_reference", f"expected a positive record id, got {value!r}")


def parse_ids(value: Any) -> list[int]:
    if not isinstance(value, list):
        raise InvalidValue("invalid_reference", f"expected a list of record ids, got {value!r}")
    return list(dict.fromkeys(parse_id(item) for item in value))


class UserType(FieldType):
    name = "user"

    def sql_type(self, field: Field) -> sa.types.TypeEngine[Any]:
        return sa.BigInteger()

    def parse(self, field: Field, value: Any, ctx: ValueContext) -> Any:
        return parse_id(value)

    def json_schema(self, field: Field, schema_of: SchemaOf) -> dict[str, Any]:
        return {"type": "integer", "description": "user id"}


class LinkType(FieldType):
    """Many-to-one as a column; many-to-many as a table ``data_<form>__<field>``."""

    name = "link"

    def sql_type(self, field: Field) -> sa.types.TypeEngine[Any]:
        return sa.BigInteger()

    def check_definition(self, field: Field, form: Form) -> list[str]:
        if not field.target:
            return ["a link field needs a target form"]
        if field.many and field.unique:
            return ["a many-to-many link cannot be unique"]
        return []

    def parse(self, field: Field, value: Any, ctx: ValueContext) -> Any:
        return parse_ids(value) if field.many else parse_id(value)

    def json_schema(self, field: Field, schema_of: SchemaOf) -> dict[str, Any]:
        return _link_schema(field)


class ChildTableType(FieldType):
    """Line items owned by the parent record, written in the parent's transaction."""

    name = "child_table"
    has_column = False
    supports_unique = False
    inline_editable = False

    def check_definition(self, field: Field, form: Form) -> list[str]:
        problems = []
        if not field.fields:
            problems.append("a child table needs at least one line field")
        if any(line.type in ("child_table", "rollup") for line in field.fields):
            problems.append("line fields cannot be child tables or rollups")
        if any(line.type == "link" and line.many for line in field.fields):
            problems.append("line fields cannot be many-to-many links")
        keys = [line.key for line in field.fields]
        if len(set(keys)) != len(keys):
            problems.append("line field keys must be unique")
        return problems

    def parse(self, field: Field, value: Any, ctx: ValueContext) -> Any:
        if not isinstance(value, list) or not all(isinstance(line, dict) for line in value):
            raise InvalidValue("invalid_lines", f"expected a list of line objects, got {value!r}")
        return value

    def json_schema(self, field: Field, schema_of: SchemaOf) -> dict[str, Any]:
        return {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {line.key: schema_of(line) for line in field.fields},
            },
        }


class AttachmentType(FieldType):
    """A list of stored files' tokens (see ``POST /api/v1/files``).

    Only the shape is checked here: anything but a token (an old sequential id, a guess) is
    refused with the same words as a token of no file. Whether the actor may use each file,
    and whether it meets the field's ``accept`` and ``max_size``, is checked for the whole
    batch by the records service (``meridian.records.references``)."""

    name = "attachment"
    supports_unique = False
    inline_editable = False

    def sql_type(self, field: Field) -> sa.types.TypeEngine[Any]:
        return JSONType

    def parse(self, field: Field, value: Any, ctx: ValueContext) -> Any:
        if not isinstance(value, list):
            raise InvalidValue("invalid_reference", "expected a list of file ids")
        for item in value:
            if not is_token(item):
                raise InvalidValue("unknown_file", unknown_file(item))
        return list(dict.fromkeys(value)) or None

    def json_schema(self, field: Field, schema_of: SchemaOf) -> dict[str, Any]:
        return {
            "type": "array",
            "items": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
            "description": "file ids (tokens from POST /api/v1/files)",
        }


def _link_schema(field: Field) -> dict[str, Any]:
    target = {"type": "integer", "description": f"id of a {field.target} record"}
    return {"type": "array", "items": target} if field.many else target
