"""Structured filters, sorts and keyset cursors compiled to one SQL statement.

A filter is JSON: ``{"and": [...]}``, ``{"or": [...]}``, ``{"not": {...}}`` or a condition
``{"field": "amount", "op": "gt", "value": "100000"}``. Field names are checked against the
form (an allow-list), one level across links (``customer.level``); values are parsed by the
field's type and always bound as parameters.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from meridian.access.permissions import form_access
from meridian.core import strict_json
from meridian.core.actor import Actor
from meridian.core.strict_json import INTEGER_RANGE
from meridian.errors import FieldError, InvalidValue, ValidationFailed
from meridian.records.readable import Readable
from meridian.schema.catalog import get_form
from meridian.schema.compile import FormTables, compile_form
from meridian.schema.fieldtypes import ValueContext, field_type
from meridian.schema.model import Field, Form

MAX_FILTER_DEPTH = 8
MAX_CONDITIONS = 100
SYSTEM_SORTABLE = ("id", "created_at", "updated_at", "owner_id")


def _bad(path: str, code: str, message: str, value: Any = None) -> ValidationFailed:
    return ValidationFailed([FieldError(path, code, message, value)])


@dataclass(frozen=True)
class Sort:
    key: str
    descending: bool


def parse_sort(form: Form, text: str | None) -> list[Sort]:
    """``-amount,name`` → sorts; only stored fields and a few system columns are sortable."""
    sorts: list[Sort] = []
    sortable = {f.key for f in form.active_fields if _has_plain_column(f)} | set(SYSTEM_SORTABLE)
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        key = part.lstrip("-+")
        if key not in sortable:
            raise _bad("sort", "unknown_sort_field", f"cannot sort by {key!r}", part)
        if field_type_of(form, key) in ("multi_select", "attachment"):
            raise _bad("sort", "unsortable_field", f"cannot sort by list field {key!r}", part)
        sorts.append(Sort(key, part.startswith("-")))
    if len(sorts) > 5:
        raise _bad("sort", "too_many_sorts", "sort by at most 5 fields", text)
    if not any(s.key == "id" for s in sorts):
        sorts.append(Sort("id", sorts[-1].descending if sorts else True))
    return sorts


def field_type_of(form: Form, key: str) -> str | None:
    field_def = form.get_field(key)
    return field_def.type if field_def else None


def _has_plain_column(field_def: Field) -> bool:
    return field_type(field_def).has_column and not (field_def.type == "link" and field_def.many)


class FilterCompiler:
    """Compiles one form's filter tree; link targets are loaded as the tree needs them."""

    def __init__(
        self,
        conn: Connection,
        form: Form,
        tz: ZoneInfo,
        tables: FormTables | None = None,
        actor: Actor | None = None,
    ) -> None:
        """``actor``, when given, is held to its rights on linked forms: their hidden fields are
        unknown here and only the linked records it may read can match."""
        self.conn = conn
        self.form = form
        self.tables = tables or compile_form(form)
        self.ctx = ValueContext(tz)
        self.count = 0
        self.actor = actor

    def compile(self, node: Any, depth: int = 0, path: str = "filter") -> ColumnElement[bool]:
        if depth > MAX_FILTER_DEPTH:
            raise _bad(path, "filter_too_deep", f"filters nest at most {MAX_FILTER_DEPTH} levels")
        if not isinstance(node, dict):
            raise _bad(path, "invalid_filter", "expected a JSON object", node)
        if "and" in node or "or" in node:
            word = "and" if "and" in node else "or"
            parts = node[word]
            if not isinstance(parts, list) or len(node) != 1:
                raise _bad(path, "invalid_filter", f"{word!r} takes a list and nothing else", node)
            compiled = [
                self.compile(p, depth + 1, f"{path}.{word}.{i}") for i, p in enumerate(parts)
            ]
            if not compiled:
                return sa.true()
            return sa.and_(*compiled) if word == "and" else sa.or_(*compiled)
        if "not" in node:
            if len(node) != 1:
                raise _bad(path, "invalid_filter", "'not' takes one filter and nothing else", node)
            return sa.not_(self.compile(node["not"], depth + 1, f"{path}.not"))
        return self._condition(node, path)

    def _condition(self, node: dict[str, Any], path: str) -> ColumnElement[bool]:
        self.count += 1
        if self.count > MAX_CONDITIONS:
            raise _bad(path, "too_many_conditions", f"at most {MAX_CONDITIONS} conditions")
        unknown = set(node) - {"field", "op", "value"}
        if unknown or "field" not in node or "op" not in node:
            raise _bad(path, "invalid_filter", "a condition is {field, op, value}", node)
        key, op = node["field"], node["op"]
        if not isinstance(key, str) or not isinstance(op, str):
            raise _bad(path, "invalid_filter", "field and op must be strings", node)
        value = node.get("value")
        if "." in key:
            return self._across_link(key, op, value, path)
        return self._on_form(self.form, self.tables, key, op, value, path)

    def _across_link(self, key: str, op: str, value: Any, path: str) -> ColumnElement[bool]:
        link_key, _, target_key = key.partition(".")
        link = self.form.get_field(link_key)
        if link is None or link.archived or link.type != "link" or "." in target_key:
            raise _bad(path, "unknown_field", f"{key!r} is not <link field>.<field>", key)
        target = get_form(self.conn, link.target or "")
        if self.actor is None:
            target_tables = compile_form(target)
            readable: tuple[ColumnElement[bool], ...] = (target_tables.main.c.deleted_at.is_(None),)
        else:
            rows = Readable.of(self.conn, form_access(self.conn, self.actor, target), self.ctx.tz)
            target, target_tables, readable = rows.form, rows.plan.tables, rows.where
        inner = self._on_form(target, target_tables, target_key, op, value, path)
        # Its own FROM even inside a statement over the same table (a self-link).
        matching = sa.select(target_tables.main.c.id).where(inner, *readable).correlate(None)
        if link.many:
            pairs = self.tables.links[link.key]
            return self.tables.main.c.id.in_(
                sa.select(pairs.c.source_id).where(pairs.c.target_id.in_(matching))
            )
        return self.tables.main.c[link.key].in_(matching)

    def _on_form(
        self, form: Form, tables: FormTables, key: str, op: str, value: Any, path: str
    ) -> ColumnElement[bool]:
        if key in SYSTEM_SORTABLE:
            return _compare(tables.main.c[key], op, value, _system_parser(key, self.ctx), path)
        field_def = form.get_field(key)
        if field_def is None or field_def.archived:
            raise _bad(path, "unknown_field", f"form {form.key!r} has no field {key!r}", key)
        if field_def.type == "multi_select":
            return _list_condition(
                tables.main.c[key], op, value, field_def, self.ctx, path, self.conn.dialect.name
            )
        if field_def.type == "link" and field_def.many:
            return _pairs_condition(tables, field_def, op, value, self.ctx, path)
        if not _has_plain_column(field_def):
            raise _bad(
                path, "unfilterable_field", f"cannot filter on {field_def.type} field {key!r}", key
            )
        kind = field_type(field_def)

        def parse(raw: Any) -> Any:
            try:
                if field_def.type == "auto_number" or kind.computed:
                    return raw
                return kind.parse(field_def, raw, self.ctx)
            except InvalidValue as exc:
                raise _bad(f"{path}.value", exc.code, exc.message, raw) from None

        return _compare(tables.main.c[key], op, value, parse, path, text=field_def.type in _TEXTUAL)


