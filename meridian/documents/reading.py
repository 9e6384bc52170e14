"""A record's documents and their files, for whoever may read the record and sees at least
what each document's generator saw (``meridian.documents.visibility``)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.core.i18n import Text, localized
from meridian.db.tables import documents, files
from meridian.documents.issuing import DONE
from meridian.documents.visibility import Sight
from meridian.documents.word import libreoffice
from meridian.documents.word_pdf import pdf_state
from meridian.errors import NotFound
from meridian.records.files import files_by_row_id
from meridian.records.readable import Readable
from meridian.schema.catalog import get_form


def list_documents(
    *,
    conn: Connection,
    actor: Actor,
    form_key: str,
    record_id: int,
    tz: ZoneInfo,
    locale: str | None = None,
) -> list[dict[str, Any]]:
    """The record's documents the actor may see, newest first; a failed PDF's reason said in
    ``locale`` (kept as it was stored when None, for a page that says it itself)."""
    require_readable(conn=conn, actor=actor, form_key=form_key, record_id=record_id, tz=tz)
    rows = conn.execute(
        sa.select(documents, files.c.name, files.c.content_type, files.c.size)
        .join(files, files.c.id == documents.c.file_id)
        .where(
            documents.c.form_key == form_key,
            documents.c.record_id == record_id,
            documents.c.state == DONE,
        )
        .order_by(documents.c.id.desc())
    )
    sight = Sight(conn, actor=actor)
    installed = libreoffice() is not None
    return [
        {
            "id": row.id,
            "template": row.template_key,
            "template_version": row.template_version,
            "number": row.number,
            "version": row.version,
            "file_id": row.file_id,
            "name": row.name,
            "content_type": row.content_type,
            "size": row.size,
            "signed": row.signing_key_id is not None,
            "pdf": pdf_state(row, installed),
            "pdf_error": _said(row.pdf_error, locale),
            "created_by": row.created_by,
            "created_at": row.created_at.isoformat(),
        }
        for row in rows
        if sight.sees(row.hidden_fields)
    ]


def document_file(
    *,
    conn: Connection,
    actor: Actor,
    form_key: str,
    record_id: int,
    document_id: int,
    tz: ZoneInfo,
) -> dict[str, Any]:
    """The stored file of one of the record's documents; one the actor may not see (its
    generator saw less) is refused exactly as a missing one."""
    require_readable(conn=conn, actor=actor, form_key=form_key, record_id=record_id, tz=tz)
    row = conn.execute(
        sa.select(
            documents.c.file_id,
            documents.c.hidden_fields,
            documents.c.pdf_state,
            documents.c.pdf_file_id,
            documents.c.pdf_error,
            files.c.content_type,
        )
        .join(files, files.c.id == documents.c.file_id)
        .where(
            documents.c.id == document_id,
            documents.c.form_key == form_key,
            documents.c.record_id == record_id,
        )
    ).first()
    if row is None or not Sight(conn, actor=actor).sees(row.hidden_fields):
        raise NotFound(
            Text("document {document_id} does not exist", document_id=document_id), id=document_id
        )
    stored = files_by_row_id(conn, [row.file_id, row.pdf_file_id])
    pdf = stored.get(row.pdf_file_id) if row.pdf_file_id is not None else None
    return {
        **stored[row.file_id],
        "pdf": pdf_state(row, libreoffice() is not None),
        "pdf_error": row.pdf_error,
        "pdf_storage_path": None if pdf is None else pdf["storage_path"],
    }


def require_readable(
    *, conn: Connection, actor: Actor, form_key: str, record_id: int, tz: ZoneInfo
) -> None:
    """``NotFound`` (as for the record itself) unless the actor may read the live record."""
    access = form_access(conn, actor, get_form(conn, form_key))
    if not access.may("read") or not Readable.of(conn, access, tz).ids(conn, [record_id]):
        raise NotFound(
            Text(
                "record {record_id} of form {form_key!r} is not found",
                record_id=record_id,
                form_key=form_key,
            ),
            id=record_id,
        )


def _said(message: str | None, locale: str | None) -> str | None:
    return message if message is None or locale is None else localized(message, locale)
