"""Batches: one document per record for many records, as one PDF or a ZIP, as a job.

Each record's document is issued as if generated alone (numbered, stored on its record,
signed when its template says so); the job that does it is ``meridian.documents.batch_run``.
Here: asking for a batch, its progress, its file, and writing that file at the end. The ZIP
holds the documents' stored files; the PDF joins the parts the layout processes wrote (each
part's fonts embedded once).
"""

from __future__ import annotations

import tempfile
import zipfile
from typing import Any, BinaryIO

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access.permissions import form_access
from meridian.core import clock
from meridian.core.actor import Actor
from meridian.core.i18n import Text, localized
from meridian.core.late_imports import IMPORTING
from meridian.db.sets import one_of
from meridian.db.tables import document_batches, documents, files
from meridian.documents.templates import get_template
from meridian.documents.visibility import Sight
from meridian.errors import FieldError, NotFound, ValidationFailed
from meridian.events.audit import audit
from meridian.jobs.queue import enqueue
from meridian.records.files import files_by_row_id, store_file
from meridian.schema.catalog import get_form
from meridian.settings import Settings

RUN = "documents.batch"
MAX_BATCH = 5000
OUTPUTS = ("pdf", "zip")


def create_batch(
    *,
    conn: Connection,
    actor: Actor,
    form_key: str,
    template_key: str,
    record_ids: list[int],
    output: str,
) -> dict[str, Any]:
    """Queue a batch; each record is checked (readable, the template's condition) as its
    turn comes, as if generated alone."""
    form = get_form(conn, form_key)
    form_access(conn, actor, form).require("read")
    get_template(conn=conn, form_key=form_key, key=template_key)
    if output not in OUTPUTS:
        raise ValidationFailed(
            [FieldError("output", "invalid_output", Text("use pdf or zip"), output)]
        )
    ids = list(dict.fromkeys(record_ids))
    if not ids or len(ids) > MAX_BATCH:
        raise ValidationFailed(
            [
                FieldError(
                    "ids",
                    "invalid_batch",
                    Text("give 1 to {limit} record ids", limit=MAX_BATCH),
                    len(ids),
                )
            ]
        )
    result = conn.execute(
        document_batches.insert().values(
            form_key=form_key,
            template_key=template_key,
            record_ids={"ids": ids, "documents": []},
            output=output,
            state="queued",
            done=0,
            total=len(ids),
            created_by=actor.user_id,
            created_at=clock.utcnow(conn),
        )
    )
    assert result.inserted_primary_key is not None
    batch_id = int(result.inserted_primary_key[0])
    enqueue(conn, RUN, {"batch": batch_id}, max_attempts=3, idempotency_key=f"{RUN}:{batch_id}")
    return get_batch(conn=conn, actor=actor, batch_id=batch_id)


def get_batch(
    *, conn: Connection, actor: Actor, batch_id: int, locale: str = "en"
) -> dict[str, Any]:
    """The batch's progress, for the user who asked for it (and administrators); why it
    failed is said in ``locale``."""
    row = _batch_row(conn, actor, batch_id)
    return {
        "id": row.id,
        "form_key": row.form_key,
        "template": row.template_key,
        "output": row.output,
        "state": row.state,
        "done": row.done,
        "total": row.total,
        "file_id": row.file_id,
        "error": None if row.error is None else localized(row.error, locale),
        "created_at": row.created_at.isoformat(),
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
    }


def batch_file(*, conn: Connection, actor: Actor, batch_id: int) -> dict[str, Any]:
    """The batch's PDF or ZIP; like its documents, refused (as a missing batch) to a reader
    who does not see everything its documents' generator saw."""
    row = _batch_row(conn, actor, batch_id)
    generated = conn.scalars(
        sa.select(documents.c.hidden_fields).where(documents.c.id.in_(row.record_ids["documents"]))
    )
    if not Sight(conn, actor=actor).sees_all(generated):
        raise NotFound(Text("batch {batch_id} does not exist", batch_id=batch_id), id=batch_id)
    stored = files_by_row_id(conn, [row.file_id]).get(row.file_id)
    if stored is None:
        raise NotFound(
            Text("batch {batch_id} is not finished", batch_id=batch_id),
            id=batch_id,
            state=row.state,
        )
    return stored


def _batch_row(conn: Connection, actor: Actor, batch_id: int) -> Any:
    row = conn.execute(sa.select(document_batches).where(document_batches.c.id == batch_id)).first()
    if row is None or not (actor.is_admin or row.created_by == actor.user_id):
        raise NotFound(Text("batch {batch_id} does not exist", batch_id=batch_id), id=batch_id)
    return row


def finish_batch(
    conn: Connection,
    actor: Actor,
    settings: Settings,
    batch_id: int,
    form_key: str,
    output: str,
    parts: list[bytes],
) -> None:
    """Store the batch's one PDF (its parts joined, pages in order) or the ZIP of its
    documents' stored files, and mark it done. Both are written to a temporary file in the
    file store and streamed into it, never held whole in memory."""
    row = conn.execute(
        sa.select(document_batches.c.record_ids).where(document_batches.c.id == batch_id)
    ).one()
    issued: list[int] = row.record_ids["documents"]
    settings.file_store_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=settings.file_store_dir) as out:
        if output == "pdf" and parts:
            with IMPORTING:  # pypdf where PDFs are joined, not at start (core/late_imports)
                from meridian.documents.pdf import join_pdfs
            join_pdfs(parts, out)
            name = f"{form_key}-{batch_id}.pdf"
        else:
            _zip(conn, settings, issued, out)
            name = f"{form_key}-{batch_id}.zip"
        out.seek(0)
        stored = store_file(
            conn=conn, actor=actor, store=settings.file_store_dir, name=name, stream=out
        )
    conn.execute(
        document_batches.update()
        .where(document_batches.c.id == batch_id)
        .values(
            state="done",
            file_id=stored["row_id"],
            record_ids={"ids": row.record_ids["ids"], "documents": issued},
            finished_at=clock.utcnow(conn),
        )
    )
    audit(
        conn,
        actor_id=actor.user_id,
        action="document_batch_done",
        object_type=form_key,
        object_id=batch_id,
        detail={"documents": len(issued), "output": output},
    )


def _zip(conn: Connection, settings: Settings, issued: list[int], out: BinaryIO) -> None:
    """The documents' stored files, each read from the store into the archive in pieces."""
    rows = conn.execute(
        sa.select(files.c.name, files.c.storage_path)
        .join(documents, documents.c.file_id == files.c.id)
        .where(one_of(conn, documents.c.id, issued))
        .order_by(documents.c.id)
    )
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for row in rows:
            archive.write(settings.file_store_dir / row.storage_path, arcname=row.name)
