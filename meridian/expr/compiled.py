"""Parse and check once; evaluate per record in Python or compile to SQL as often as needed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Dialect

from meridian.expr.checker import check
from meridian.expr.evaluate import Closure, compile_python
from meridian.expr.nodes import Node
from meridian.expr.parser import parse
from meridian.expr.runtime import Env
from meridian.expr.sql import SqlScope, compile_sql
from meridian.expr.sqlops import Sql, SqlContext
from meridian.expr.types import ExprType, Scope

_DIALECTS = ("sqlite", "postgresql")


def compile_expression(source: str, scope: Scope) -> CompiledExpression:
    """Parse and type-check ``source`` against ``scope``.

    :raises ExpressionError: with the position, English and Chinese messages and, for a
        misspelt name, a suggestion.
    """
    tree, fields_used = check(parse(source), scope, source)
    return CompiledExpression(
        source=source,
        result_type=tree.type,
        fields_used=fields_used,
        tree=tree,
        closure=compile_python(tree),
    )


def _zone(now: datetime) -> ZoneInfo:
    zone: tzinfo | None = now.tzinfo
    if isinstance(zone, ZoneInfo):
        return zone
    if zone is UTC:
        return ZoneInfo("UTC")
    raise ValueError(f"now must carry the workspace ZoneInfo time zone, not {zone!r}")


def environment(
    record: Mapping[str, Any],
    *,
    today: date,
    now: datetime,
    related: Mapping[str, Any] | None = None,
    user: int | None = None,
) -> Env:
    """What an evaluation reads (the arguments are those of :meth:`CompiledExpression.evaluate`):
    built once, it serves many closures over the same record — a save checks every rule's
    condition against the record it saved."""
    return Env(record, related or {}, today, now, _zone(now), user)


@dataclass(frozen=True, eq=False)
class CompiledExpression:
    """A checked expression, ready for both back ends.

    :ivar source: the expression as written.
    :ivar result_type: what it evaluates to (``BOOLEAN`` for a condition).
    :ivar fields_used: the field paths it reads: ``amount``, ``customer.level`` (a link),
        ``items.qty`` (a child-table field) and ``items`` for ``COUNT(items)``.
    """

    source: str
    result_type: ExprType
    fields_used: frozenset[str]
    tree: Node = field(repr=False)
    closure: Closure = field(repr=False)

    def evaluate(
        self,
        record: Mapping[str, Any],
        *,
        today: date,
        now: datetime,
        related: Mapping[str, Any] | None = None,
        user: int | None = None,
    ) -> Any:
        """The value for one record, with SQL's semantics (a condition passes only if True).

        :param record: field key → logical value (``Decimal`` for money, ``int``, ``str``,
            ``bool``, ``date``, aware ``datetime``, ``list[str]`` for a multi-select); a missing
            key reads as empty.
        :param today: the workspace's current date.
        :param now: the current time, aware, in the workspace's ``ZoneInfo`` zone (the zone
            decides which date a date-time falls on).
        :param related: link key → the linked record's values (or None), and child-table key
            → a list of its lines' values.
        :param user: the acting user's id, what ``CURRENT_USER()`` reads (empty when none).
        """
        return self.closure(environment(record, today=today, now=now, related=related, user=user))

    def to_sql(
        self,
        sql_scope: SqlScope,
        *,
        dialect: str | Dialect,
        today: date,
        now: datetime,
        user: int | None = None,
    ) -> Sql:
        """The expression as one SQLAlchemy column expression over ``sql_scope``'s columns.

        The value equals :meth:`evaluate`'s for every row: numbers come out as NUMERIC on
        PostgreSQL and as REAL on SQLite; ``TODAY()``, ``NOW()`` and ``CURRENT_USER()`` are
        bound from ``today``, ``now`` and ``user``. Use it in ``where()`` for a condition: only
        TRUE passes, as in Python.
        """
        name = dialect if isinstance(dialect, str) else dialect.name
        if name not in _DIALECTS:
            raise ValueError(f"unsupported dialect {name!r}")
        return compile_sql(self.tree, sql_scope, SqlContext(name, today, now, _zone(now), user))
