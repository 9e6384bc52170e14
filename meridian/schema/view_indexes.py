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

SQLite builds a new index in the caller's transaction. PostgreSQL would hold the table's writers
for the whole build there, so the transaction only enqueues a job (``BUILD``); the view works at
once, unindexed. The job
(:func:`build_view_indexes`) builds on an autocommit connection with ``CREATE INDEX
CONCURRENTLY`` (writers go on meanwhile), one job per table at a time (an advisory lock), first
dropping the INVALID leftovers of a build that died, so a job run twice or after a killed one
ends with exactly the valid indexes the views ask for.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from meridian.db.statistics import analyze
from meridian.db.tables import saved_views
from meridian.jobs.queue import JobContext, enqueue
from meridian.schema.catalog import find_form
from meridian.schema.compile import bounded_name, compile_form
from meridian.schema.ddl import create_trigram_index, trigram_index_name
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Form

PREFIX = "ax_"
RULE_PREFIX = "rx_"
"""The indexes time rules ask for (``rules.watched``): kept while the rule may come back."""
SYSTEM_KEYS = ("created_at", "updated_at", "owner_id")
MAX_COLUMNS = 6
"""Longer shapes are cut: past a few equality fields an index only grows."""
BUILD = "schema.view_indexes"
"""The job that builds a form's view indexes on PostgreSQL (payload: ``{"form": key}``)."""
DEAD_CLIENT_CHECK = "5s"
"""How often a building backend checks that its worker still lives (a killed worker's build
stops instead of running on to its end)."""


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


def index_of(
    form: Form, columns: tuple[str, ...], prefix: str = PREFIX, *, concurrently: bool = False
) -> sa.Index:
    """The index for ``columns`` on the form's table (live rows, ending with ``deleted_at``);
    ``concurrently``: built with PostgreSQL's ``CREATE INDEX CONCURRENTLY``."""
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
        postgresql_concurrently=concurrently,
    )


def wanted_indexes(
    conn: Connection, form: Form, *, concurrently: bool = False
) -> dict[str, sa.Index]:
    """Every index the saved views of ``form`` ask for, by name."""
    settings = conn.scalars(
        sa.select(saved_views.c.settings).where(saved_views.c.form_key == form.key)
    )
    found: dict[str, sa.Index] = {}
    for item in settings:
        columns = wanted_columns(form, item) if isinstance(item, dict) else None
        if columns:
            index = index_of(form, columns, concurrently=concurrently)
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
    """Make sure the index for ``columns`` exists (it is never dropped by reconciling); True
    when it was created here. On PostgreSQL a missing one is left to a :data:`BUILD` job
    (enqueued here, it commits with the caller), built ``CONCURRENTLY`` as a view's is: built
    in this transaction it would hold the table's writers for the whole build."""
    index = index_of(form, columns, prefix)
    table = compile_form(form).main.name
    if conn.dialect.name == "postgresql":
        if not _postgres_indexes(conn, table, (prefix,)).get(str(index.name), False):
            enqueue(conn, BUILD, {"form": form.key, "keep": [[prefix, list(columns)]]})
        return False
    if str(index.name) in existing_indexes(conn, table, (prefix,)):
        return False
    index.create(conn)
    analyze(conn, [table])
    return True


def reconcile_view_indexes(conn: Connection, form: Form) -> list[str]:
    """Create the indexes the form's views ask for and drop those none asks for anymore, in
    the caller's transaction; returns the names wanted but not there before.

    On PostgreSQL both are left to a :data:`BUILD` job, enqueued here (it commits with the
    views that ask): a ``DROP INDEX`` in this transaction would wait for a build running on the
    table, and the table's writers would queue behind it."""
    table = compile_form(form).main.name
    wanted = wanted_indexes(conn, form)
    if conn.dialect.name == "postgresql":
        built = _postgres_indexes(conn, table)
        valid = {name for name, ok in built.items() if ok}
        if valid != {*wanted, trigram_index_name(table)} or len(valid) != len(built):
            enqueue(conn, BUILD, {"form": form.key})
        return sorted(wanted.keys() - valid)
    quote = conn.dialect.identifier_preparer.quote
    present = existing_indexes(conn, table)
    for name in present.keys() - wanted.keys():
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {quote(name)}")
    created = sorted(wanted.keys() - present.keys())
    for name in created:
        wanted[name].create(conn)
    if created:
        analyze(conn, [table])  # the planner weighs the new index by its statistics
    return created


