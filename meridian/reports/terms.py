"""A report's field references resolved against the form as the caller reads it.

``stage``, ``expected_close_date``, ``owner_id``, ``owner_department`` or, one level across a
link, ``customer.level``: each becomes a SQL value over the caller's readable rows. A field
hidden from the caller is unknown here, exactly as in the caller's lists and filters, so a
report can neither group, sum, filter nor drill by it. A linked form is joined as the caller
reads it: a linked record the caller may not read contributes nothing but blanks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.core.i18n import Text
from meridian.db.tables import users
from meridian.errors import FieldError, ValidationFailed
from meridian.records.readable import Readable
from meridian.schema.catalog import find_form
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Field, Form

if TYPE_CHECKING:
    from meridian.reports.history import StageHistory
    from meridian.reports.related import Aggregated

USER_COLUMNS = ("owner_id", "created_by", "updated_by")
TIME_COLUMNS = ("created_at", "updated_at")
OWNER_DEPARTMENT = "owner_department"
"""The pseudo-field: the main department of the record's owner."""

NUMERIC = frozenset({"number"})
ORDERED = frozenset({"number", "date", "datetime"})


def refused(path: str, code: str, message: str, value: Any = None) -> ValidationFailed:
    return ValidationFailed([FieldError(path, code, message, value)])


@dataclass(frozen=True)
class Term:
    """One resolved field reference.

    :ivar ref: the reference as the definition gives it (``customer.level``).
    :ivar column: its SQL value over the report's FROM.
    :ivar kind: select, date, datetime, number, user, department, link, boolean, region, text.
    :ivar field: the field definition (None for system columns).
    :ivar scale: digits after the point of an exact number stored as an integer.
    """

    ref: str
    column: ColumnElement[Any]
    kind: str
    field: Field | None
    scale: int = 0


@dataclass
class Terms:
    """Resolves references for one caller and one form; joins each linked form once."""

    conn: Connection
    actor: Actor
    tz: ZoneInfo
    readable: Readable
    joins: dict[str, tuple[sa.FromClause, ColumnElement[bool]]] = field(default_factory=dict)
    linked: dict[str, Readable] = field(default_factory=dict)
    history: StageHistory | None = None
    """The stage history joined to the rows (a ``stage_visits`` or ``stage_as_of`` report)."""
    related: dict[str, Aggregated] = field(default_factory=dict)
    """Related rows aggregated per record, by their key."""

    @property
    def form(self) -> Form:
        return self.readable.form

    def bare(self) -> Terms:
        """The same rows without the links joined so far (to check a reference only)."""
        return Terms(
            self.conn,
            self.actor,
            self.tz,
            self.readable,
            history=self.history,
            related=self.related,
        )

    def added(self, ref: str) -> bool:
        """Whether ``ref`` names a column the report adds to the form's rows."""
        head, dot, _ = ref.partition(".")
        return bool(dot) and (
            (head == "visit" and self.history is not None) or head in self.related
        )

    def from_clause(self) -> sa.FromClause:
        joined: sa.FromClause = self.readable.table
        if self.history is not None:
            joined = self.history.join(joined)
        for found in self.related.values():
            joined = joined.outerjoin(
                found.subquery, found.subquery.c.rid == self.readable.table.c.id
            )
        for target, onclause in self.joins.values():
            joined = joined.outerjoin(target, onclause)
        return joined

    def resolve(self, ref: str, path: str) -> Term:
        if self.added(ref):
            return self._added(ref, path)
        if "." in ref:
            return self._across_link(ref, path)
        if ref == OWNER_DEPARTMENT:
            owner = self.readable.table.c.owner_id
            department = (
                sa.select(users.c.department_id).where(users.c.id == owner).scalar_subquery()
            )
            return Term(ref, department, "department", None)
        return self._on(self.readable, ref, ref, path)

    def _added(self, ref: str, path: str) -> Term:
        from meridian.reports.related import column

        head, _, name = ref.partition(".")
        created_at = self.readable.table.c.created_at
        if head in self.related:
            sql, kind, scale = column(
                self.related[head], name, created_at, self.history_ctx(), path, ref
            )
            return Term(ref, sql, kind, None, scale)
        assert self.history is not None
        found = self.history.column(name, created_at)
        if found is None:
            raise refused(
                path,
                "unknown_field",
                Text("the stage history has no column {key!r}", key=name),
                ref,
            )
        sql, kind, field_def, scale = found
        return Term(ref, sql, kind, field_def, scale)

    def history_ctx(self) -> Any:
        from meridian.core.clock import utcnow
        from meridian.expr.sqlops import SqlContext

        now = utcnow(self.conn).astimezone(self.tz)
        return SqlContext(self.conn.dialect.name, now.date(), now, self.tz)

    def _on(self, rows: Readable, key: str, ref: str, path: str) -> Term:
        table = rows.table
        if key in USER_COLUMNS:
            return Term(ref, table.c[key], "user", None)
        if key in TIME_COLUMNS:
            return Term(ref, table.c[key], "datetime", None)
        if key == "id":
            return Term(ref, table.c.id, "id", None)
        found = rows.form.get_field(key)
        if found is None or found.archived or key not in table.c:
            raise refused(
                path,
                "unknown_field",
                Text("form {form_key!r} has no field {key!r}", form_key=rows.form.key, key=key),
                ref,
            )
        kind = _kind_of(found)
        if kind is None:
            raise refused(
                path,
                "unreportable_field",
                Text(
                    "a report cannot group or aggregate {type} field {key!r}",
                    type=found.type,
                    key=key,
                ),
                ref,
            )
        scale = 0
        if kind == "number":
            storage_scale = getattr(field_type(found), "storage_scale", None)
            scale = storage_scale(found) if storage_scale is not None else 0
        return Term(ref, table.c[key], kind, found, scale)

    def _across_link(self, ref: str, path: str) -> Term:
        link_key, _, target_key = ref.partition(".")
        link = self.form.get_field(link_key)
        if link is None or link.archived or not field_type(link).links_records or link.many:
            raise refused(
                path,
                "unknown_field",
                Text("{ref!r} is not <link field>.<field> of one link", ref=ref),
                ref,
            )
        rows = self.linked.get(link_key)
        if rows is None:
            target = find_form(self.conn, link.target or "")
            if target is None:
                raise refused(
                    path, "unknown_field", Text("{key!r} links to no form", key=link_key), ref
                )
            rows = Readable.of(
                self.conn,
                form_access(self.conn, self.actor, target),
                self.tz,
                alias=f"l_{link_key}",
            )
            onclause = sa.and_(self.readable.table.c[link_key] == rows.table.c.id, *rows.where)
            self.linked[link_key] = rows
            self.joins[link_key] = (rows.table, onclause)
        if target_key == OWNER_DEPARTMENT:
            raise refused(
                path, "unknown_field", Text("the owner's department is of this form only"), ref
            )
        return self._on(rows, target_key, ref, path)


def _kind_of(found: Field) -> str | None:
    """How a report reads the field (``FieldType.report_kind``)."""
    return field_type(found).report_kind(found)
