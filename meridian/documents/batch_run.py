"""Working through a batch: many records' documents, laid out on every core.

The records are taken in chunks. For each chunk the parent reads every record's context
set-based (a few queries for the chunk, not a few per record), checks the template's
condition in one query, claims the chunk's numbers in one short transaction (see
``issuing.claim_numbers``), fills the templates, and hands the HTML to the layout processes
(``meridian.documents.press``); a few chunks are in flight at once, so the cores lay out
while the parent reads and stores. Chunks are stored in order, each in one transaction that
also advances the batch's progress — ``done`` is exact at every moment, and a worker that dies
mid-batch carries on where it stopped when the job runs again: the documents it issued are
laid out again only for the batch's PDF, and the numbers it claimed but never stored are taken
over (the batch keeps their rows' ids), so numbers stay gap-free. Every write checks that this
worker still holds the job (``JobContext.step``): a run whose lease ran out and was taken over
stops at its next write instead of racing the run that took it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from meridian.access.actors import load_actor
from meridian.core import clock
from meridian.core.actor import Actor
from meridian.core.i18n import Text, stored
from meridian.db.engine import read_transaction
from meridian.db.sets import one_of
from meridian.db.tables import document_batches, documents, files
from meridian.documents.assets import load_assets
from meridian.documents.batches import finish_batch
from meridian.documents.context import records_contexts
from meridian.documents.generate import (
    condition_not_met,
    document_context,
    document_name,
    meeting_condition,
    record_document,
)
from meridian.documents.issuing import Claim, claim_numbers, fail_many
from meridian.documents.page import PageSettings
from meridian.documents.press import Press, Pressed, cores
from meridian.documents.sandbox import render
from meridian.documents.signing import CompanySigner, active_signer, sign_pdf
from meridian.documents.templates import DOCX, get_template
from meridian.documents.visibility import hidden_from
from meridian.documents.word import fill_docx
from meridian.errors import MeridianError, NotFound
from meridian.jobs.queue import Handler, JobContext, LeaseLost
from meridian.schema.catalog import get_form
from meridian.settings import Settings

CHUNK = 8
"""Documents laid out together by one worker. A laid-out 2-page quote holds about 25 MB until
its chunk's part of the batch's PDF is written, so chunks stay small; 8 spreads 1,000 quotes
evenly over the cores and embeds each part's fonts once for 8 documents."""
AHEAD = 2
"""Chunks in flight per worker: one being laid out, one waiting, so no core idles while the
parent stores the previous chunk."""


@dataclass
class _Batch:
    """What the run reads once: the batch, its requester, template, images and sight."""

    id: int
    form_key: str
    output: str
    ids: list[int]
    issued: list[int]
    claimed: list[int]
    actor: Actor
    template: dict[str, Any]
    assets: dict[str, tuple[bytes, str]]
    source: bytes | None
    hidden: dict[str, list[str]]


@dataclass
class _Chunk:
    """Claimed documents on their way to the store."""

    claims: list[Claim]
    record_ids: list[int]
    names: list[str]
    html: list[str]
    """Filled HTML templates, handed to the layout processes."""
    words: list[bytes]
    """Filled Word files (a Word template's batch), stored as they are."""
    signer: CompanySigner | None
    pressed: Future[Pressed] | None = None


class _Stopped(Exception):
    """The batch stops at a record its requester may not print."""

    def __init__(self, record_id: int, error: MeridianError) -> None:
        super().__init__(str(error))
        self.record_id = record_id
        self.error = error


def batch_runner(settings: Settings) -> Handler:
    """The job handler that works through a batch."""
    tz = ZoneInfo(settings.time_zone)

    def run(context: JobContext) -> None:
        run_batch(context=context, settings=settings, tz=tz)

    return run


