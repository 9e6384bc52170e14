"""Listing records: filter, search, sort and keyset pagination as one SQL statement."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from meridian.access.permissions import FormAccess, form_access
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.core.timezones import DEFAULT_TIME_ZONE
from meridian.errors import FieldError, ValidationFailed
from meridian.expr import ExpressionError, ExprType, compile_expression
from meridian.records.plan import FormPlan, plan_for
from meridian.records.query import (
    FilterCompiler,
    after_cursor,
    decode_cursor,
    encode_cursor,
    order_by,
    parse_sort,
)
from meridian.records.readable import LinkedReadable, Readable
from meridian.records.reads import audit_sensitive_reads, dump_rows
from meridian.records.search import columns_search_predicate, search_predicate, searchable_fields
from meridian.schema.expressions import scope_for, sql_scope_for
from meridian.schema.model import Form

MAX_LIMIT = 500


@dataclass(frozen=True)
class RecordQuery:
    """What a list call asks for; ``filter`` is the structured JSON filter."""

    filter: Any = None
    sort: str | None = None
    limit: int = 50
    cursor: str | None = None
    search: str | None = None
    expression: str | None = None
    """A condition in the expression language (the ``expr`` parameter)."""
    count: bool = False
    deleted: bool = False
    expand: tuple[str, ...] = ()
    extra_conditions: tuple[ColumnElement[bool], ...] = field(default=())


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None
    total: int | None


def where_clause(
    conn: Connection, readable: Readable, query: RecordQuery, tz: ZoneInfo
) -> ColumnElement[bool]:
    """The WHERE of a list: the rows the actor may read (trash or live), filter, expr, search.

    ``readable`` is over the form as the actor sees it, so a hidden field is unknown to the
    filter, the expression and the sort, and answers as if it did not exist.
    """
    plan, access = readable.plan, readable.access
    conditions: list[ColumnElement[bool]] = list(readable.where)
    if query.filter is not None:
        conditions.append(_filter_condition(conn, plan, query.filter, access, tz))
    if query.expression:
        conditions.append(expression_condition(conn, plan, query.expression, access, tz))
    if query.search and query.search.strip():
        if len(query.search) > 200:
            raise ValidationFailed(
                [FieldError("q", "too_long", Text("search at most 200 characters"), query.search)]
            )
        if access.hidden & {f.key for f in searchable_fields(access.form.fields)}:
            # The search text holds the hidden values too: match the visible columns instead.
            conditions.append(
                columns_search_predicate(plan.tables, plan.search_fields, query.search)
            )
        else:
            conditions.append(search_predicate(plan.tables, query.search, conn.dialect.name))
    conditions.extend(query.extra_conditions)
    return sa.and_(*conditions)


def _filter_condition(
    conn: Connection, plan: FormPlan, tree: Any, access: FormAccess, tz: ZoneInfo
) -> ColumnElement[bool]:
    """The structured filter in SQL. One over the form's own fields depends on nothing but the
    form as the actor sees it, the zone and the dialect, so it is compiled once; one reaching
    across links also depends on the actor's rights on the linked form, and is compiled each
    time."""
    if _reaches_across_links(tree):
        return FilterCompiler(conn, plan.form, tz, plan.tables, actor=access.actor).compile(tree)
    return _own_filter(conn, plan, json.dumps(tree, sort_keys=True, ensure_ascii=False), tz)


def _reaches_across_links(node: Any) -> bool:
    if isinstance(node, dict):
        field = node.get("field")
        if isinstance(field, str) and "." in field:
            return True
        return any(_reaches_across_links(value) for value in node.values())
    if isinstance(node, list):
        return any(_reaches_across_links(item) for item in node)
    return False


_OWN_FILTERS: dict[tuple[FormPlan, str, str, str], ColumnElement[bool]] = {}
_OWN_FILTERS_LIMIT = 1024


def _own_filter(conn: Connection, plan: FormPlan, text: str, tz: ZoneInfo) -> ColumnElement[bool]:
    key = (plan, text, tz.key, conn.dialect.name)  # the SQL differs between dialects
    found = _OWN_FILTERS.get(key)
    if found is None:
        found = FilterCompiler(conn, plan.form, tz, plan.tables).compile(json.loads(text))
        if len(_OWN_FILTERS) >= _OWN_FILTERS_LIMIT:
            _OWN_FILTERS.clear()  # not evicting one: iterating races with other threads
        _OWN_FILTERS[key] = found
    return found


def expression_condition(
    conn: Connection, plan: FormPlan, source: str, access: FormAccess, tz: ZoneInfo
) -> ColumnElement[bool]:
    """A condition in the expression language, compiled to SQL for this form as the actor reads
    it: a linked record the actor may not read is empty (NULL), and a field hidden from the
    actor is unknown, on the form and on the forms it links to alike."""
    targets = LinkedReadable(conn, access.actor, tz)
    try:
        expression = compile_expression(source, scope_for(conn, plan.form, targets=targets))
    except ExpressionError as exc:
        raise ValidationFailed(
            [FieldError("expr", "invalid_expression", exc.message, source, detail=exc.as_dict())]
        ) from None
    if expression.result_type not in (ExprType.BOOLEAN, ExprType.NULL):
        raise ValidationFailed(
            [
                FieldError(
                    "expr",
                    "not_a_condition",
                    Text("expr must be a condition (true or false)"),
                    source,
                )
            ]
        )
    now = utcnow(conn).astimezone(tz)
    sql_scope = sql_scope_for(conn, plan.form, plan.tables, targets=targets)
    condition: ColumnElement[bool] = expression.to_sql(
        sql_scope, dialect=conn.dialect, today=now.date(), now=now, user=access.actor.user_id
    )
    return condition


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(
            [
                FieldError(
                    "limit",
                    "out_of_range",
                    Text("limit must be 1 to {limit}", limit=MAX_LIMIT),
                    limit,
                )
            ]
        )


def list_records(
    *,
    conn: Connection,
    actor: Actor,
    form: Form,
    query: RecordQuery,
    tz: ZoneInfo = DEFAULT_TIME_ZONE,
) -> Page:
    """One page of records in the requested order, plus a cursor for the next page."""
    _check_limit(query.limit)
    access = form_access(conn, actor, form)
    access.require("read")
    plan = plan_for(access.visible)
    sorts = parse_sort(plan.form, query.sort)
    listed = plan.list_columns(conn.dialect.name)
    statement, where = _page_statement(conn, plan, access, query, tz)
    rows = conn.execute(statement).all()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    next_cursor = None
    if more:
        last = rows[-1]._mapping
        next_cursor = encode_cursor([listed.cursor_value(s.key, last[s.key]) for s in sorts])
    total = _count(conn, plan.tables.main, where) if query.count else None
    items = dump_rows(
        conn, plan, rows, expand=query.expand, actor=actor, tz=tz, raw=listed.text_readers
    )
    audit_sensitive_reads(conn, actor, plan.form, items)
    return Page(items=items, next_cursor=next_cursor, total=total)


PART = "_part"
"""The column telling apart the pages :func:`list_first_pages` reads in one statement."""


def list_first_pages(
    *,
    conn: Connection,
    actor: Actor,
    form: Form,
    queries: Sequence[RecordQuery],
    tz: ZoneInfo = DEFAULT_TIME_ZONE,
    fields: Collection[str] | None = None,
) -> list[list[dict[str, Any]]]:
    """The records of each query's first page (no cursor, no count), read in one statement
    (of ``PARTS_PER_STATEMENT`` pages at most): each page's own statement, as
    :func:`list_records` builds it (the indexed order and limit each), joined by
    ``UNION ALL``. A kanban's columns are one round trip and one execution, where a statement
    per column cost both seven times over (issue 21); their line items, pairs and expansions
    are read once for all of them too.

    With ``fields``, each record holds its ``id``, ``_version`` and those fields alone: a
    board's cards show three of a record's fields, and reading, sending and converting the
    other twenty (and their line items) was most of the cards' cost."""
    if not queries:
        return []
    for query in queries:
        _check_limit(query.limit)
    access = form_access(conn, actor, form)
    access.require("read")
    plan = plan_for(access.visible)
    listed = plan.list_columns(conn.dialect.name)
    only = None if fields is None else frozenset(fields) | _ALWAYS_LISTED
    firsts = [replace(query, cursor=None) for query in queries]
    rows: list[sa.Row[Any]] = []
    for start in range(0, len(firsts), PARTS_PER_STATEMENT):
        rows += conn.execute(
            _pages_together(
                conn, plan, access, firsts[start : start + PARTS_PER_STATEMENT], start, tz, only
            )
        ).all()
    expand = tuple(dict.fromkeys(key for query in queries for key in query.expand))
    items = dump_rows(
        conn, plan, rows, expand=expand, actor=actor, tz=tz, raw=listed.text_readers, only=only
    )
    audit_sensitive_reads(conn, actor, plan.form, items)
    pages: list[list[dict[str, Any]]] = [[] for _ in queries]
    for row, item in zip(rows, items, strict=True):
        pages[row[0]].append(item)
    return pages


