"""A form's rows as one actor may read them: the one access-filtered query every reader starts
from.

A list, a record, an expression reaching across a link, a structured filter across a link,
``expand``, the check that a link points at a record one may read, the home page's counts and
the dossier all select from :class:`Readable` — rows within the actor's read scope, live (or
in the trash, when asked), and only the fields not hidden from the actor — so row- and
field-level rules hold for every reader by construction (issue 13: a condition through a link
read a customer's name its reader could not open; issue 14: one access-filtered query).

For an actor who reads every row (administrators, ``"all"`` scopes) the query is the table
itself and nothing else; a scope adds its condition to the WHERE, never a join.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from meridian.access.permissions import FormAccess, form_access
from meridian.core.actor import Actor
from meridian.db.sets import RUN, one_of
from meridian.records.plan import FormPlan, plan_for
from meridian.schema.catalog import find_form
from meridian.schema.expressions import LinkTarget
from meridian.schema.model import Form


@dataclass(frozen=True)
class Readable:
    """One form's rows and fields as one actor may read them.

    :ivar access: the actor's rights on the form.
    :ivar plan: the plan of the form as the actor sees it (hidden fields left out).
    :ivar table: what to select from — the visible form's table, or an alias of it.
    :ivar where: the rows the actor may read: live (or trashed) and within the read scope.
    """

    access: FormAccess
    plan: FormPlan
    table: sa.FromClause
    where: tuple[ColumnElement[bool], ...]

    @classmethod
    def of(
        cls,
        conn: Connection,
        access: FormAccess,
        tz: ZoneInfo,
        *,
        alias: str | None = None,
        deleted: bool | None = False,
        operation: str = "read",
    ) -> Readable:
        """The rows ``access`` may ``operation`` (read, or export for the dossier); live rows,
        trashed ones (``deleted=True``) or both (``None``); aliased when another copy of the
        table may be in the same statement (a link, a self-link)."""
        plan = plan_for(access.visible)
        table: sa.FromClause = plan.tables.main if alias is None else plan.tables.main.alias(alias)
        where: list[ColumnElement[bool]] = []
        if deleted is not None:
            where.append(
                _in_trash(table, deleted) if alias is None else _trash_test(table, deleted)
            )
        scope = access.rows(conn, table, operation, tz)
        if scope is not None:
            where.append(scope)
        return cls(access, plan, table, tuple(where))

    @property
    def form(self) -> Form:
        return self.plan.form

    def select(self, *columns: Any) -> sa.Select[Any]:
        """``columns`` (by default every visible column) of the readable rows."""
        return sa.select(*(columns or (self.table,))).where(*self.where)

    def condition(self) -> ColumnElement[bool] | None:
        """``where`` as one condition, None when there is none."""
        return sa.and_(*self.where) if self.where else None

    def ids(self, conn: Connection, wanted: Iterable[int]) -> set[int]:
        """Which of ``wanted`` the actor may read: one query per 900 ids (a few ids — a
        record's links — by a statement made once for these readable rows)."""
        ordered = sorted(set(wanted))
        if 0 < len(ordered) < RUN:
            few = _few_ids(self.table, self.where, conn.dialect.name == "postgresql")
            return set(conn.scalars(few, {_IDS: ordered}))
        found: set[int] = set()
        id_column = self.table.c.id
        for start in range(0, len(ordered), 900):
            chunk = ordered[start : start + 900]
            found.update(conn.scalars(self.select(id_column).where(one_of(conn, id_column, chunk))))
        return found

    def count(self, conn: Connection) -> int:
        statement = sa.select(sa.func.count()).select_from(self.table).where(*self.where)
        return int(conn.execute(statement).scalar_one())


def _trash_test(table: sa.FromClause, deleted: bool) -> ColumnElement[bool]:
    deleted_at = table.c.deleted_at
    return deleted_at.is_not(None) if deleted else deleted_at.is_(None)


@functools.lru_cache(maxsize=512)
def _in_trash(table: sa.FromClause, deleted: bool) -> ColumnElement[bool]:
    """:func:`_trash_test` of a form's table, made once: the same condition object in every
    request's statements lets :func:`_few_ids` reuse its statement."""
    return _trash_test(table, deleted)


_IDS = "meridian_ids"


@functools.lru_cache(maxsize=512)
def _few_ids(
    table: sa.FromClause, where: tuple[ColumnElement[bool], ...], postgresql: bool
) -> sa.Select[Any]:
    """The ids among a parameter's that pass ``where``: one statement per table and
    condition objects (an actor whose rows are not limited has the same ones every time), so
    SQLAlchemy keys its compiled form once."""
    id_column = table.c.id
    if postgresql:
        among = id_column == sa.any_(sa.bindparam(_IDS, type_=ARRAY(id_column.type)))
    else:
        among = id_column.in_(sa.bindparam(_IDS, expanding=True))
    return sa.select(id_column).where(*where, among)


def readable_select(
    *,
    conn: Connection,
    actor: Actor,
    form: Form,
    tz: ZoneInfo,
    deleted: bool | None = False,
) -> sa.Select[Any]:
    """``SELECT`` of ``form`` restricted to what ``actor`` may read — row scope, soft delete and
    hidden fields — for a reader to add its own WHERE, ORDER BY and LIMIT to. Readers of
    records (lists, reports, exports, segments) start here."""
    return Readable.of(conn, form_access(conn, actor, form), tz, deleted=deleted).select()


def readable_counts(
    *, conn: Connection, actor: Actor, forms: Sequence[Form], tz: ZoneInfo
) -> list[tuple[Form, int]]:
    """How many live records of each form the actor may read; forms it may not read are left
    out."""
    counts = []
    for form in forms:
        access = form_access(conn, actor, form)
        if access.may("read"):
            counts.append((form, Readable.of(conn, access, tz).count(conn)))
    return counts


class LinkedReadable:
    """The forms a form links to, as one actor reads them (``sql_scope_for``'s ``targets``):
    a linked record the actor may not read is empty, a hidden field of it unknown."""

    def __init__(self, conn: Connection, actor: Actor, tz: ZoneInfo) -> None:
        self.conn = conn
        self.actor = actor
        self.tz = tz
        self._seen: dict[tuple[str, str], LinkTarget] = {}

    def __call__(self, alias: str, target: Form) -> LinkTarget:
        key = (alias, target.key)
        found = self._seen.get(key)
        if found is None:
            # The stored definition: for a self-link the caller may hold the visible form.
            stored = find_form(self.conn, target.key) or target
            rows = Readable.of(
                self.conn, form_access(self.conn, self.actor, stored), self.tz, alias=alias
            )
            found = self._seen[key] = LinkTarget(rows.form, rows.table, rows.condition())
        return found
