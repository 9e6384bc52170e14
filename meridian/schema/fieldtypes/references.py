"""Fields that point elsewhere: users, other forms' records, line items, files.

Existence checks (does user 7 exist, is customer 12 alive) are set-based and live in the
records service; these types check shape only.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from meridian.core.i18n import Text
from meridian.core.ids import is_id
from meridian.db.types import JSONType
from meridian.errors import InvalidValue
from meridian.expr import ExprType
from meridian.schema.fieldtypes.base import (
    FieldType,
    Names,
    SchemaOf,
    ValueContext,
    posted_id,
    posted_json,
    split_cell,
)
from meridian.schema.fieldtypes.filtering import FilterPlace, bad_filter
from meridian.schema.model import Field, Form
from meridian.schema.values.filetypes import is_token, unknown_file


def parse_id(value: Any) -> int:
    """A record, user or file id: a positive 64-bit integer, or its digits as text."""
    if isinstance(value, str) and value.strip().isdecimal() and len(value.strip()) <= 19:
        value = int(value)
    if is_id(value):
        return int(value)
    raise InvalidValue(
        "invalid_reference", Text("expected a positive record id, got {value!r}", value=value)
    )


def parse_ids(value: Any) -> list[int]:
    if not isinstance(value, list):
        raise InvalidValue(
            "invalid_reference", Text("expected a list of record ids, got {value!r}", value=value)
        )
    return list(dict.fromkeys(parse_id(item) for item in value))


class UserType(FieldType):
    name = "user"
    widget = "user"
    filter_input = "id"
    references_users = True
    always_indexed = True

    def presentation(self, field: Field) -> str:
        return "name"

    def parse_form(self, field: Field, posted: list[str]) -> Any:
        return posted_id(posted[-1]) if posted else None

    def template_value(self, field: Field, value: Any, tz: ZoneInfo, names: Names) -> Any:
        return names.get(value, "")

    def expression_type(self, field: Field) -> ExprType | None:
        return ExprType.NUMBER

    def sql_type(self, field: Field) -> sa.types.TypeEngine[Any]:
        return sa.BigInteger()

    def parse(self, field: Field, value: Any, ctx: ValueContext) -> Any:
        return parse_id(value)

    def json_schema(self, field: Field, schema_of: SchemaOf) -> dict[str, Any]:
        return {"type": "integer", "description": "user id"}

    def report_kind(self, field: Field) -> str | None:
        return "user"


class LinkType(FieldType):
    """Many-to-one as a column; many-to-many as a table ``data_<form>__<field>``."""

    name = "link"
    designer_settings: ClassVar[tuple[str, ...]] = ("unique", "target")
    widget = "link"
    filter_input = "id"
    links_records = True
    always_indexed = True
    many_operators: ClassVar[tuple[str, ...]] = ("contains", "in", "eq", "is_blank")
    """What a many-to-many link is filtered by: the linked ids it holds."""

    def stored_in_pairs(self, field: Field) -> bool:
        return field.many

    def operators(self, field: Field) -> tuple[str, ...]:
        return self.many_operators if field.many else self.filter_operators

    def presentation(self, field: Field) -> str:
        return "links"

    def parse_form(self, field: Field, posted: list[str]) -> Any:
        if field.many:
            return [posted_id(text) for text in posted if text.strip()]
        return posted_id(posted[-1]) if posted else None

    def expression_type(self, field: Field) -> ExprType | None:
        return None if field.many else ExprType.NUMBER

    def report_kind(self, field: Field) -> str | None:
        return None if field.many else "link"

    def import_cell(self, field: Field, cell: Any) -> Any:
        if field.many:
            return split_cell(cell) or None
        return super().import_cell(field, cell)

    def filter_clause(
        self, field: Field, op: str, value: Any, place: FilterPlace
    ) -> ColumnElement[bool]:
        if not field.many:
            return super().filter_clause(field, op, value, place)
        pairs = place.tables.links[field.key]
        main = place.tables.main
        if op == "is_blank" and isinstance(value, bool):
            linked = sa.exists(sa.select(1).where(pairs.c.source_id == main.c.id))
            return sa.not_(linked) if value else linked
        if op not in self.many_operators:
            message = Text("{op} does not apply to many-to-many links", op=op)
            raise bad_filter(place.path, "invalid_operator", message, op)
        wanted = value if isinstance(value, list) else [value]
        try:
            ids = self.parse(field, wanted, place.ctx)
        except InvalidValue as exc:
            raise bad_filter(f"{place.path}.value", exc.code, exc.message, value) from None
        return main.c.id.in_(sa.select(pairs.c.source_id).where(pairs.c.target_id.in_(ids)))

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
    designer_settings: ClassVar[tuple[str, ...]] = ("lines",)
    has_column = False
    supports_unique = False
    inline_editable = False
    holds_lines = True
    fits_column = False
    widget = "lines"
    wide = True
    filter_input = None

    def presentation(self, field: Field) -> str:
        return "count"

    def parse_form(self, field: Field, posted: list[str]) -> Any:
        return posted_json(posted[-1] if posted else "")

    def import_cell(self, field: Field, cell: Any) -> Any:
        return posted_json(cell) if isinstance(cell, str) else cell

    def export_cell(self, field: Field, value: Any) -> Any:
        return json.dumps(value, ensure_ascii=False) if value else None

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
            raise InvalidValue(
                "invalid_lines", Text("expected a list of line objects, got {value!r}", value=value)
            )
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
    designer_settings: ClassVar[tuple[str, ...]] = ("files",)
    supports_unique = False
    inline_editable = False
    holds_files = True
    fits_column = False
    list_valued = True
    widget = "upload"
    wide = True
    filter_input = None

    def presentation(self, field: Field) -> str:
        return "files"

    def parse_form(self, field: Field, posted: list[str]) -> Any:
        last = posted[-1] if posted else ""
        return [part.strip() for part in last.split(",") if part.strip()]

    def import_cell(self, field: Field, cell: Any) -> Any:
        return split_cell(cell) or None

    def expression_type(self, field: Field) -> ExprType | None:
        return None

    def sql_type(self, field: Field) -> sa.types.TypeEngine[Any]:
        return JSONType

    def parse(self, field: Field, value: Any, ctx: ValueContext) -> Any:
        if not isinstance(value, list):
            raise InvalidValue("invalid_reference", Text("expected a list of file ids"))
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
