"""Conditions and values over one record, in SQL: what rule actions and triggers compute with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.clock import utcnow
from meridian.db.sets import one_of
from meridian.expr import compile_expression
from meridian.schema.compile import compile_form
from meridian.schema.expressions import scope_for, sql_scope_for
from meridian.schema.model import Form


def expression_sql(conn: Connection, form: Form, source: str, tz: ZoneInfo) -> Any:
    now = utcnow(conn).astimezone(tz)
    compiled = compile_expression(source, scope_for(conn, form))
    tables = compile_form(form)
    return compiled.to_sql(
        sql_scope_for(conn, form, tables), dialect=conn.dialect, today=now.date(), now=now
    )


def passing_ids(
    conn: Connection, form: Form, condition: str, ids: Sequence[int], tz: ZoneInfo
) -> list[int]:
    """Which of ``ids`` meet ``condition`` (all of them when there is none), in one query."""
    table = compile_form(form).main
    query = sa.select(table.c.id).where(one_of(conn, table.c.id, ids))
    if condition:
        query = query.where(expression_sql(conn, form, condition, tz))
    return list(conn.scalars(query))


def computed_values(
    conn: Connection, source: Form, record_id: int, values: Mapping[str, Any], tz: ZoneInfo
) -> dict[str, Any]:
    """Literal values as given; ``{"expr": …}`` computed on the record and ``{"field": key}``
    copied from it (a link's id too), in one SQL query."""
    table = compile_form(source).main
    computed = {k: v for k, v in values.items() if not isinstance(v, Mapping)}
    columns = [
        expression_sql(conn, source, v["expr"], tz).label(k)
        if "expr" in v
        else table.c[v["field"]].label(k)
        for k, v in values.items()
        if isinstance(v, Mapping)
    ]
    if columns:
        row = conn.execute(sa.select(*columns).where(table.c.id == record_id)).one()
        computed.update({key: api_value(value) for key, value in row._mapping.items()})
    return computed


def api_value(value: Any) -> Any:
    """A computed value as the records API takes it (exact numbers and dates as text)."""
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal | float):
        return str(value)
    return value
