"""The SQL back end: a checked tree becomes one SQLAlchemy Core expression.

The caller maps field keys to columns (:class:`SqlScope`). Links and child-table aggregates
compile to correlated scalar subqueries, so the caller never has to join; a self-link needs an
aliased target table. Parts of the expression that read no field (literals, TODAY(), NOW(),
``100 * 1000``) are computed in Python first and bound as parameters, so ``amount > 100000``
becomes ``amount > :p`` on the stored integer and can use an index.

Some SQL bodies read an argument more than once (SQLite has no rounding that is exact, no time
zones, ...). A repeated argument that is small is written out again; a large one is computed
once in a scalar subquery, so the SQL text grows linearly with the expression, never
exponentially, whatever a hostile expression nests.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import BindParameter, Cast, ColumnClause, Grouping
from sqlalchemy.sql.functions import FunctionElement

from meridian.expr import decimals, sqlops
from meridian.expr.evaluate import compile_python
from meridian.expr.functions import sql_type
from meridian.expr.nodes import (
    Aggregate,
    Arithmetic,
    Call,
    Comparison,
    FieldValue,
    InList,
    InOptions,
    LineAggregate,
    LinkValue,
    Logic,
    Negate,
    Node,
    Not,
    ToInstant,
)
from meridian.expr.runtime import Env
from meridian.expr.sqlops import Sql, SqlContext
from meridian.expr.types import ExprType

_SHARE_ABOVE = 12
"""An argument read more than once is computed once in a subquery above this size."""

_ORDER: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass(frozen=True)
class LinkSql:
    """How to reach the record a many-to-one link points at.

    :ivar foreign_key: this table's link column (holds the target's id).
    :ivar target_id: the target table's id column.
    :ivar target: the target table's fields.
    :ivar where: an extra condition on the target row, e.g. that it is not deleted.
    """

    foreign_key: Sql
    target_id: sa.ColumnClause[Any]
    target: SqlScope
    where: Sql | None = None


@dataclass(frozen=True)
class ChildSql:
    """How to reach the lines of a child table.

    :ivar parent_key: the lines table's ``_parent_id`` column.
    :ivar parent_id: this table's id column.
    :ivar lines: the lines table's fields.
    :ivar where: an extra condition on the lines.
    """

    parent_key: sa.ColumnClause[Any]
    parent_id: Sql
    lines: SqlScope
    where: Sql | None = None


@dataclass(frozen=True)
class SqlScope:
    """Field key → column holding the stored value (scaled integers for money and decimals)."""

    columns: Mapping[str, Sql]
    links: Mapping[str, LinkSql] = field(default_factory=dict)
    children: Mapping[str, ChildSql] = field(default_factory=dict)


@dataclass(frozen=True)
class _Piece:
    """Compiled SQL and its size in expression nodes (what repeating it would cost)."""

    sql: Sql
    size: int


def compile_sql(node: Node, scope: SqlScope, ctx: SqlContext) -> Sql:
    """``node`` as SQL giving the value the Python back end gives (numbers as their logical
    value: NUMERIC on PostgreSQL, REAL on SQLite)."""
    compiled = _Compiler(scope, ctx).compile(node).sql
    if node.type is ExprType.NUMBER:
        return sqlops.to_logical(ctx, compiled, node.scale)
    return sa.type_coerce(compiled, sql_type(node.type))


class _Compiler:
    def __init__(self, scope: SqlScope, ctx: SqlContext) -> None:
        self.scope = scope
        self.ctx = ctx

    def compile(self, node: Node) -> _Piece:
        if not node.reads_record:
            return _Piece(self._constant(node), 1)
        method: Callable[[Any], _Piece] = getattr(self, f"_{type(node).__name__}")
        return method(node)

    def _constant(self, node: Node) -> Sql:
        env = Env({}, {}, self.ctx.today, self.ctx.now, self.ctx.zone, self.ctx.user)
        value = compile_python(node)(env)
        if value is None:
            return sqlops.null(sql_type(node.type))
        if node.type is ExprType.NUMBER:
            return sqlops.integer(self.ctx, decimals.to_scaled_integer(value, node.scale))
        binders: dict[ExprType, Callable[[Any], Sql]] = {
            ExprType.TEXT: sqlops.text,
            ExprType.BOOLEAN: sqlops.boolean,
            ExprType.DATE: sqlops.day,
            ExprType.DATETIME: sqlops.instant,
        }
        return binders[node.type](value)

    def _build(self, parts: Sequence[_Piece], body: Callable[[list[Sql]], Sql]) -> _Piece:
        """``body`` over the parts, computing a large part once if ``body`` repeats it."""
        placeholders = [
            sa.bindparam(f"__expr_part_{i}", type_=part.sql.type) for i, part in enumerate(parts)
        ]
        uses = _count_uses(body(list(placeholders)), len(parts))
        shared = [i for i, part in enumerate(parts) if uses[i] > 1 and part.size > _SHARE_ABOVE]
        if not shared:
            size = 1 + sum(count * part.size for count, part in zip(uses, parts, strict=True))
            return _Piece(_grouped(body([part.sql for part in parts])), size)
        inner = (
            sa.select(*(parts[i].sql.label(f"v{i}") for i in shared))
            .correlate_except(None)
            .subquery()
        )
        arguments = [inner.c[f"v{i}"] if i in shared else part.sql for i, part in enumerate(parts)]
        result = body(arguments)
        subquery = sa.select(result).select_from(inner).correlate_except(inner).scalar_subquery()
        size = 1 + sum(
            part.size + (1 if i in shared else uses[i] * part.size) for i, part in enumerate(parts)
        )
        return _Piece(sa.type_coerce(subquery, result.type), size)

    def _rescaled(self, node: Node, piece: _Piece, scale: int) -> _Piece:
        if node.type is not ExprType.NUMBER or scale == node.scale:
            return piece
        return _Piece(sqlops.rescale(self.ctx, piece.sql, scale - node.scale), piece.size + 1)

    # ---- leaves ----

    def _FieldValue(self, node: FieldValue) -> _Piece:
        return _Piece(_column(self.scope, node.info.key), 1)

    def _LinkValue(self, node: LinkValue) -> _Piece:
        link = self.scope.links.get(node.link)
        if link is None:
            raise ValueError(f"the SQL scope has no link {node.link!r}")
        column = _column(link.target, node.info.key)
        query = sa.select(column).where(link.target_id == link.foreign_key)
        if link.where is not None:
            query = query.where(link.where)
        return _Piece(_correlated(query, link.target_id), 3)

    def _Aggregate(self, node: Aggregate) -> _Piece:
        child = self.scope.children.get(node.child)
        if child is None:
            raise ValueError(f"the SQL scope has no child table {node.child!r}")
        column = None if node.info is None else _column(child.lines, node.info.key)
        scale = 0 if node.info is None else node.info.scale
        query = sa.select(node.aggregation.sql(self.ctx, column, scale)).where(
            child.parent_key == child.parent_id
        )
        if child.where is not None:
            query = query.where(child.where)
        return _Piece(_correlated(query, child.parent_key), 3)

    def _LineAggregate(self, node: LineAggregate) -> _Piece:
        child = self.scope.children.get(node.child)
        if child is None:
            raise ValueError(f"the SQL scope has no child table {node.child!r}")
        body = _Compiler(child.lines, self.ctx).compile(node.body).sql
        query = sa.select(node.aggregation.sql(self.ctx, body, node.body.scale)).where(
            child.parent_key == child.parent_id
        )
        if child.where is not None:
            query = query.where(child.where)
        return _Piece(_correlated(query, child.parent_key), 3)

    # ---- operators ----

    def _Negate(self, node: Negate) -> _Piece:
        return self._build([self.compile(node.operand)], lambda a: sqlops.negate(self.ctx, a[0]))

    def _Arithmetic(self, node: Arithmetic) -> _Piece:
        ctx, op = self.ctx, node.op
        left, right = self.compile(node.left), self.compile(node.right)
        if op == "/":
            shift = node.scale - node.left.scale + node.right.scale
            left = self._rescaled(node.left, left, node.left.scale + shift)
            return self._build([left, right], lambda a: sqlops.divide(ctx, a[0], a[1]))
        if op == "*":
            excess = node.left.scale + node.right.scale - node.scale
            return self._build(
                [left, right],
                lambda a: sqlops.shift_down(ctx, sqlops.multiply(ctx, a[0], a[1]), excess),
            )
        left = self._rescaled(node.left, left, node.scale)
        right = self._rescaled(node.right, right, node.scale)
        body = {"+": sqlops.add, "-": sqlops.subtract, "%": sqlops.remainder}[op]
        return self._build([left, right], lambda a: body(ctx, a[0], a[1]))

    def _Comparison(self, node: Comparison) -> _Piece:
        scale = max(node.left.scale, node.right.scale)
        left = self._rescaled(node.left, self.compile(node.left), scale)
        right = self._rescaled(node.right, self.compile(node.right), scale)
        compare = _ORDER[node.op]
        text_order = node.left.type is ExprType.TEXT and node.op not in ("==", "!=")

        def body(args: list[Sql]) -> Sql:
            first = sqlops.ordered(self.ctx, args[0]) if text_order else args[0]
            return sa.type_coerce(compare(first, args[1]), sa.Boolean())

        return self._build([left, right], body)

    def _Logic(self, node: Logic) -> _Piece:
        combine = sa.and_ if node.op == "and" else sa.or_
        parts = [self.compile(node.left), self.compile(node.right)]
        return self._build(parts, lambda a: combine(a[0], a[1]).self_group())

    def _Not(self, node: Not) -> _Piece:
        return self._build([self.compile(node.operand)], lambda a: sa.not_(a[0]))

    def _InList(self, node: InList) -> _Piece:
        scale = max(item.scale for item in (node.needle, *node.items))
        parts = [
            self._rescaled(item, self.compile(item), scale) for item in (node.needle, *node.items)
        ]

        def body(args: list[Sql]) -> Sql:
            needle, *items = args
            if len(items) == 1:
                # `x IN ((SELECT …))` is set membership in SQL — FALSE when no row links — so a
                # one-item list is the comparison it means, NULL included.
                return needle != items[0] if node.negated else needle == items[0]
            return needle.not_in(items) if node.negated else needle.in_(items)

        return self._build(parts, body)

    def _InOptions(self, node: InOptions) -> _Piece:
        parts = [self.compile(node.needle), self.compile(node.options)]

        def body(args: list[Sql]) -> Sql:
            values = sqlops.option_values(self.ctx, args[1])
            return args[0].not_in(values) if node.negated else args[0].in_(values)

        return self._build(parts, body)

    def _Call(self, node: Call) -> _Piece:
        sql = node.function.sql
        assert sql is not None, f"{node.function.name} reads no row and is always bound"
        parts = [self.compile(arg) for arg in node.args]
        return self._build(parts, lambda a: sql(node, a, self.ctx))

    def _ToInstant(self, node: ToInstant) -> _Piece:
        return self._build(
            [self.compile(node.operand)], lambda a: sqlops.local_midnight(self.ctx, a[0])
        )


def _grouped(element: Sql) -> Sql:
    """``element`` in parentheses unless it is atomic: SQLAlchemy cannot see through the type
    coercions and the NOTs built here, and SQL's precedence of NOT, = and IS differs from ours."""
    if isinstance(element, ColumnClause | BindParameter | FunctionElement | Grouping | Cast):
        return element
    return Grouping(element)


def _correlated(query: sa.Select[Any], inner: sa.ColumnClause[Any]) -> Sql:
    """A scalar subquery over ``inner``'s table, every other table taken from the outer query."""
    table = inner.table
    assert table is not None
    return query.correlate_except(table).scalar_subquery()


def _column(scope: SqlScope, key: str) -> Sql:
    column = scope.columns.get(key)
    if column is None:
        raise ValueError(f"the SQL scope has no column for field {key!r}")
    return column


def _count_uses(element: Sql, parts: int) -> list[int]:
    uses = [0] * parts
    for item in visitors.iterate(element):
        if isinstance(item, BindParameter) and item.key.startswith("__expr_part_"):
            uses[int(item.key.removeprefix("__expr_part_"))] += 1
    return uses
