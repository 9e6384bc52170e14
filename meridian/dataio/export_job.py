"""A long export as a job (issue 19, item 6): asked for from the grid or the API, run by a
worker into the file store, watched through its progress, downloaded by the one who asked.

:func:`start_export` checks everything an export can be refused for (导出, the columns, the
filter, the sort) before anything is queued, and writes one ``sys_export`` row with its job.
The job (:func:`export_runner`) reads the rows in one snapshot — the count and the rows in one
read transaction — and writes them to a file of its own in the store, keeping the row count
and the pace on the export as it goes. The file is stored, the export marked done, audited
(who, which view or grid state, how many rows) and its owner told, all with the job's
completion in one transaction. A worker that dies mid-file leaves only a partial file that no
row refers to; the worker that takes the job over starts the file again from its first row,
so the stored file holds each row exactly once.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access.actors import load_actor
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import Text, localized, stored
from meridian.dataio.export import (
    FORMATS,
    ExportSpec,
    audit_export,
    export_rows,
    spec_of,
    write_csv,
    write_xlsx,
)
from meridian.dataio.progress import pace
from meridian.db.engine import read_transaction, transaction
from meridian.db.tables import exports
from meridian.errors import FieldError, MeridianError, NotFound, ValidationFailed
from meridian.jobs.queue import Handler, JobContext, enqueue
from meridian.notify.inbox import notify_users
from meridian.records.files import get_file, store_file
from meridian.schema.catalog import get_form

RUN = "export.run"
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
PROGRESS_EVERY = 0.25
"""Seconds between two writes of an export's progress (each a short transaction)."""
ATTEMPTS = 5


def start_export(
    *,
    conn: Connection,
    actor: Actor,
    form_key: str,
    fmt: str,
    tz: ZoneInfo,
    locale: str = "en",
    view: int | None = None,
    columns: tuple[str, ...] = (),
    filter: Any = None,
    sort: str | None = None,
    q: str | None = None,
) -> dict[str, Any]:
    """Queue an export of a saved view or a grid's state (in the caller's transaction). It is
    refused now, not in the worker, for anything the export itself would refuse: no 导出 (403),
    a column, filter or sort the actor's form does not have (422), an unknown format (422)."""
    if fmt not in FORMATS:
        raise ValidationFailed(
            [FieldError("format", "invalid_format", Text("use xlsx or csv"), str(fmt)[:20])]
        )
    form = get_form(conn, form_key)
    spec = spec_of(conn, actor, form, view=view, columns=columns, filter=filter, sort=sort, q=q)
    export_rows(conn=conn, actor=actor, form=form, spec=spec, tz=tz, locale=locale)
    now = utcnow(conn)
    settings = {
        "view": view,
        "columns": list(spec.columns),
        "filter": spec.filter,
        "sort": spec.sort,
        "q": spec.q,
        "locale": locale,
    }
    export_id = conn.execute(
        exports.insert()
        .values(
            form_key=form.key,
            owner_id=actor.user_id,
            format=fmt,
            settings=settings,
            state=QUEUED,
            rows_done=0,
            created_at=now,
        )
        .returning(exports.c.id)
    ).scalar_one()
    job_id = enqueue(
        conn,
        RUN,
        {"export_id": export_id},
        max_attempts=ATTEMPTS,
        idempotency_key=f"{RUN}:{export_id}",
    )
    conn.execute(exports.update().where(exports.c.id == export_id).values(job_id=job_id))
    return get_export(conn=conn, actor=actor, export_id=export_id, locale=locale)


def get_export(
    *, conn: Connection, actor: Actor, export_id: int, locale: str = "en"
) -> dict[str, Any]:
    """The export's progress — rows done of how many, rows per second, seconds left — and,
    once done, where its file is; to the one who asked for it (and administrators)."""
    row = _export_row(conn, actor, export_id)
    now = utcnow(conn)
    rate = None
    if row.started_at is not None and row.rows_done:
        elapsed = ((row.finished_at or now) - row.started_at).total_seconds()
        rate = round(row.rows_done / elapsed, 1) if elapsed > 0 else None
    return {
        "id": row.id,
        "form_key": row.form_key,
        "format": row.format,
        "settings": row.settings,
        "state": row.state,
        "rows_done": row.rows_done,
        "rows_total": row.rows_total,
        **pace(
            rows_done=row.rows_done,
            rows_total=row.rows_total,
            rows_per_second=rate,
            running=row.state == RUNNING,
            finished=row.state == DONE,
        ),
        "file": f"/api/v1/exports/{row.id}/file" if row.state == DONE else None,
        "error": None if row.error is None else localized(row.error, locale),
        "created_at": row.created_at.isoformat(),
        "started_at": _iso(row.started_at),
        "finished_at": _iso(row.finished_at),
    }


def export_file(*, conn: Connection, actor: Actor, export_id: int) -> dict[str, Any]:
    """The finished export's file (name, type, place in the store); 404 until it is done."""
    row = _export_row(conn, actor, export_id)
    if row.file_token is None:
        raise NotFound(
            Text("export {export_id} is not finished", export_id=export_id),
            id=export_id,
            state=row.state,
        )
    return get_file(conn=conn, token=row.file_token)