def _postgres_indexes(
    conn: Connection, table: str, prefixes: tuple[str, ...] = (PREFIX,)
) -> dict[str, bool]:
    """The automatic indexes of ``prefixes`` and the trigram index on ``table`` (in the search
    path) → whether each is valid (a build in progress or killed mid-way leaves an invalid
    one)."""
    rows = conn.execute(
        sa.text(
            "SELECT c.relname, i.indisvalid FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = to_regclass(:table) "
            "AND (EXISTS (SELECT FROM unnest(CAST(:prefixes AS text[])) AS p "
            "WHERE starts_with(c.relname, p)) OR c.relname = :trigram)"
        ),
        {"table": table, "prefixes": list(prefixes), "trigram": trigram_index_name(table)},
    )
    return {str(name): bool(valid) for name, valid in rows}


def build_view_indexes(
    engine: Engine, form_key: str, keep: Sequence[tuple[str, tuple[str, ...]]] = ()
) -> list[str]:
    """Bring the form's view indexes to what its views ask for without holding its writers:
    on PostgreSQL INVALID leftovers dropped, missing ones built ``CONCURRENTLY``, unwanted ones
    dropped ``CONCURRENTLY``, then statistics, each statement its own transaction; returns the
    names built. ``keep``: other automatic indexes (prefix, columns) to build if missing — a
    time rule's (:func:`ensure_index`), which reconciling never drops. A second build of the
    same form waits for the first (an advisory lock of the session, which a dead worker's
    connection gives up with it)."""
    if engine.dialect.name != "postgresql":
        with engine.begin() as conn:
            form = find_form(conn, form_key)
            if form is None:
                return []
            for prefix, columns in keep:
                ensure_index(conn, form, columns, prefix)
            return reconcile_view_indexes(conn, form)
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql("SET statement_timeout = 0")
        conn.exec_driver_sql(f"SET client_connection_check_interval = '{DEAD_CLIENT_CHECK}'")
        key = sa.select(sa.func.hashtext(f"{BUILD}:{form_key}")).scalar_subquery()
        conn.execute(sa.select(sa.func.pg_advisory_lock(key)))
        try:
            return _build(conn, form_key, keep)
        finally:
            conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))
            conn.exec_driver_sql("RESET statement_timeout")
            conn.exec_driver_sql("RESET client_connection_check_interval")


def _build(
    conn: Connection, form_key: str, keep: Sequence[tuple[str, tuple[str, ...]]]
) -> list[str]:
    form = find_form(conn, form_key)
    if form is None:
        return []  # the form went before its indexes were built
    table = compile_form(form).main.name
    quote = conn.dialect.identifier_preparer.quote
    present = _postgres_indexes(conn, table, (PREFIX, *{prefix for prefix, _ in keep}))
    for name, ok in present.items():
        if not ok:  # a build that died: its index holds nothing usable
            conn.exec_driver_sql(f"DROP INDEX CONCURRENTLY IF EXISTS {quote(name)}")
    valid = {name for name, ok in present.items() if ok}
    wanted = wanted_indexes(conn, form, concurrently=True)
    kept = {
        str(index.name): index
        for index in (index_of(form, cols, prefix, concurrently=True) for prefix, cols in keep)
    }
    wanted_or_kept = {**wanted, **kept}
    built = sorted(wanted_or_kept.keys() - valid)
    trigram = trigram_index_name(table)
    if trigram not in valid:  # a PostgreSQL retype leaves it to be built here
        create_trigram_index(conn, table, concurrently=True)
        built.append(trigram)
    for name in built:
        if name in wanted_or_kept:
            conn.execute(sa.schema.CreateIndex(wanted_or_kept[name], if_not_exists=True))
    for name in sorted(valid - wanted.keys() - kept.keys() - {trigram}):
        if not name.startswith(PREFIX):
            continue  # a kept index (a rule's) is dropped only with its column
        conn.exec_driver_sql(f"DROP INDEX CONCURRENTLY IF EXISTS {quote(name)}")
    if built:
        analyze(conn, [table])  # the planner weighs the new index by its statistics
    return built


def run_build(context: JobContext) -> None:
    """The :data:`BUILD` job's handler."""
    keep = [(str(prefix), tuple(columns)) for prefix, columns in context.payload.get("keep", [])]
    build_view_indexes(context.engine, str(context.payload["form"]), keep)


def drop_view_indexes_on(conn: Connection, table: str, keys: Iterable[str]) -> None:
    """Drop the automatic indexes that hold any of ``keys`` (before the column changes type or
    goes); a view's comes back with :func:`reconcile_view_indexes`."""
    keys = set(keys)
    quote = conn.dialect.identifier_preparer.quote
    for name, columns in existing_indexes(conn, table, (PREFIX, RULE_PREFIX)).items():
        if keys & set(columns):
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {quote(name)}")
