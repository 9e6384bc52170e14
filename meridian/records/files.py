"""The file store for attachments: content-addressed bytes in a local folder, named by tokens.

A stored file is known outside the server only by its token (128 random bits), so an id
cannot be guessed or counted up. Who may use a file — download it, or put it into an
attachment field — is one rule, :func:`usable_files`: its uploader while no live record holds
it, and whoever may read a live record holding it in a field visible to them. The upload
checks the bytes against the field's rules (``meridian.schema.values.filetypes``); every
record write checks them again, through ``meridian.records.references``.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from meridian.access.permissions import form_access, visible_form
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.core.timezones import DEFAULT_TIME_ZONE
from meridian.db.sets import one_of
from meridian.db.tables import files
from meridian.errors import FieldError, NotFound, ValidationFailed
from meridian.records.sniff import sniff
from meridian.schema.catalog import get_form, list_forms
from meridian.schema.compile import compile_form
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Field
from meridian.schema.values.filetypes import file_problem, is_token, served_type, unknown_file

_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")
_CHUNK = 900


def store_file(
    *,
    conn: Connection,
    actor: Actor,
    store: Path,
    name: str,
    stream: BinaryIO,
    max_bytes: int | None = None,
    field: Field | None = None,
) -> dict[str, Any]:
    """Save an upload under its SHA-256 (repeated uploads share bytes) and record it.

    The bytes are checked against ``field``'s rules when the upload names one, else against
    the default rules (no programs or scripts); ``max_bytes`` is the workspace's limit for
    uploads (None for files the server makes itself). A refusal names the field (or
    ``file``), the reason and the file name, and stores nothing. ``row_id`` in the result is
    for system tables that refer to the file; clients only ever see its token (``id``).
    """
    clean_name = (_UNSAFE.sub("_", name).strip() or "file")[:255]
    where = field.key if field is not None else "file"
    limits = [n for n in (max_bytes, field.max_size if field is not None else None) if n]
    limit = min(limits) if limits else None
    store.mkdir(parents=True, exist_ok=True)
    partial = store / f".upload-{os.getpid()}-{secrets.token_hex(8)}"
    try:
        size, sha = _receive(stream, partial, limit)
        if size is None:
            problem: tuple[str, str] | None = (
                "file_too_large",
                Text(
                    "the file has more than {limit} bytes; at most {limit} are accepted here",
                    limit=limit,
                ),
            )
            kind = None
        else:
            kind = sniff(partial)
            problem = file_problem(
                accept=field.accept if field is not None else (),
                max_size=limit,
                name=clean_name,
                kind=kind,
                size=size,
            )
        if problem is not None:
            code, message = problem
            raise ValidationFailed([FieldError(where, code, message, clean_name[:80])])
        relative = Path(sha[:2]) / sha
        (store / relative).parent.mkdir(parents=True, exist_ok=True)
        partial.replace(store / relative)
    finally:
        partial.unlink(missing_ok=True)
    token = secrets.token_hex(16)
    conn.execute(
        files.insert().values(
            token=token,
            name=clean_name,
            content_type=served_type(kind),
            kind=kind,
            size=size,
            sha256=sha,
            storage_path=str(relative),
            created_by=actor.user_id,
            created_at=utcnow(conn),
        )
    )
    return get_file(conn=conn, token=token)


def attachment_field(*, conn: Connection, actor: Actor, form_key: str, field_key: str) -> Field:
    """The attachment field an upload is meant for, as the actor sees the form; its rules
    then check the upload. Anything else is a 422 naming ``field``."""
    visible = visible_form(conn, actor, get_form(conn, form_key))
    found = visible.get_field(field_key)
    if found is None or found.archived or not field_type(found).holds_files:
        message = Text(
            "form {form_key!r} has no attachment field {value!r}",
            form_key=form_key,
            value=field_key[:40],
        )
        raise ValidationFailed([FieldError("field", "unknown_field", message, field_key[:40])])
    return found


def _receive(stream: BinaryIO, partial: Path, limit: int | None) -> tuple[int | None, str]:
    """Copy the stream to ``partial``; the size is None once it passes ``limit`` (the rest
    is not read)."""
    digest = hashlib.sha256()
    size = 0
    with partial.open("wb") as out:
        while chunk := stream.read(1024 * 1024):
            size += len(chunk)
            if limit is not None and size > limit:
                return None, ""
            digest.update(chunk)
            out.write(chunk)
    return size, digest.hexdigest()


def readable_file(
    *, conn: Connection, actor: Actor, token: Any, tz: ZoneInfo = DEFAULT_TIME_ZONE
) -> dict[str, Any]:
    """The file if the actor may use it (see :func:`usable_files`); otherwise ``NotFound``,
    exactly as if it did not exist."""
    found = usable_files(conn=conn, actor=actor, tokens={token}, tz=tz) if is_token(token) else {}
    if token not in found:
        raise NotFound(unknown_file(token), id=str(token)[:40])
    return found[token]


def usable_files(
    *, conn: Connection, actor: Actor, tokens: Collection[str], tz: ZoneInfo = DEFAULT_TIME_ZONE
) -> dict[str, dict[str, Any]]:
    """Of ``tokens``, the files the actor may download or attach, by token.

    A file is usable by its uploader while no live record holds it (it was just uploaded,
    or every record holding it is in the trash), and by whoever may read a live record that
    holds it in a field visible to them — the same row and field rules as reading the record
    itself. Administrators signed in (not through a token) use any file. One query per
    attachment field of the workspace, whatever the number of tokens.
    """
    wanted = sorted({t for t in tokens if is_token(t)})
    stored = {row["id"]: row for row in _files_by_token(conn, wanted)}
    if not stored or (actor.is_admin and actor.token is None):
        return stored
    held, readable = _holdings(conn, actor, list(stored), tz)
    return {
        token: row
        for token, row in stored.items()
        if token in readable or (row["created_by"] == actor.user_id and token not in held)
    }


def _holdings(
    conn: Connection, actor: Actor, tokens: list[str], tz: ZoneInfo
) -> tuple[set[str], set[str]]:
    """Which tokens live records hold, and which of those the actor may read there."""
    held: set[str] = set()
    readable: set[str] = set()
    for form in list_forms(conn):
        tables = compile_form(form)
        # (table, column, the record field it is read through); archived fields still hold
        # files, but nobody reads a file through one
        places = [(tables.main, f.key, f) for f in form.fields if field_type(f).holds_files]
        for f in form.fields:
            if field_type(f).holds_lines:
                places += [
                    (tables.lines[f.key], line.key, f)
                    for line in f.fields
                    if field_type(line).holds_files
                ]
        if not places:
            continue
        access = form_access(conn, actor, form)
        rows = access.rows(conn, tables.main, "read", tz) if access.may("read") else sa.false()
        for table, column, shown_as in places:
            visible = (
                access.may("read") and not shown_as.archived and shown_as.key not in access.hidden
            )
            may_read = rows if visible else sa.false()
            for token, can_read in _holders(conn, tables.main, table, column, tokens, may_read):
                held.add(token)
                if can_read:
                    readable.add(token)
    return held, readable


def _holders(
    conn: Connection,
    main: sa.Table,
    table: sa.Table,
    column: str,
    tokens: list[str],
    may_read: ColumnElement[bool] | None,
) -> Iterator[tuple[str, bool]]:
    """(token, whether the actor may read a holder) for the tokens live rows of ``main`` hold
    in ``table.column`` (``table`` is ``main`` or one of its line tables)."""
    if conn.dialect.name == "postgresql":
        listed = table.c[column]  # a blank field may hold JSON null: only arrays are expanded
        arrays = sa.case((sa.func.jsonb_typeof(listed) == "array", listed))
        elements = sa.func.jsonb_array_elements_text(arrays).table_valued(
            sa.column("value", sa.String)
        )
    else:
        elements = sa.func.json_each(table.c[column]).table_valued(sa.column("value", sa.String))
    flag: Any = sa.true() if may_read is None else may_read
    source: Any = table.join(elements, sa.true())
    if table is not main:
        source = source.join(main, main.c.id == table.c._parent_id)
    for start in range(0, len(tokens), _CHUNK):
        query = (
            sa.select(elements.c.value, sa.func.max(sa.case((flag, 1), else_=0)))
            .select_from(source)
            .where(
                main.c.deleted_at.is_(None),
                one_of(conn, elements.c.value, tokens[start : start + _CHUNK]),
            )
            .group_by(elements.c.value)
        )
        for token, can_read in conn.execute(query):
            yield token, bool(can_read)


def _files_by_token(conn: Connection, tokens: list[str]) -> Iterator[dict[str, Any]]:
    for start in range(0, len(tokens), _CHUNK):
        chunk = tokens[start : start + _CHUNK]
        for row in conn.execute(sa.select(files).where(one_of(conn, files.c.token, chunk))):
            yield _public(row)


def get_file(*, conn: Connection, token: str) -> dict[str, Any]:
    """A stored file by token, for whoever already may use it (no access check here)."""
    row = conn.execute(sa.select(files).where(files.c.token == token)).first()
    if row is None:
        raise NotFound(unknown_file(token), id=str(token)[:40])
    return _public(row)


def files_by_row_id(conn: Connection, row_ids: Collection[int | None]) -> dict[int, dict[str, Any]]:
    """Stored files by their row ids (the ids other tables refer to a file by), each as
    :func:`get_file` gives it; a missing id, or None, is left out. No access check here."""
    wanted = sorted({row_id for row_id in row_ids if row_id is not None})
    if not wanted:
        return {}
    rows = conn.execute(sa.select(files).where(files.c.id.in_(wanted)))
    return {row.id: _public(row) for row in rows}


def _public(row: Any) -> dict[str, Any]:
    return {
        "id": row.token,
        "row_id": row.id,
        "name": row.name,
        "content_type": row.content_type,
        "kind": row.kind,
        "size": row.size,
        "sha256": row.sha256,
        "created_by": row.created_by,
        "storage_path": row.storage_path,
        "created_at": row.created_at.isoformat(),
    }