_TEXTUAL = frozenset({"text", "long_text", "email", "phone", "url", "uscc", "ip", "auto_number"})


def _system_parser(key: str, ctx: ValueContext) -> Callable[[Any], Any]:
    def parse(raw: Any) -> Any:
        if key in ("created_at", "updated_at"):
            try:
                moment = datetime.fromisoformat(str(raw))
            except ValueError:
                raise _bad(
                    f"filter.{key}", "invalid_datetime", "expected an ISO time", raw
                ) from None
            return moment if moment.tzinfo else moment.replace(tzinfo=ctx.tz)
        if isinstance(raw, int) and not isinstance(raw, bool):
            if not INTEGER_RANGE[0] <= raw <= INTEGER_RANGE[1]:
                raise _bad(f"filter.{key}", "out_of_range", "integers must fit in 64 bits", raw)
            return raw
        raise _bad(f"filter.{key}", "invalid_number", "expected a whole number", raw)

    return parse


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _compare(
    column: ColumnElement[Any],
    op: str,
    value: Any,
    parse: Callable[[Any], Any],
    path: str,
    *,
    text: bool = False,
) -> ColumnElement[bool]:
    if op == "is_blank":
        if not isinstance(value, bool):
            raise _bad(f"{path}.value", "invalid_filter", "is_blank takes true or false", value)
        return column.is_(None) if value else column.is_not(None)
    if op in ("contains", "starts_with"):
        if not text or not isinstance(value, str):
            raise _bad(
                path, "invalid_operator", f"{op} works on text fields with a text value", value
            )
        pattern = _escape_like(value.strip().lower())
        pattern = f"%{pattern}%" if op == "contains" else f"{pattern}%"
        return sa.func.lower(column).like(pattern, escape="\\")
    if op == "in":
        if not isinstance(value, list) or not value or len(value) > 1000:
            raise _bad(
                f"{path}.value", "invalid_filter", "in takes a list of 1 to 1000 values", value
            )
        return column.in_([parse(v) for v in value])
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            raise _bad(f"{path}.value", "invalid_filter", "between takes [low, high]", value)
        return column.between(parse(value[0]), parse(value[1]))
    comparisons: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
        "eq": lambda c, v: c == v,
        "ne": lambda c, v: sa.or_(c != v, c.is_(None)),
        "gt": lambda c, v: c > v,
        "gte": lambda c, v: c >= v,
        "lt": lambda c, v: c < v,
        "lte": lambda c, v: c <= v,
    }
    if op not in comparisons:
        raise _bad(path, "unknown_operator", f"unknown operator {op!r}", op)
    if value is None:
        raise _bad(
            f"{path}.value", "invalid_filter", f"{op} needs a value; use is_blank for blanks"
        )
    return comparisons[op](column, parse(value))


