"""Batches: one document per record for many records, as one PDF or a ZIP, as a job.

Each record's document is issued as if generated alone (numbered, stored on its record,
signed when its template says so), in its own short transaction that also advances the
batch's progress, so ``done`` is exact at every moment and a worker that dies mid-batch
carries on where it stopped when the job runs again. The ZIP holds the stored files; the PDF
lays out every document's pages into one file (fonts embedded once), re-laying out only the
documents an earlier attempt already issued.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access.actors import load_actor
from meridian.access.permissions import form_access
from meridian.core import clock
from meridian.core.actor import Actor
from meridian.core.i18n import Text, bilingual
from meridian.db.engine import read_transaction, transaction
from meridian.db.tables import document_batches, documents, files
from meridian.documents.generate import (
    prepare_document,
    produce_document,
    render_content,
)
from meridian.documents.pdf import join_pdfs, write_pdf
from meridian.documents.templates import get_template
from meridian.documents.visibility import Sight
from meridian.errors import FieldError, MeridianError, NotFound, ValidationFailed
from meridian.events.audit import audit
from meridian.jobs.queue import Handler, JobContext, enqueue
from meridian.records.files import store_file
from meridian.schema.catalog import get_form
from meridian.settings import Settings

RUN = "documents.batch"
MAX_BATCH = 5000
PAGES_HELD = 20
"""Documents whose laid-out pages are held before they are written out as one part of the
batch's PDF: a laid-out 2-page quote holds about 25 MB, so a thousand at once would not fit;
the parts (fonts embedded once in each) are joined at the end."""
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


def get_batch(*, conn: Connection, actor: Actor, batch_id: int) -> dict[str, Any]:
    """The batch's progress, for the user who asked for it (and administrators)."""
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
        "error": row.error,
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
    stored = conn.execute(sa.select(files).where(files.c.id == row.file_id)).first()
    if stored is None:
        raise NotFound(
            Text("batch {batch_id} is not finished", batch_id=batch_id),
            id=batch_id,
            state=row.state,
        )
    return {
        "name": stored.name,
        "content_type": stored.content_type,
        "storage_path": stored.storage_path,
    }


def _batch_row(conn: Connection, actor: Actor, batch_id: int) -> Any:
    row = conn.execute(sa.select(document_batches).where(document_batches.c.id == batch_id)).first()
    if row is None or not (actor.is_admin or row.created_by == actor.user_id):
        raise NotFound(Text("batch {batch_id} does not exist", batch_id=batch_id), id=batch_id)
    return row


def batch_runner(settings: Settings) -> Handler:
    """The job handler that works through a batch."""
    tz = ZoneInfo(settings.time_zone)

    def run(context: JobContext) -> None:
        run_batch(context=context, settings=settings, tz=tz)

    return run


def run_batch(*, context: JobContext, settings: Settings, tz: ZoneInfo) -> None:
    """Issue the documents still missing, then write the one PDF or the ZIP. Any other
    failure (the database away, a full disk) fails the job's attempt: it runs again and
    carries on after the last issued document."""
    engine = context.engine
    batch_id = int(context.payload["batch"])
    with read_transaction(engine) as conn:
        batch = conn.execute(
            sa.select(document_batches).where(document_batches.c.id == batch_id)
        ).one()
        actor = load_actor(conn, batch.created_by)
    if batch.state in ("done", "failed"):
        return
    ids: list[int] = batch.record_ids["ids"]
    issued: list[int] = list(batch.record_ids["documents"])
    pages: list[Any] = []
    parts: list[bytes] = []

    def hold(laid_out: Any) -> None:
        if batch.output != "pdf" or laid_out is None:
            return
        pages.append(laid_out)
        if len(pages) == PAGES_HELD:
            parts.append(write_pdf(pages))
            pages.clear()

    try:
        for document_id in issued:  # issued by an earlier attempt: laid out again, not reissued
            hold(_reprint(engine, actor, settings, document_id, tz))
        for record_id in ids[len(issued) :]:
            with read_transaction(engine) as conn:
                prepared = prepare_document(
                    conn=conn,
                    actor=actor,
                    settings=settings,
                    form_key=batch.form_key,
                    record_id=record_id,
                    template_key=batch.template_key,
                    tz=tz,
                )

            def progress(conn: Connection, document: dict[str, Any]) -> None:
                issued.append(document["id"])
                conn.execute(
                    document_batches.update()
                    .where(document_batches.c.id == batch_id)
                    .values(
                        state="running",
                        done=len(issued),
                        record_ids={"ids": ids, "documents": issued},
                    )
                )

            _, laid_out = produce_document(
                engine=engine,
                actor=actor,
                settings=settings,
                prepared=prepared,
                tz=tz,
                on_done=progress,
            )
            hold(laid_out)
        if pages:
            parts.append(write_pdf(pages))
        with transaction(engine) as conn:
            _finish(conn, actor, settings, batch, issued, parts)
    except MeridianError as exc:  # a record the user may not print: the batch stops, says why
        done = len(issued)
        said = Text("record {record_id}: {message}", record_id=ids[done], message=exc.detail)
        # Kept as text in both languages: whoever reads the batch later sees their half.
        failed = bilingual(said if done < len(ids) else exc.detail)
        with transaction(engine) as conn:
            conn.execute(
                document_batches.update()
                .where(document_batches.c.id == batch_id)
                .values(state="failed", error=failed[:2000], finished_at=clock.utcnow(conn))
            )


def _reprint(engine: Any, actor: Actor, settings: Settings, document_id: int, tz: ZoneInfo) -> Any:
    with read_transaction(engine) as conn:
        row = conn.execute(sa.select(documents).where(documents.c.id == document_id)).one()
        prepared = prepare_document(
            conn=conn,
            actor=actor,
            settings=settings,
            form_key=row.form_key,
            record_id=row.record_id,
            template_key=row.template_key,
            tz=tz,
        )
    return render_content(
        prepared, number=row.number, version=row.version, issued=row.created_at, tz=tz
    ).pages


def _finish(
    conn: Connection,
    actor: Actor,
    settings: Settings,
    batch: Any,
    issued: list[int],
    parts: list[bytes],
) -> None:
    if batch.output == "pdf" and parts:
        content = join_pdfs(parts)
        name = f"{batch.form_key}-{batch.id}.pdf"
    else:
        content = _zip(conn, settings, issued)
        name = f"{batch.form_key}-{batch.id}.zip"
    stored = store_file(
        conn=conn,
        actor=actor,
        store=settings.file_store_dir,
        name=name,
        stream=io.BytesIO(content),
    )
    conn.execute(
        document_batches.update()
        .where(document_batches.c.id == batch.id)
        .values(state="done", file_id=stored["row_id"], finished_at=clock.utcnow(conn))
    )
    audit(
        conn,
        actor_id=actor.user_id,
        action="document_batch_done",
        object_type=batch.form_key,
        object_id=batch.id,
        detail={"documents": len(issued), "output": batch.output},
    )


def _zip(conn: Connection, settings: Settings, issued: list[int]) -> bytes:
    rows = conn.execute(
        sa.select(files.c.name, files.c.storage_path)
        .join(documents, documents.c.file_id == files.c.id)
        .where(documents.c.id.in_(issued))
        .order_by(documents.c.id)
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for row in rows:
            archive.writestr(row.name, (settings.file_store_dir / row.storage_path).read_bytes())
    return out.getvalue()