def run_batch(*, context: JobContext, settings: Settings, tz: ZoneInfo) -> None:
    """Issue the documents still missing, then write the one PDF or the ZIP. A record the
    requester may not print stops the batch, saying which; any other failure (the database
    away, a full disk) fails the job's attempt, which runs again and carries on."""
    engine = context.engine
    batch = _load(engine, settings, int(context.payload["batch"]))
    if batch is None:
        return
    parts: list[bytes] = []
    stopped: _Stopped | None = None
    page = PageSettings.model_validate(batch.template["page"])
    workers = min(cores(), max(1, -(-len(batch.ids) // CHUNK)))
    press = Press(page, batch.assets, workers=workers) if batch.source is None else None
    flight: deque[_Chunk] = deque()
    try:
        try:
            if press is not None and batch.output == "pdf":
                parts += _reprint(engine, batch, press, tz)
            remaining = batch.ids[len(batch.issued) :]
            for start in range(0, len(remaining), CHUNK):
                chunk, stopped = _issue(
                    context, settings, batch, remaining[start : start + CHUNK], tz
                )
                if chunk is not None:
                    if press is not None:
                        chunk.pressed = press.submit(chunk.html, own=True, part=_part(batch))
                    flight.append(chunk)
                while flight and (len(flight) > AHEAD * workers or stopped is not None):
                    parts += _store(context, settings, batch, flight.popleft())
                if stopped is not None:
                    break
            while flight:
                parts += _store(context, settings, batch, flight.popleft())
        except _Stopped as exc:
            stopped = exc
        except MeridianError as exc:  # a certificate gone, a template failing to lay out
            stopped = _Stopped(batch.ids[min(len(batch.issued), len(batch.ids) - 1)], exc)
        if stopped is not None and flight:
            with context.step() as conn:
                fail_many(conn, [claim for chunk in flight for claim in chunk.claims])
            flight.clear()
    except LeaseLost:
        raise  # another worker runs the batch now: this run writes nothing more
    except BaseException:
        with context.step() as conn:
            fail_many(conn, [claim for chunk in flight for claim in chunk.claims])
        raise
    finally:
        if press is not None:
            press.close()
    if stopped is not None:
        _fail(context, batch, stopped)
        return
    with context.transaction() as conn:
        finish_batch(conn, batch.actor, settings, batch.id, batch.form_key, batch.output, parts)


def _part(batch: _Batch) -> bool:
    return batch.output == "pdf"


def _load(engine: Engine, settings: Settings, batch_id: int) -> _Batch | None:
    with read_transaction(engine) as conn:
        row = conn.execute(
            sa.select(document_batches).where(document_batches.c.id == batch_id)
        ).one()
        if row.state in ("done", "failed"):
            return None
        actor = load_actor(conn, row.created_by)
        form = get_form(conn, row.form_key)
        template = get_template(conn=conn, form_key=row.form_key, key=row.template_key)
        source = None
        if template["kind"] == "docx":
            stored = conn.execute(
                sa.select(files.c.storage_path).where(files.c.token == template["source_file_id"])
            ).scalar_one()
            source = (settings.file_store_dir / stored).read_bytes()
        return _Batch(
            id=row.id,
            form_key=row.form_key,
            output=row.output,
            ids=list(row.record_ids["ids"]),
            issued=list(row.record_ids["documents"]),
            claimed=list(row.record_ids.get("claimed", [])),
            actor=actor,
            template=template,
            assets=load_assets(conn=conn, store=settings.file_store_dir),
            source=source,
            hidden=hidden_from(conn, actor=actor, form=form),
        )


def _issue(
    context: JobContext, settings: Settings, batch: _Batch, record_ids: list[int], tz: ZoneInfo
) -> tuple[_Chunk | None, _Stopped | None]:
    """Read, check and number a chunk's records and fill their templates; the chunk stops
    before the first record that may not be printed (returned as ``_Stopped``)."""
    stopped: _Stopped | None = None
    with read_transaction(context.engine) as conn:
        form = get_form(conn, batch.form_key)
        contexts = records_contexts(
            conn=conn, actor=batch.actor, form=form, record_ids=record_ids, tz=tz
        )
        met = meeting_condition(conn, batch.form_key, batch.template, list(contexts), tz)
    for index, record_id in enumerate(record_ids):
        if record_id not in contexts:
            missing = Text(
                "record {record_id} of form {key!r} is not found",
                record_id=record_id,
                key=batch.form_key,
            )
            stopped = _Stopped(record_id, NotFound(missing, id=record_id))
        elif record_id not in met:
            stopped = _Stopped(record_id, condition_not_met(batch.template))
        if stopped is not None:
            record_ids = record_ids[:index]
            break
    if not record_ids:
        return None, stopped
    with context.step() as conn:
        signer = None
        if batch.template["sign"] and batch.template["kind"] == "html":
            signer = active_signer(conn=conn, settings=settings)
        claims, blocked = claim_numbers(
            conn,
            actor=batch.actor,
            form_key=batch.form_key,
            record_ids=record_ids,
            template=batch.template,
            hidden=batch.hidden,
            now=clock.utcnow(conn),
            tz=tz,
            reclaim=set(batch.claimed),
        )
        if blocked is not None:
            stopped = _Stopped(record_ids[len(claims)], blocked)
        batch.claimed += [claim.document_id for claim in claims]
        _progress(conn, batch, state="running")
    record_ids = record_ids[: len(claims)]
    html: list[str] = []
    words: list[bytes] = []
    try:
        for claim, record_id in zip(claims, record_ids, strict=True):
            filled = document_context(
                batch.template,
                contexts[record_id],
                batch.assets,
                number=claim.number,
                version=claim.version,
                issued=claim.issued,
                tz=tz,
            )
            if batch.source is not None:
                words.append(fill_docx(batch.source, filled, tz.key))
            else:
                html.append(render(batch.template["body"], filled, tz.key))
    except MeridianError as exc:  # the template fails for this record: stop before it
        filled_count = len(html) + len(words)
        failed = claims[filled_count:]
        stopped = _Stopped(record_ids[filled_count], exc)
        claims, record_ids = claims[:filled_count], record_ids[:filled_count]
        with context.step() as conn:
            fail_many(conn, failed)
    if not claims:
        return None, stopped
    names = [document_name(c.number, c.version, batch.template) for c in claims]
    return _Chunk(claims, record_ids, names, html, words, signer), stopped


def _store(context: JobContext, settings: Settings, batch: _Batch, chunk: _Chunk) -> list[bytes]:
    """Sign and store a chunk's documents and count them done, in one transaction; returns
    the chunk's part of the batch's PDF (if any)."""
    part: list[bytes] = []
    if chunk.pressed is not None:
        pressed = chunk.pressed.result()
        contents = pressed.pdfs
        if pressed.part is not None:
            part.append(pressed.part)
        media_type = "application/pdf"
    else:
        contents, media_type = chunk.words, DOCX
    if chunk.signer is not None:
        contents = [
            sign_pdf(
                content,
                chunk.signer,
                reason=f"{batch.template['label']} {claim.number}",
                name=claim.number,
            )
            for content, claim in zip(contents, chunk.claims, strict=True)
        ]
    with context.step() as conn:
        for claim, record_id, name, content in zip(
            chunk.claims, chunk.record_ids, chunk.names, contents, strict=True
        ):
            record_document(
                conn,
                batch.actor,
                settings,
                form_key=batch.form_key,
                record_id=record_id,
                template=batch.template,
                claim=claim,
                name=name,
                media_type=media_type,
                content=content,
                signer=chunk.signer,
            )
        done = {claim.document_id for claim in chunk.claims}
        batch.issued += [claim.document_id for claim in chunk.claims]
        batch.claimed = [claimed for claimed in batch.claimed if claimed not in done]
        _progress(conn, batch, state="running")
    chunk.claims = []
    return part


def _reprint(engine: Engine, batch: _Batch, press: Press, tz: ZoneInfo) -> list[bytes]:
    """The batch's PDF parts of the documents an earlier attempt already issued: laid out
    again from their records, with their numbers, versions and dates."""
    futures = []
    for chunk in _chunks(batch.issued, CHUNK):
        with read_transaction(engine) as conn:
            rows = conn.execute(
                sa.select(
                    documents.c.id,
                    documents.c.record_id,
                    documents.c.number,
                    documents.c.version,
                    documents.c.created_at,
                ).where(one_of(conn, documents.c.id, chunk))
            ).all()
            by_id = {row.id: row for row in rows}
            form = get_form(conn, batch.form_key)
            contexts = records_contexts(
                conn=conn,
                actor=batch.actor,
                form=form,
                record_ids=[row.record_id for row in rows],
                tz=tz,
            )
        html = []
        for document_id in chunk:
            row = by_id[document_id]
            if row.record_id not in contexts:
                missing = Text(
                    "record {record_id} of form {key!r} is not found",
                    record_id=row.record_id,
                    key=batch.form_key,
                )
                raise _Stopped(row.record_id, NotFound(missing, id=row.record_id))
            filled = document_context(
                batch.template,
                contexts[row.record_id],
                batch.assets,
                number=row.number,
                version=row.version,
                issued=row.created_at,
                tz=tz,
            )
            html.append(render(batch.template["body"], filled, tz.key))
        futures.append(press.submit(html, own=False, part=True))
    return [part for future in futures if (part := future.result().part) is not None]


def _chunks(items: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _progress(conn: Any, batch: _Batch, *, state: str) -> None:
    conn.execute(
        document_batches.update()
        .where(document_batches.c.id == batch.id)
        .values(
            state=state,
            done=len(batch.issued),
            record_ids={"ids": batch.ids, "documents": batch.issued, "claimed": batch.claimed},
        )
    )


def _fail(context: JobContext, batch: _Batch, stopped: _Stopped) -> None:
    """The batch stops at ``stopped``'s record and says why, kept as its msgid and parameters
    (whoever reads the batch later reads it in their language)."""
    said = Text(
        "record {record_id}: {message}", record_id=stopped.record_id, message=stopped.error.detail
    )
    failed = stored(said, limit=2000)
    with context.transaction() as conn:
        conn.execute(
            document_batches.update()
            .where(document_batches.c.id == batch.id)
            .values(state="failed", error=failed, finished_at=clock.utcnow(conn))
        )