def _list_condition(
    column: ColumnElement[Any],
    op: str,
    value: Any,
    field_def: Field,
    ctx: ValueContext,
    path: str,
    dialect: str,
) -> ColumnElement[bool]:
    if op == "is_blank" and isinstance(value, bool):
        return column.is_(None) if value else column.is_not(None)
    if op not in ("contains", "in"):
        raise _bad(path, "invalid_operator", f"{op} does not apply to multi-select fields", op)
    wanted = value if isinstance(value, list) else [value]
    try:
        options = field_type(field_def).parse(field_def, wanted, ctx) or []
    except InvalidValue as exc:
        raise _bad(f"{path}.value", exc.code, exc.message, value) from None
    checks = [json_array_contains(column, option, dialect) for option in options]
    if not checks:
        return sa.false()
    return sa.and_(*checks) if op == "contains" else sa.or_(*checks)


def json_array_contains(column: Any, option: Any, dialect: str) -> ColumnElement[bool]:
    """Whether a JSON array column holds ``option`` (an option value, a file id)."""
    if dialect == "postgresql":
        return column.op("@>")(sa.literal([option], type_=postgresql.JSONB))  # type: ignore[no-any-return]
    each = sa.func.json_each(column).table_valued("value")
    return sa.exists(sa.select(1).select_from(each).where(each.c.value == option))


