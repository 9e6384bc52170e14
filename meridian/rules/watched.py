"""The indexes a time rule's minute scan reads through, created when the rule is saved.

DESIGN.md: date fields that rules watch are indexed. A date field always is (its type says
so); an inactivity rule watches ``updated_at``, or the newest ``created_at`` of a linked form,
which nothing indexed: the scan then read every record of the form inside the write lock each
minute (issue 21: 2.5 s at 1M customers). These indexes are over live rows, like the scan.
On PostgreSQL they are built by the view-index job, ``CONCURRENTLY``: the rule's save does
not hold the form's writers for the build (``schema.view_indexes.ensure_index``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import Connection

from meridian.schema.catalog import find_form
from meridian.schema.view_indexes import RULE_PREFIX, ensure_index


def index_watched_columns(conn: Connection, form_key: str, trigger: Mapping[str, Any]) -> None:
    """Make sure the columns ``trigger``'s scan selects on are indexed."""
    if trigger.get("type") != "no_activity":
        return
    form = find_form(conn, form_key)
    if form is not None:
        ensure_index(conn, form, ("updated_at",), RULE_PREFIX)
    activity = trigger.get("activity")
    if not activity:
        return
    linked = find_form(conn, str(activity.get("form")))
    link = linked.get_field(str(activity.get("link_field"))) if linked else None
    if linked is None or link is None or link.archived:
        return
    ensure_index(conn, linked, ("created_at",), RULE_PREFIX)
    ensure_index(conn, linked, (link.key, "created_at"), RULE_PREFIX)
