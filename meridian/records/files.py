"""The file store for attachments: content-addressed files in a local folder."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.timezones import DEFAULT_TIME_ZONE
from meridian.db.tables import files
from meridian.errors import FieldError, NotFound, ValidationFailed
from meridian.records.query import json_array_contains
from meridian.schema.catalog import list_forms
from meridian.schema.compile import compile_form

MAX_FILE_BYTES = 100 * 1024 * 1024
_UNSAFE = re.compile(r"[\x00-\x1f/\\]")


def store_file(
    *,
    conn: Connection,
    actor: Actor,
    store: Path,
    name: str,
    content_type: str,
    stream: BinaryIO,
) -> dict[str, Any]:
    """Save the upload under its SHA-256 (so repeated uploads share bytes) and record it."""
    clean_name = _UNSAFE.sub("_", name).strip() or "file"
    digest = hashlib.sha256()
    store.mkdir(parents=True, exist_ok=True)
    partial = store / f".upload-{os.getpid()}-{id(stream)}"
    size = 0
    with partial.open("wb") as out:
        while chunk := stream.read(1024 * 1024):
            size += len(chunk)
            if size > MAX_FILE_BYTES:
                partial.unlink()
                raise ValidationFailed(
                    [
                        FieldError(
                            "file", "too_large", f"files are at most {MAX_FILE_BYTES} bytes", name
                        )
                    ]
                )
            digest.update(chunk)
            out.write(chunk)
    sha = digest.hexdigest()
    relative = Path(sha[:2]) / sha
    (store / relative).parent.mkdir(parents=True, exist_ok=True)
    partial.replace(store / relative)
    result = conn.execute(
        files.insert().values(
            name=clean_name[:255],
            content_type=content_type[:127] or "application/octet-stream",
            size=size,
            sha256=sha,
            storage_path=str(relative),
            created_by=actor.user_id,
            created_at=utcnow(),
        )
    )
    assert result.inserted_primary_key is not None
    return get_file(conn=conn, file_id=int(result.inserted_primary_key[0]))


def readable_file(
    *, conn: Connection, actor: Actor, file_id: int, tz: ZoneInfo = DEFAULT_TIME_ZONE
) -> dict[str, Any]:
    """The file, if the actor uploaded it or may read a record that holds it in a visible
    attachment field; otherwise ``NotFound``, as if it did not exist. One query per
    attachment field the actor may read."""
    stored = get_file(conn=conn, file_id=file_id)
    if (actor.is_admin and actor.token is None) or stored["created_by"] == actor.user_id:
        return stored
    for form in list_forms(conn):
        fields = [f for f in form.active_fields if f.type == "attachment"]
        if not fields:
            continue
        access = form_access(conn, actor, form)
        visible = [f for f in fields if f.key not in access.hidden]
        if not visible or not access.may("read"):
            continue
        table = compile_form(form).main
        holds = sa.or_(
            *(json_array_contains(table.c[f.key], file_id, conn.dialect.name) for f in visible)
        )
        conditions = [table.c.deleted_at.is_(None), holds]
        readable = access.rows(conn, table, "read", tz)
        if readable is not None:
            conditions.append(readable)
        if conn.execute(sa.select(table.c.id).where(*conditions).limit(1)).first():
            return stored
    raise NotFound(f"file {file_id} does not exist", id=file_id)


def get_file(*, conn: Connection, file_id: int) -> dict[str, Any]:
    row = conn.execute(sa.select(files).where(files.c.id == file_id)).first()
    if row is None:
        raise NotFound(f"file {file_id} does not exist", id=file_id)
    return {
        "id": row.id,
        "name": row.name,
        "content_type": row.content_type,
        "size": row.size,
        "sha256": row.sha256,
        "created_by": row.created_by,
        "storage_path": row.storage_path,
        "created_at": row.created_at.isoformat(),
    }
