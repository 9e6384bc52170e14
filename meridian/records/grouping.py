"""How many records there are per value of a field, and the sum of a number field in each:
one grouped statement over the rows the actor may read.

A kanban column shows its first cards only; its count and its sum are of every record in the
column (issue 15: after a drag the counts became the number of cards loaded, 49/50 instead of
322/308), so they come from the database, for all columns at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.core.i18n import Text
from meridian.core.timezones import DEFAULT_TIME_ZONE
from meridian.errors import FieldError, ValidationFailed
from meridian.records.listing import RecordQuery, where_clause
from meridian.records.readable import Readable
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Field, Form


def groups(field: Field) -> bool:
    """A board can group by the field: one column per option (``FieldType.board_grouping``)."""
    return field_type(field).board_grouping


def sums(field: Field) -> bool:
    """A column may show the field's sum: a stored number, whose sum is exact
    (``FieldType.summable``; money and decimals are scaled integers)."""
    return field_type(field).summable


@dataclass(frozen=True)
class GroupTotal:
    """One value of the grouping field: how many readable records hold it, and their sum."""

    count: int
    sum: Decimal | None


def summable_fields(form: Form) -> list[Field]:
    """The fields a column may show the sum of."""
    return [f for f in form.active_fields if sums(f)]


def group_totals(
    *,
    conn: Connection,
    actor: Actor,
    form: Form,
    by: str,
    sum_of: str | None = None,
    search: str | None = None,
    tz: ZoneInfo = DEFAULT_TIME_ZONE,
) -> dict[str | None, GroupTotal]:
    """Per value of ``by`` (None for blank), the count and the sum of ``sum_of`` over the
    records ``actor`` may read that match ``search``; a field hidden from the actor is
    unknown here, as everywhere."""
    access = form_access(conn, actor, form)
    access.require("read")
    visible = access.visible
    grouping = visible.get_field(by)
    if grouping is None or not groups(grouping):
        raise ValidationFailed(
            [FieldError("by", "invalid_grouping", Text("choose a single select field"), by)]
        )
    summed = visible.get_field(sum_of) if sum_of else None
    if sum_of and (summed is None or not sums(summed)):
        raise ValidationFailed(
            [FieldError("sum", "invalid_sum", Text("choose a number or money field"), sum_of)]
        )
    readable = Readable.of(conn, access, tz)
    table = readable.plan.tables.main
    key = table.c[grouping.key]
    total = sa.func.sum(table.c[summed.key]) if summed is not None else sa.null()
    statement = (
        sa.select(key, sa.func.count(), total)
        .select_from(table)
        .where(where_clause(conn, readable, RecordQuery(search=search), tz))
        .group_by(key)
    )
    found: dict[str | None, GroupTotal] = {}
    for value, count, amount in conn.execute(statement):
        value = value or None  # blank text and NULL are one column
        before = found.get(value)
        amount = _decimal(summed, amount) if summed is not None else None
        if before is not None:
            count += before.count
            amount = _add(before.sum, amount)
        found[value] = GroupTotal(int(count), amount)
    return found


def _decimal(field: Field, stored: Any) -> Decimal | None:
    """A stored sum as a number: scaled integers back to their decimals."""
    if stored is None:
        return None
    return Decimal(str(field_type(field).dump(field, int(stored))))


def _add(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    if a is None or b is None:
        return a if b is None else b
    return a + b
