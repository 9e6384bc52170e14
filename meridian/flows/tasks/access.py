"""Who may see and change a task.

A task is the assignee's, its creator's and the administrators'; a task about a record is also
seen by whoever may read the record and changed by whoever may edit it — decided by the same
access-filtered query every reader of records uses (``records.readable``), one query per form
whatever the number of tasks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection, Row

from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.records.readable import Readable
from meridian.schema.catalog import find_form


def sees_every_task(actor: Actor) -> bool:
    """Administrators (and Meridian itself), unless an API token narrows them."""
    return actor.is_admin and actor.token is None


def _personal(actor: Actor, row: Row[Any]) -> bool:
    if sees_every_task(actor):
        return True
    return actor.user_id is not None and actor.user_id in (row.assignee_id, row.created_by)


def records_allowing(
    conn: Connection,
    actor: Actor,
    links: Iterable[tuple[str, int]],
    operation: str,
    tz: ZoneInfo,
) -> set[tuple[str, int]]:
    """Which (form, record) pairs ``actor`` may ``operation`` (read or update); one query per
    form, and none for a form that no longer exists."""
    by_form: dict[str, set[int]] = {}
    for form_key, record_id in links:
        by_form.setdefault(form_key, set()).add(record_id)
    allowed: set[tuple[str, int]] = set()
    for form_key, ids in by_form.items():
        form = find_form(conn, form_key)
        if form is None:
            continue
        access = form_access(conn, actor, form)
        if not access.may("read" if operation == "read" else operation):
            continue
        readable = Readable.of(conn, access, tz, operation=operation)
        allowed.update((form_key, record_id) for record_id in readable.ids(conn, ids))
    return allowed


def permitted(
    conn: Connection, actor: Actor, rows: Sequence[Row[Any]], operation: str, tz: ZoneInfo
) -> set[int]:
    """The ids of ``rows`` (tasks) the actor may ``operation``: "read" or "update"."""
    allowed = {row.id for row in rows if _personal(actor, row)}
    linked = [row for row in rows if row.id not in allowed and row.form_key and row.record_id]
    if linked:
        records = records_allowing(
            conn, actor, ((row.form_key, row.record_id) for row in linked), operation, tz
        )
        allowed.update(row.id for row in linked if (row.form_key, row.record_id) in records)
    return allowed