def _pairs_condition(
    tables: FormTables, field_def: Field, op: str, value: Any, ctx: ValueContext, path: str
) -> ColumnElement[bool]:
    pairs = tables.links[field_def.key]
    main = tables.main
    if op == "is_blank" and isinstance(value, bool):
        linked = sa.exists(sa.select(1).where(pairs.c.source_id == main.c.id))
        return sa.not_(linked) if value else linked
    if op not in ("contains", "in", "eq"):
        raise _bad(path, "invalid_operator", f"{op} does not apply to many-to-many links", op)
    wanted = value if isinstance(value, list) else [value]
    try:
        ids = field_type(field_def).parse(field_def, wanted, ctx)
    except InvalidValue as exc:
        raise _bad(f"{path}.value", exc.code, exc.message, value) from None
    return main.c.id.in_(sa.select(pairs.c.source_id).where(pairs.c.target_id.in_(ids)))


def encode_cursor(values: Sequence[Any]) -> str:
    def plain(v: Any) -> Any:
        return v.isoformat() if isinstance(v, date | datetime) else v

    raw = json.dumps([plain(v) for v in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sorts: Sequence[Sort], table: sa.Table) -> list[Any]:
    """The values a cursor carries, each checked against its column: a cursor is the client's
    text, and a value of the wrong type reached the database as a server error (issue 13)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = strict_json.loads(base64.urlsafe_b64decode(padded.encode()))
    except ValueError:  # not base64, not UTF-8, not JSON, or a value no column holds
        raise _bad(
            "cursor", "invalid_cursor", "the cursor is not one Meridian gave out", cursor
        ) from None
    if not isinstance(values, list) or len(values) != len(sorts):
        raise _bad("cursor", "invalid_cursor", "the cursor does not match the sort", cursor)
    result: list[Any] = []
    for sort, raw in zip(sorts, values, strict=True):
        value = None if raw is None else _cursor_value(table.c[sort.key].type, raw)
        if value is _DAMAGED:
            raise _bad("cursor", "invalid_cursor", "the cursor is damaged", cursor)
        result.append(value)
    return result


_DAMAGED: Any = object()


def _cursor_value(column_type: sa.types.TypeEngine[Any], raw: Any) -> Any:
    python_type = getattr(column_type, "python_type", None)
    try:
        if python_type is datetime:
            return datetime.fromisoformat(raw)
        if python_type is date:
            return date.fromisoformat(raw)
    except (TypeError, ValueError):
        return _DAMAGED
    if python_type is bool:
        return raw if isinstance(raw, bool) else _DAMAGED
    if python_type is int:
        return raw if isinstance(raw, int) and not isinstance(raw, bool) else _DAMAGED
    if python_type is str:
        return raw if isinstance(raw, str) else _DAMAGED
    return raw if isinstance(raw, int | float | str) and not isinstance(raw, bool) else _DAMAGED


def order_by(table: sa.Table, sorts: Sequence[Sort]) -> list[Any]:
    """NULLs sort last ascending and first descending on both dialects."""
    clauses = []
    for sort in sorts:
        column = table.c[sort.key]
        clauses.append(
            column.desc().nulls_first() if sort.descending else column.asc().nulls_last()
        )
    return clauses


def after_cursor(
    table: sa.Table, sorts: Sequence[Sort], last: Sequence[Any]
) -> ColumnElement[bool]:
    """Rows strictly after ``last`` in the sort order (lexicographic, NULL-aware)."""
    alternatives = []
    equal_prefix: list[ColumnElement[bool]] = []
    beyond: ColumnElement[bool]
    for sort, value in zip(sorts, last, strict=True):
        column = table.c[sort.key]
        if value is None:
            # NULLs sort last ascending (nothing follows) and first descending (values follow).
            beyond = column.is_not(None) if sort.descending else sa.false()
            same = column.is_(None)
        else:
            if sort.descending:
                beyond = column < value
            elif sort.key == "id":
                beyond = column > value  # ids are never NULL
            else:
                beyond = sa.or_(column > value, column.is_(None))
            same = column == value
        alternatives.append(sa.and_(*equal_prefix, beyond))
        equal_prefix.append(same)
    return sa.or_(*alternatives)
