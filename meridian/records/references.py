"""Set-based checks that referenced users and records exist and unique values are free."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.db.sets import one_of
from meridian.db.tables import files, users
from meridian.errors import ErrorCollector
from meridian.records.values import ParsedRecord
from meridian.schema.catalog import get_form
from meridian.schema.compile import compile_form
from meridian.schema.model import Form

_FILES = "@files"
"""Attachment ids are checked like links, against the file store's table."""


def check_references(
    conn: Connection,
    form: Form,
    records: Sequence[ParsedRecord],
    errors: ErrorCollector,
    prefixes: Sequence[str],
) -> None:
    """One query per target form (and one each for users and files) for the whole batch."""
    wanted: dict[str, set[int]] = defaultdict(set)
    wanted_users: set[int] = set()
    link_fields = [f for f in form.active_fields if f.type == "link"]
    attachment_keys = [f.key for f in form.active_fields if f.type == "attachment"]
    user_keys = ["owner_id", *(f.key for f in form.active_fields if f.type == "user")]
    for record in records:
        for f in link_fields:
            given = record.pairs.get(f.key) if f.many else [record.columns.get(f.key)]
            wanted[f.target or ""].update(i for i in given or () if i is not None)
        for key in attachment_keys:
            wanted[_FILES].update(record.columns.get(key) or ())
        wanted_users.update(record.columns[k] for k in user_keys if record.columns.get(k))
    existing: dict[str, set[int]] = {}
    for target, target_ids in wanted.items():
        if target == _FILES:
            existing[target] = _existing(conn, files.c.id, target_ids, sa.true())
            continue
        target_table = compile_form(get_form(conn, target)).main
        existing[target] = _existing(
            conn, target_table.c.id, target_ids, target_table.c.deleted_at.is_(None)
        )
    live_users = _existing(conn, users.c.id, wanted_users, users.c.is_active.is_(True))
    for record, prefix in zip(records, prefixes, strict=True):
        for f in link_fields:
            ids = record.pairs.get(f.key) if f.many else [record.columns.get(f.key)]
            for i in ids or ():
                if i is not None and i not in existing[f.target or ""]:
                    errors.add(
                        prefix + f.key,
                        "unknown_reference",
                        f"{f.target} record {i} does not exist",
                        i,
                    )
        for key in attachment_keys:
            for file_id in record.columns.get(key) or ():
                if file_id not in existing[_FILES]:
                    message = f"file {file_id} does not exist"
                    errors.add(prefix + key, "unknown_file", message, file_id)
        for key in user_keys:
            user_id = record.columns.get(key)
            if user_id and user_id not in live_users:
                errors.add(prefix + key, "unknown_user", f"user {user_id} does not exist", user_id)


def _existing(conn: Connection, column: Any, ids: set[int], live: Any) -> set[int]:
    if not ids:
        return set()
    found: set[int] = set()
    ordered = sorted(ids)
    for start in range(0, len(ordered), 900):
        chunk = ordered[start : start + 900]
        query = sa.select(column).where(one_of(conn, column, chunk), live)
        found.update(conn.execute(query).scalars())
    return found


def check_unique(
    conn: Connection,
    form: Form,
    records: Sequence[ParsedRecord],
    errors: ErrorCollector,
    prefixes: Sequence[str],
    own_ids: Sequence[int | None],
) -> None:
    """Unique values must be free among live records and distinct within the batch."""
    table = compile_form(form).main
    for f in form.active_fields:
        if not f.unique:
            continue
        given: dict[Any, list[int]] = defaultdict(list)
        for position, record in enumerate(records):
            value = record.columns.get(f.key)
            if value is not None:
                given[value].append(position)
        if not given:
            continue
        column = table.c[f.key]
        taken: dict[Any, int] = {}
        values = list(given)
        for start in range(0, len(values), 900):
            chunk = values[start : start + 900]
            query = sa.select(column, table.c.id).where(
                one_of(conn, column, chunk), table.c.deleted_at.is_(None)
            )
            taken.update((row[0], row[1]) for row in conn.execute(query))
        for value, positions in given.items():
            holder = taken.get(value)
            for position in positions:
                clash = (holder is not None and holder != own_ids[position]) or len(positions) > 1
                if clash:
                    where = (
                        f"record {holder}" if holder is not None else "another record in this batch"
                    )
                    errors.add(
                        prefixes[position] + f.key,
                        "duplicate",
                        f"{f.label} {value!r} is already used by {where}",
                        value,
                    )
