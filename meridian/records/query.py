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
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from meridian.access.permissions import form_access
from meridian.core import strict_json
from meridian.core.actor import Actor
from meridian.core.i18n import Text
from meridian.core.strict_json import INTEGER_RANGE
from meridian.records.readable import Readable
from meridian.schema.catalog import get_form
from meridian.schema.compile import FormTables, compile_form
from meridian.schema.fieldtypes import ValueContext, field_type
from meridian.schema.fieldtypes.filtering import FilterPlace, bad_filter, compare
from meridian.schema.model import Field, Form

MAX_FILTER_DEPTH = 8
MAX_CONDITIONS = 100
SYSTEM_SORTABLE = ("id", "created_at", "updated_at", "owner_id")


_bad = bad_filter


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
            raise _bad("sort", "unknown_sort_field", Text("cannot sort by {key!r}", key=key), part)
        if not _sortable(form, key):
            raise _bad(
                "sort", "unsortable_field", Text("cannot sort by list field {key!r}", key=key), part
            )
        sorts.append(Sort(key, part.startswith("-")))
    if len(sorts) > 5:
        raise _bad("sort", "too_many_sorts", Text("sort by at most 5 fields"), text)
    if not any(s.key == "id" for s in sorts):
        sorts.append(Sort("id", sorts[-1].descending if sorts else True))
    return sorts


def _sortable(form: Form, key: str) -> bool:
    field_def = form.get_field(key)
    return field_def is None or field_type(field_def).sortable(field_def)


def _has_plain_column(field_def: Field) -> bool:
    return field_type(field_def).has_plain_column(field_def)


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
            raise _bad(
                path,
                "filter_too_deep",
                Text("filters nest at most {limit} levels", limit=MAX_FILTER_DEPTH),
            )
        if not isinstance(node, dict):
            raise _bad(path, "invalid_filter", Text("expected a JSON object"), node)
        if "and" in node or "or" in node:
            word = "and" if "and" in node else "or"
            parts = node[word]
            if not isinstance(parts, list) or len(node) != 1:
                raise _bad(
                    path,
                    "invalid_filter",
                    Text("{word!r} takes a list and nothing else", word=word),
                    node,
                )
            compiled = [
                self.compile(p, depth + 1, f"{path}.{word}.{i}") for i, p in enumerate(parts)
            ]
            if not compiled:
                return sa.true()
            return sa.and_(*compiled) if word == "and" else sa.or_(*compiled)
        if "not" in node:
            if len(node) != 1:
                raise _bad(
                    path, "invalid_filter", Text("'not' takes one filter and nothing else"), node
                )
            return sa.not_(self.compile(node["not"], depth + 1, f"{path}.not"))
        return self._condition(node, path)

    def _condition(self, node: dict[str, Any], path: str) -> ColumnElement[bool]:
        self.count += 1
        if self.count > MAX_CONDITIONS:
            raise _bad(
                path,
                "too_many_conditions",
                Text("at most {limit} conditions", limit=MAX_CONDITIONS),
            )
        unknown = set(node) - {"field", "op", "value"}
        if unknown or "field" not in node or "op" not in node:
            raise _bad(path, "invalid_filter", Text("a condition is {field, op, value}"), node)
        key, op = node["field"], node["op"]
        if not isinstance(key, str) or not isinstance(op, str):
            raise _bad(path, "invalid_filter", Text("field and op must be strings"), node)
        value = node.get("value")
        if "." in key:
            return self._across_link(key, op, value, path)
        return self._on_form(self.form, self.tables, key, op, value, path)

    def _across_link(self, key: str, op: str, value: Any, path: str) -> ColumnElement[bool]:
        link_key, _, target_key = key.partition(".")
        link = self.form.get_field(link_key)
        if link is None or link.archived or not field_type(link).links_records or "." in target_key:
            raise _bad(
                path, "unknown_field", Text("{key!r} is not <link field>.<field>", key=key), key
            )
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
            return compare(tables.main.c[key], op, value, _system_parser(key, self.ctx), path)
        field_def = form.get_field(key)
        if field_def is None or field_def.archived:
            raise _bad(
                path,
                "unknown_field",
                Text("form {form!r} has no field {key!r}", form=form.key, key=key),
                key,
            )
        place = FilterPlace(tables, self.ctx, path, self.conn.dialect.name)
        return field_type(field_def).filter_clause(field_def, op, value, place)


def _system_parser(key: str, ctx: ValueContext) -> Callable[[Any], Any]:
    def parse(raw: Any) -> Any:
        if key in ("created_at", "updated_at"):
            try:
                moment = datetime.fromisoformat(str(raw))
            except ValueError:
                raise _bad(
                    f"filter.{key}", "invalid_datetime", Text("expected an ISO time"), raw
                ) from None
            return moment if moment.tzinfo else moment.replace(tzinfo=ctx.tz)
        if isinstance(raw, int) and not isinstance(raw, bool):
            if not INTEGER_RANGE[0] <= raw <= INTEGER_RANGE[1]:
                raise _bad(
                    f"filter.{key}", "out_of_range", Text("integers must fit in 64 bits"), raw
                )
            return raw
        raise _bad(f"filter.{key}", "invalid_number", Text("expected a whole number"), raw)

    return parse


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
            "cursor", "invalid_cursor", Text("the cursor is not one Meridian gave out"), cursor
        ) from None
    if not isinstance(values, list) or len(values) != len(sorts):
        raise _bad("cursor", "invalid_cursor", Text("the cursor does not match the sort"), cursor)
    result: list[Any] = []
    for sort, raw in zip(sorts, values, strict=True):
        value = None if raw is None else _cursor_value(table.c[sort.key].type, raw)
        if value is _DAMAGED:
            raise _bad("cursor", "invalid_cursor", Text("the cursor is damaged"), cursor)
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
    """NULLs sort last ascending and first descending on both dialects.

    A column that is never NULL (``id``, the times) is ordered without saying where NULLs go:
    SQLite reads an index in order for ``id DESC`` but not for ``id DESC NULLS FIRST``, and
    sorted the cards of a kanban column again behind their index."""
    clauses = []
    for sort in sorts:
        column = table.c[sort.key]
        if not column.nullable:
            clauses.append(column.desc() if sort.descending else column.asc())
            continue
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
