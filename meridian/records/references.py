"""Set-based checks that referenced users and records exist and unique values are free."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.core.i18n import Text
from meridian.db.sets import RUN, one_of
from meridian.db.tables import users
from meridian.errors import ErrorCollector
from meridian.records.files import usable_files
from meridian.records.plan import plan_for
from meridian.records.readable import Readable
from meridian.records.values import ParsedRecord
from meridian.schema.catalog import get_form
from meridian.schema.compile import compile_form
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Field, Form
from meridian.schema.values.filetypes import file_problem, unknown_file


def check_references(
    conn: Connection,
    form: Form,
    records: Sequence[ParsedRecord],
    errors: ErrorCollector,
    prefixes: Sequence[str],
    *,
    actor: Actor,
    tz: ZoneInfo,
    kept: Sequence[Mapping[str, Collection[int]]] | None = None,
) -> None:
    """One query per target form (and one each for users and files) for the whole batch.

    A link must point at a live record the actor may read (:class:`Readable`); one it may not
    read is refused exactly as a missing one, so a write cannot tell whether an id exists.
    ``kept`` holds, per record, the ids each link field already points at: a link left as it
    is stays valid while its target lives, whoever may read that.
    """
    wanted: dict[str, set[int]] = defaultdict(set)
    wanted_users: set[int] = set()
    plan = plan_for(form)
    link_fields, user_keys = plan.link_fields, plan.user_keys
    _check_attachments(conn, form, records, errors, prefixes, actor, tz)
    if link_fields:
        for record in records:
            for f in link_fields:
                given = record.pairs.get(f.key) if f.many else [record.columns.get(f.key)]
                wanted[f.target or ""].update(i for i in given or () if i is not None)
    for key in user_keys:  # a column at a time: most forms hold the owner alone, often unset
        wanted_users.update(filter(None, [record.columns.get(key) for record in records]))
    existing: dict[str, set[int]] = {}
    for target, target_ids in wanted.items():
        target_form = get_form(conn, target)
        readable = Readable.of(conn, form_access(conn, actor, target_form), tz)
        existing[target] = readable.ids(conn, target_ids)
    kept_live = _kept_live(conn, link_fields, records, kept or (), existing)
    live_users = _existing(conn, users.c.id, wanted_users, users.c.is_active.is_(True))
    if not link_fields and wanted_users <= live_users:
        return  # nothing to refuse: no record of the batch needs looking at again
    for position, (record, prefix) in enumerate(zip(records, prefixes, strict=True)):
        for f in link_fields:
            ids = record.pairs.get(f.key) if f.many else [record.columns.get(f.key)]
            unchanged = kept[position].get(f.key, ()) if kept is not None else ()
            for i in ids or ():
                if i is None or i in existing[f.target or ""]:
                    continue
                if i in unchanged and i in kept_live.get(f.target or "", ()):
                    continue
                errors.add(
                    prefix + f.key,
                    "unknown_reference",
                    Text(
                        "{target} record {record_id} does not exist", target=f.target, record_id=i
                    ),
                    i,
                )
        for key in user_keys:
            user_id = record.columns.get(key)
            if user_id and user_id not in live_users:
                errors.add(
                    prefix + key,
                    "unknown_user",
                    Text("user {user_id} does not exist", user_id=user_id),
                    user_id,
                )


def _check_attachments(
    conn: Connection,
    form: Form,
    records: Sequence[ParsedRecord],
    errors: ErrorCollector,
    prefixes: Sequence[str],
    actor: Actor,
    tz: ZoneInfo,
) -> None:
    """Every file given to an attachment field (line items' too) must be one the actor may
    use (``usable_files``: else it is refused exactly as an unknown id is) and must meet the
    field's rules on type and size. One lookup for the whole batch."""
    given: list[tuple[str, Field, list[str]]] = []
    file_fields = plan_for(form).file_fields
    if not file_fields:
        return  # most forms: no need to look at every record of a batch
    for record, prefix in zip(records, prefixes, strict=True):
        for f in file_fields:
            if record.columns.get(f.key):
                given.append((prefix + f.key, f, record.columns[f.key]))
            elif field_type(f).holds_lines and record.lines.get(f.key):
                line_files = [line for line in f.fields if field_type(line).holds_files]
                for index, line in enumerate(record.lines[f.key]):
                    for lf in line_files:
                        if line.get(lf.key):
                            path = f"{prefix}{f.key}.{index}.{lf.key}"
                            given.append((path, lf, line[lf.key]))
    if not given:
        return
    tokens = {token for _, _, listed in given for token in listed}
    usable = usable_files(conn=conn, actor=actor, tokens=tokens, tz=tz)
    for path, f, listed in given:
        for token in listed:
            found = usable.get(token)
            if found is None:
                errors.add(path, "unknown_file", unknown_file(token), token)
                continue
            problem = file_problem(
                accept=f.accept,
                max_size=f.max_size,
                name=found["name"],
                kind=found["kind"],
                size=found["size"],
            )
            if problem is not None:
                code, message = problem
                named = Text("{name}: {message}", name=found["name"][:80], message=message)
                errors.add(path, code, named, token)


def _kept_live(
    conn: Connection,
    link_fields: Sequence[Field],
    records: Sequence[ParsedRecord],
    kept: Sequence[Mapping[str, Collection[int]]],
    readable: Mapping[str, set[int]],
) -> dict[str, set[int]]:
    """Of the ids links already point at, the write gives again and the actor may not read,
    the live ones (a query only when there are such ids: a write that leaves a link out
    asks nothing about it)."""
    unread: dict[str, set[int]] = defaultdict(set)
    for record, links in zip(records, kept, strict=False):
        for f in link_fields:
            target = f.target or ""
            given = record.pairs.get(f.key) if f.many else [record.columns.get(f.key)]
            unread[target].update(
                i
                for i in links.get(f.key, ())
                if i in (given or ()) and i not in readable.get(target, ())
            )
    live = {}
    for target, ids in unread.items():
        if ids:
            table = compile_form(get_form(conn, target)).main
            live[target] = _existing(conn, table.c.id, ids, table.c.deleted_at.is_(None))
    return live


def linked_ids(form: Form, stored: Mapping[str, Any]) -> dict[str, set[int]]:
    """The ids a stored record's link fields point at (its row and its link lists), for
    ``check_references``'s ``kept``."""
    found: dict[str, set[int]] = {}
    for f in plan_for(form).link_fields:
        value = stored.get(f.key)
        found[f.key] = set(value) if isinstance(value, list) else {value} if value else set()
    return found


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
        taken = _taken(conn, table, f.key, list(given))
        for value, positions in given.items():
            holder = taken.get(value)
            if holder is None and len(positions) == 1:
                continue  # nearly every value of a batch: free, and given once
            for position in positions:
                clash = (holder is not None and holder != own_ids[position]) or len(positions) > 1
                if clash:
                    where = (
                        Text("record {record_id}", record_id=holder)
                        if holder is not None
                        else Text("another record in this batch")
                    )
                    errors.add(
                        prefixes[position] + f.key,
                        "duplicate",
                        Text(
                            "{label} {value!r} is already used by {where}",
                            label=f.label,
                            value=value,
                            where=where,
                        ),
                        value,
                    )


def _taken(conn: Connection, table: sa.Table, key: str, values: list[Any]) -> dict[Any, int]:
    """The live records holding any of ``values`` in column ``key``: value → record id.

    On SQLite many texts or integers (a batch's unique values) are handed over as one JSON
    array read by ``json_each``, with the statement made once per column: 900 placeholders
    cost SQLAlchemy more to expand per execution than the lookups cost SQLite (issue 19)."""
    column = table.c[key]
    if len(values) >= RUN and conn.dialect.name == "sqlite" and _json_exact(values):
        try:
            listed = orjson.dumps(values).decode()
        except orjson.JSONEncodeError:  # an integer beyond 64 bits, a lone surrogate
            pass
        else:
            found = conn.execute(_taken_in_json(table, key), {"values": listed})
            return dict(found.all())
    taken: dict[Any, int] = {}
    for start in range(0, len(values), 900):
        chunk = values[start : start + 900]
        query = sa.select(column, table.c.id).where(
            one_of(conn, column, chunk), table.c.deleted_at.is_(None)
        )
        taken.update((row[0], row[1]) for row in conn.execute(query))
    return taken


_JSON_EXACT = frozenset({str, int})
"""Values a JSON array gives back as they were bound: text as text, integers as integers."""


def _json_exact(values: list[Any]) -> bool:
    return all(value.__class__ in _JSON_EXACT for value in values)


@functools.lru_cache(maxsize=256)
def _taken_in_json(table: sa.Table, key: str) -> sa.Select[Any]:
    """The live records whose ``key`` is one of the JSON array ``:values`` (SQLite): made
    once per table and column, so executing it walks no new statement."""
    listed = sa.func.json_each(sa.bindparam("values", type_=sa.String)).table_valued("value")
    column = table.c[key]
    return sa.select(column, table.c.id).where(
        column.in_(sa.select(listed.c.value)), table.c.deleted_at.is_(None)
    )


_UNIQUE_VIOLATION = "23505"


@contextmanager
def unique_writes(
    conn: Connection,
    form: Form,
    records: Sequence[ParsedRecord],
    prefixes: Sequence[str],
    own_ids: Sequence[int | None],
) -> Iterator[None]:
    """The write that follows :func:`check_unique`, guarded against a writer that took one of
    the values in between.

    On PostgreSQL two transactions can both pass the check before either commits; the unique
    index then refuses the second one's write (issue 13: an IntegrityError, a server error).
    The write runs under a savepoint, and when the index refuses it the check runs again:
    it now sees the other writer's committed row and refuses with exactly the error it would
    have given had the other committed first. SQLite needs none of this: a writer holds the
    database's write lock from its ``BEGIN IMMEDIATE``, so nobody commits in between.
    """
    keys = [f.key for f in form.active_fields if f.unique]
    guarded = conn.dialect.name == "postgresql" and any(
        record.columns.get(key) is not None for record in records for key in keys
    )
    if not guarded:
        yield
        return
    try:
        with conn.begin_nested():
            yield
    except IntegrityError as exc:
        if getattr(exc.orig, "sqlstate", None) != _UNIQUE_VIOLATION:
            raise
        errors = ErrorCollector()
        check_unique(conn, form, records, errors, prefixes, own_ids)
        errors.raise_if_any()
        raise
