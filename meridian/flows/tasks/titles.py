"""What a task's record is called: its form's title field ("机柜扩容 二期"), not "商机 #12".

The tasks of a list link to records of several forms; their titles come in one statement, a
UNION ALL of one SELECT per form present (each ``id IN (…)`` its records), never a query per
task. A form without a title field is named by its first free-text field; a record without
one leaves the caller's "#id"."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.db.sets import one_of
from meridian.schema.catalog import find_form
from meridian.schema.compile import compile_form
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Field, Form


def _title_field(form: Form) -> Field | None:
    """The form's title field, else its first free-text field (a form made without one)."""
    if form.title_field:
        return form.get_field(form.title_field)
    return next((f for f in form.active_fields if field_type(f).retype_family == "free_text"), None)


def record_titles(conn: Connection, tasks: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """``"form_key:record_id"`` → the record's title, for the tasks' linked records."""
    wanted: dict[str, set[int]] = {}
    for task in tasks:
        if task.get("form_key") and task.get("record_id"):
            wanted.setdefault(str(task["form_key"]), set()).add(int(task["record_id"]))
    parts = []
    for key, ids in sorted(wanted.items()):
        form = find_form(conn, key)
        title = _title_field(form) if form else None
        if form is None or title is None:
            continue
        table = compile_form(form).main
        parts.append(
            sa.select(
                sa.literal(key, sa.String()).label("form_key"),
                table.c.id.label("record_id"),
                sa.cast(table.c[title.key], sa.String()).label("title"),
            ).where(one_of(conn, table.c.id, sorted(ids)))
        )
    if not parts:
        return {}
    query = parts[0] if len(parts) == 1 else sa.union_all(*parts)
    return {
        f"{row.form_key}:{row.record_id}": row.title
        for row in conn.execute(query)
        if row.title not in (None, "")
    }