_ALWAYS_LISTED = frozenset({"id", "_version"})
"""What a record read with a narrowed ``fields`` holds besides them: it is named and changed
by these."""

PARTS_PER_STATEMENT = 100
"""Pages one statement of :func:`list_first_pages` reads at most: SQLite refuses a compound
select of more than 500 parts, and a select field may have more options than that."""


def _pages_together(
    conn: Connection,
    plan: FormPlan,
    access: FormAccess,
    queries: Sequence[RecordQuery],
    first: int,
    tz: ZoneInfo,
    only: frozenset[str] | None = None,
) -> Any:
    """One statement reading the first pages of ``queries``, each row tagged with its page's
    number (counted from ``first``), of the columns ``only`` names (None: all); kept by its
    parts' first-page keys."""
    parts_keys = [_first_page_key(conn, plan, query, access, tz) for query in queries]
    keys = (first, only, *parts_keys)
    cacheable = all(key is not None for key in parts_keys)
    statement = _FIRST_PAGES_TOGETHER.get(keys) if cacheable else None
    if statement is not None:
        return statement
    parts = []
    for number, query in enumerate(queries, start=first):
        alone, _ = _page_statement(conn, plan, access, query, tz)
        if only is not None:
            alone = alone.with_only_columns(
                *(c for c in alone.selected_columns if c.key in only), maintain_column_froms=True
            )
        page = alone.limit(query.limit).subquery(f"page{number}")
        parts.append(sa.select(sa.literal(number, sa.Integer).label(PART), *page.c))
    # Each page keeps its own order: a UNION ALL of LIMITed subqueries is appended part after
    # part (SQLite's compound select, PostgreSQL's Append — a LIMIT is never split across
    # parallel workers).
    statement = sa.union_all(*parts) if len(parts) > 1 else parts[0]
    if cacheable:
        if len(_FIRST_PAGES_TOGETHER) >= _FIRST_PAGES_LIMIT:
            _FIRST_PAGES_TOGETHER.clear()
        _FIRST_PAGES_TOGETHER[keys] = statement
    return statement


