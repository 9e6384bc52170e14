"""The indexes saved views ask for: what a view filters, sorts, groups or sums on gets an index
when the view is saved, and loses it when no view asks for it anymore.

DESIGN.md's index rule: fields that views filter or sort on are indexed automatically. One
index per distinct shape, over live rows only (every list reads live rows) and ending with
``deleted_at`` so SQLite can answer a count from the index alone:

- a grid: its equality conditions' fields, then its sort (then ``id``), so the filtered first
  page is read in order from the index (1M opportunities: 162 ms without, under 1 ms with);
  a grid with neither equality nor sort gets its first range condition's field;
- a kanban: the board's field, ``updated_at``, ``id`` (the cards' order) and the summed field,
  so counts and sums of every column are index-only.

Indexes are named ``ax_<table>_<hash of the columns>``, so the names say which index is whose
and reconciling is comparing names. A change of a column's type or its purge drops the indexes
on it first (SQLite will not drop an indexed column) and reconciles afterwards.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.db.statistics import analyze
from meridian.db.tables import saved_views
from meridian.schema.compile import bounded_name, compile_form
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Form

PREFIX = "ax_"
RULE_PREFIX = "rx_"
"""The indexes time rules ask for (``rules.watched``): kept while the rule may come back."""
SYSTEM_KEYS = ("created_at", "updated_at", "owner_id")
MAX_COLUMNS = 6
"""Longer shapes are cut: past a few equality fields an index only grows."""


def wanted_columns(form: Form, settings: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The columns of the index one view's settings ask for, or None (none needed)."""
    if settings.get("kind", "grid") == "kanban":
        return _kanban_columns(form, settings)
    if settings.get("kind", "grid") != "grid":
        return None
    equal, ranged = _filter_fields(form, settings.get("filter"))
    sort = [key for key in _sort_keys(settings.get("sort")) if _indexable(form, key)]
    if not equal and not sort:
        if not ranged:
            return None
        return (ranged[0], "id")
    columns = [*dict.fromkeys(equal)][: MAX_COLUMNS - 1]
    columns += [key for key in sort if key not in columns]
    if "id" not in columns:
        columns.append("id")
    return tuple(columns[:MAX_COLUMNS])


def _kanban_columns(form: Form, settings: Mapping[str, Any]) -> tuple[str, ...] | None:
    by = settings.get("by")
    fields = [f for f in form.active_fields if field_type(f).board_grouping]
    grouping = next(
        (f for f in fields if f.key == by), None if by else fields[0] if fields else None
    )
    if grouping is None:
        return None
    summed = form.get_field(str(settings.get("sum") or ""))
    if summed is None or summed.archived or not field_type(summed).summable:
        return None  # the field's own board index serves counts and cards (schema.compile)
    return (grouping.key, "updated_at", "id", summed.key)


def _indexable(form: Form, key: str) -> bool:
    if key in SYSTEM_KEYS or key == "id":
        return True
    field = form.get_field(key)
    return field is not None and not field.archived and field_type(field).sortable(field)


def _sort_keys(text: Any) -> list[str]:
    if not isinstance(text, str):
        return []
    return [part.strip().lstrip("-+") for part in text.split(",") if part.strip()]


def _filter_fields(form: Form, text: Any) -> tuple[list[str], list[str]]:
    """(fields compared for equality, fields compared otherwise) among the top-level AND of a
    view's filter; anything under ``or``/``not`` or across a link is left to the planner."""
    try:
        tree = json.loads(text) if isinstance(text, str) and text else None
    except json.JSONDecodeError:
        return [], []
    if isinstance(tree, dict) and isinstance(tree.get("and"), list):
        conditions = tree["and"]
    else:
        conditions = [tree]
    equal: list[str] = []
    ranged: list[str] = []
    for node in conditions:
        if not isinstance(node, dict) or not isinstance(node.get("field"), str):
            continue
        key = node["field"]
        if not _indexable(form, key):
            continue
        if node.get("op") in ("eq", "is_blank"):
            equal.append(key)
        elif node.get("op") in ("gt", "gte", "lt", "lte", "between", "in"):
            ranged.append(key)
    return equal, ranged


def index_of(form: Form, columns: tuple[str, ...], prefix: str = PREFIX) -> sa.Index:
    """The index for ``columns`` on the form's table (live rows, ending with ``deleted_at``)."""
    # A copy: an index built on the compiled (cached) table would join its indexes.
    table = compile_form(form).main.to_metadata(sa.MetaData())
    digest = hashlib.md5(",".join(columns).encode(), usedforsecurity=False).hexdigest()[:10]
    live = table.c.deleted_at.is_(None)
    return sa.Index(
        bounded_name(f"{prefix}{table.name}_{digest}"),
        *(table.c[key] for key in columns),
        table.c.deleted_at,
        sqlite_where=live,
        postgresql_where=live,
    )


def wanted_indexes(conn: Connection, form: Form) -> dict[str, sa.Index]:
    """Every index the saved views of ``form`` ask for, by name."""
    settings = conn.scalars(
        sa.select(saved_views.c.settings).where(saved_views.c.form_key == form.key)
    )
    found: dict[str, sa.Index] = {}
    for item in settings:
        columns = wanted_columns(form, item) if isinstance(item, dict) else None
        if columns:
            index = index_of(form, columns)
            found[str(index.name)] = index
    return found


def existing_indexes(
    conn: Connection, table: str, prefixes: tuple[str, ...] = (PREFIX,)
) -> dict[str, list[str]]:
    """The view (or other automatic) indexes on ``table`` now: name → its columns."""
    return {
        str(item["name"]): [str(c) for c in item["column_names"]]
        for item in sa.inspect(conn).get_indexes(table)
        if str(item["name"]).startswith(prefixes)
    }


def ensure_index(conn: Connection, form: Form, columns: tuple[str, ...], prefix: str) -> bool:
    """Create the index for ``columns`` unless it exists; True when it was created."""
    index = index_of(form, columns, prefix)
    table = compile_form(form).main.name
    if str(index.name) in existing_indexes(conn, table, (prefix,)):
        return False
    index.create(conn)
    analyze(conn, [table])
    return True


def reconcile_view_indexes(conn: Connection, form: Form) -> list[str]:
    """Create the indexes the form's views ask for and drop those none asks for anymore, in the
    caller's transaction; returns the names created."""
    table = compile_form(form).main.name
    wanted = wanted_indexes(conn, form)
    present = existing_indexes(conn, table)
    quote = conn.dialect.identifier_preparer.quote
    for name in present.keys() - wanted.keys():
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {quote(name)}")
    created = sorted(wanted.keys() - present.keys())
    for name in created:
        wanted[name].create(conn)
    if created:
        analyze(conn, [table])  # the planner weighs the new index by its statistics
    return created


def drop_view_indexes_on(conn: Connection, table: str, keys: Iterable[str]) -> None:
    """Drop the automatic indexes that hold any of ``keys`` (before the column changes type or
    goes); a view's comes back with :func:`reconcile_view_indexes`."""
    keys = set(keys)
    quote = conn.dialect.identifier_preparer.quote
    for name, columns in existing_indexes(conn, table, (PREFIX, RULE_PREFIX)).items():
        if keys & set(columns):
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {quote(name)}")
