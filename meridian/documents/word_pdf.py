"""A Word document's PDF: converted by LibreOffice as a job, kept beside the .docx.

LibreOffice takes seconds to start and convert, too long for a request, so generating from a
Word template queues the conversion (where LibreOffice is installed) and the worker stores
the PDF on the document (``sys_document.pdf_file_id``). The document's ``pdf`` state tells the
API and the record page where it stands: ``ready``, ``converting``, ``failed`` (with why),
``missing`` (LibreOffice is not installed on this server) or ``none`` (never asked for — a
document made before LibreOffice was installed; asking queues it).
"""

from __future__ import annotations

import io
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.actor import Actor
from meridian.core.i18n import Text, restored, stored
from meridian.db.engine import read_transaction
from meridian.db.tables import documents, files
from meridian.documents.word import docx_to_pdf, libreoffice, libreoffice_missing
from meridian.errors import Conflict
from meridian.jobs.queue import Handler, JobContext, enqueue
from meridian.records.files import store_file
from meridian.settings import Settings

RUN = "documents.pdf"
QUEUED, DONE, FAILED = "queued", "done", "failed"


def queue_pdf(conn: Connection, document_id: int) -> bool:
    """Queue the document's conversion in the caller's transaction, unless it is queued or
    done already or LibreOffice is missing; whether it is (now) on its way."""
    if libreoffice() is None:
        return False
    queued = conn.execute(
        documents.update()
        .where(
            documents.c.id == document_id,
            sa.or_(documents.c.pdf_state.is_(None), documents.c.pdf_state == FAILED),
        )
        .values(pdf_state=QUEUED, pdf_error=None)
    ).rowcount
    if queued:
        enqueue(conn, RUN, {"document": document_id}, max_attempts=2)
    return True


def pdf_state(row: Any, installed: bool) -> str:
    """Where a document's PDF stands (see the module's text), from its row."""
    if row.content_type == "application/pdf" or row.pdf_file_id is not None:
        return "ready"
    if row.pdf_state == QUEUED:
        return "converting"
    if row.pdf_state == FAILED:
        return "failed"
    return "none" if installed else "missing"


def pdf_refusal(state: str, error: str | None) -> Conflict:
    """Why there is no PDF to download yet, said in the reader's language."""
    if state == "missing":
        return libreoffice_missing()
    if state == "failed":
        return Conflict(
            Text("the PDF could not be made: {reason}", reason=restored(error or "")),
            reason="conversion_failed",
        )
    if state == "converting":
        return Conflict(
            Text("LibreOffice is converting this document to PDF; try again in a moment"),
            reason="pdf_pending",
        )
    return Conflict(
        Text("no PDF of this document was asked for yet; ask for one first"),
        reason="pdf_not_requested",
    )


def pdf_converter(settings: Settings) -> Handler:
    """The job handler: convert, store the PDF on the document, or say why it failed."""

    def run(context: JobContext) -> None:
        document_id = int(context.payload["document"])
        with read_transaction(context.engine) as conn:
            row = conn.execute(
                sa.select(documents.c.pdf_state, files.c.name, files.c.storage_path)
                .join(files, files.c.id == documents.c.file_id)
                .where(documents.c.id == document_id)
            ).first()
        if row is None or row.pdf_state != QUEUED:
            return
        docx = (settings.file_store_dir / row.storage_path).read_bytes()
        try:
            pdf = docx_to_pdf(docx)
        except Conflict as exc:  # missing on this worker, failed, or too slow: said on it
            with context.transaction() as conn:
                conn.execute(
                    documents.update()
                    .where(documents.c.id == document_id)
                    .values(pdf_state=FAILED, pdf_error=stored(exc.detail, limit=2000))
                )
            return
        with context.transaction() as conn:
            made = store_file(
                conn=conn,
                actor=Actor.system(),
                store=settings.file_store_dir,
                name=row.name.rsplit(".", 1)[0] + ".pdf",
                stream=io.BytesIO(pdf),
            )
            conn.execute(
                documents.update()
                .where(documents.c.id == document_id)
                .values(pdf_state=DONE, pdf_file_id=made["row_id"], pdf_error=None)
            )

    return run