def _page_statement(
    conn: Connection, plan: FormPlan, access: FormAccess, query: RecordQuery, tz: ZoneInfo
) -> tuple[sa.Select[Any], ColumnElement[bool]]:
    """A page's statement (one row past the limit, telling whether there are more) and its
    WHERE; a first page's built once per what it depends on (:func:`_first_page_key`)."""
    key = _first_page_key(conn, plan, query, access, tz)
    found = _FIRST_PAGES.get(key) if key is not None else None
    if found is not None:
        return found
    table = plan.tables.main
    sorts = parse_sort(plan.form, query.sort)
    readable = Readable.of(conn, access, tz, deleted=query.deleted)
    where = where_clause(conn, readable, query, tz)
    statement = plan.list_columns(conn.dialect.name).select.where(where)
    if query.cursor:
        statement = statement.where(
            after_cursor(table, sorts, decode_cursor(query.cursor, sorts, table))
        )
    statement = statement.order_by(*order_by(table, sorts)).limit(query.limit + 1)
    if key is not None:
        if len(_FIRST_PAGES) >= _FIRST_PAGES_LIMIT:
            _FIRST_PAGES.clear()  # not evicting one: iterating races with other threads
        _FIRST_PAGES[key] = (statement, where)
    return statement, where


_FIRST_PAGES: dict[tuple[Any, ...], tuple[sa.Select[Any], ColumnElement[bool]]] = {}
_FIRST_PAGES_LIMIT = 512
_FIRST_PAGES_TOGETHER: dict[tuple[Any, ...], Any] = {}
"""The statements of :func:`list_first_pages`, by the first-page keys of their parts."""


def _first_page_key(
    conn: Connection, plan: FormPlan, query: RecordQuery, access: FormAccess, tz: ZoneInfo
) -> tuple[Any, ...] | None:
    """What a first page's statement depends on — the form as the actor sees it, the rows the
    actor may read (:meth:`FormAccess.rows_key`), the query and the zone — so the statement is
    built, and its SQLAlchemy cache key computed, once. None when it must be built afresh: a
    row scope over the department tree or the clock, ``expr``, or a filter across links (those
    depend on the actor's rights on the linked form)."""
    rows = access.rows_key("read")
    if query.cursor or query.expression or query.extra_conditions or rows is None:
        return None
    if query.filter is not None and _reaches_across_links(query.filter):
        return None
    text = json.dumps(query.filter, sort_keys=True, ensure_ascii=False)
    return (
        plan,
        conn.dialect.name,
        tz.key,
        rows,
        text,
        query.search,
        query.deleted,
        query.sort,
        query.limit,
    )


def count_records(
    *,
    conn: Connection,
    actor: Actor,
    form: Form,
    query: RecordQuery,
    tz: ZoneInfo = DEFAULT_TIME_ZONE,
) -> int:
    """How many records the query matches that the actor may read."""
    access = form_access(conn, actor, form)
    access.require("read")
    readable = Readable.of(conn, access, tz, deleted=query.deleted)
    return _count(conn, readable.plan.tables.main, where_clause(conn, readable, query, tz))


def _count(conn: Connection, table: sa.Table, where: ColumnElement[bool]) -> int:
    return int(
        conn.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar_one()
    )