def form_label(conn: Connection, form_key: str) -> str:
    """The exported form's name as its pages show it."""
    return get_form(conn, form_key).label


def _export_row(conn: Connection, actor: Actor, export_id: int) -> Any:
    row = conn.execute(sa.select(exports).where(exports.c.id == export_id)).first()
    if row is None or not (actor.is_admin or row.owner_id == actor.user_id):
        raise NotFound(Text("export {export_id} does not exist", export_id=export_id), id=export_id)
    return row


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


# ---- the job ---------------------------------------------------------------------------------


def export_runner(store: Path, tz: ZoneInfo) -> Handler:
    """The ``export.run`` handler over the workspace's file store and time zone."""

    def run(ctx: JobContext) -> None:
        run_export(ctx, store, tz)

    return run


def run_export(ctx: JobContext, store: Path, tz: ZoneInfo) -> None:
    """Write the export's file from its first row (again, after a dead worker), store it and
    finish the export with the job. An export the exporter may no longer make (导出 taken
    away, a column removed) fails with the reason and is not tried again."""
    export_id = int(ctx.payload["export_id"])
    with read_transaction(ctx.engine) as conn:
        row = conn.execute(sa.select(exports).where(exports.c.id == export_id)).first()
    if row is None or row.state in (DONE, FAILED):
        with ctx.transaction():
            return
    with ctx.step() as conn:
        conn.execute(
            exports.update()
            .where(exports.c.id == export_id)
            .values(state=RUNNING, rows_done=0, rows_total=None, started_at=utcnow(conn))
        )
    folder = store / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    for left in folder.glob(f".export-{export_id}-*"):
        left.unlink(missing_ok=True)  # a dead attempt's partial file
    partial = folder / f".export-{export_id}-{os.getpid()}-{secrets.token_hex(4)}.{row.format}"
    try:
        try:
            actor, form, spec, written = _write(ctx, row, partial, tz)
            with transaction(ctx.engine) as conn, partial.open("rb") as stream:
                kept = store_file(
                    conn=conn,
                    actor=actor,
                    store=store,
                    name=f"{form.label}.{row.format}",
                    stream=stream,
                )
        except MeridianError as error:
            _fail(ctx, row, error)
            return
        with ctx.transaction() as conn:
            conn.execute(
                exports.update()
                .where(exports.c.id == export_id)
                .values(
                    state=DONE,
                    rows_done=written,
                    rows_total=written,
                    file_token=kept["id"],
                    finished_at=utcnow(conn),
                )
            )
            audit_export(
                conn,
                actor,
                form,
                spec,
                row.format,
                written,
                export_id=export_id,
                view=row.settings.get("view"),
            )
            if row.owner_id is not None:
                notify_users(
                    conn,
                    [row.owner_id],
                    title=Text(
                        "Your export of {form} is ready: {rows} rows", form=form.label, rows=written
                    ),
                    body=f"/exports/{export_id}",
                )
    finally:
        partial.unlink(missing_ok=True)


def _write(
    ctx: JobContext, row: Any, partial: Path, tz: ZoneInfo
) -> tuple[Actor, Any, ExportSpec, int]:
    settings = row.settings
    with read_transaction(ctx.engine) as conn:
        actor = load_actor(conn, row.owner_id) if row.owner_id is not None else Actor.system()
        form = get_form(conn, row.form_key)
        spec = ExportSpec(
            columns=tuple(settings.get("columns") or ()),
            filter=settings.get("filter"),
            sort=settings.get("sort") or "",
            q=settings.get("q") or "",
        )
        exported = export_rows(
            conn=conn,
            actor=actor,
            form=form,
            spec=spec,
            tz=tz,
            locale=settings.get("locale") or "en",
        )
        total = exported.count()
        report = _progress(ctx, row.id, total)
        if row.format == "csv":
            with partial.open("w", encoding="utf-8", newline="") as out:
                written = write_csv(exported, out, progress=report)
        else:
            written = write_xlsx(exported, partial, sheet=form.label, progress=report)
    return actor, form, spec, written


def _progress(ctx: JobContext, export_id: int, total: int) -> Callable[[int], None]:
    """Keeps rows done on the export at most every :data:`PROGRESS_EVERY` seconds, each in a
    step that holds the job (a worker whose lease was taken over stops here)."""
    with ctx.step() as conn:
        conn.execute(exports.update().where(exports.c.id == export_id).values(rows_total=total))
    last = time.monotonic()

    def report(done: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < PROGRESS_EVERY:
            return
        last = now
        with ctx.step() as conn:
            conn.execute(exports.update().where(exports.c.id == export_id).values(rows_done=done))

    return report


def _fail(ctx: JobContext, row: Any, error: MeridianError) -> None:
    """The export stops with why, kept as its msgid and parameters (read in each reader's
    language); the owner is told."""
    with ctx.transaction() as conn:
        conn.execute(
            exports.update()
            .where(exports.c.id == row.id)
            .values(state=FAILED, error=stored(error.detail, limit=2000), finished_at=utcnow(conn))
        )
        if row.owner_id is not None:
            notify_users(
                conn,
                [row.owner_id],
                title=Text("Your export of {form} failed", form=row.form_key),
                body=error.detail,
            )
