"""An import run as a job: what the wizard's and the API's 运行 start.

:func:`launch` moves a draft to ``running`` and queues one job for it (one per import, by
idempotency key); the handler runs it with the run's own code (:func:`running.run_import`),
its duplicates decided by the pairs the importer reviewed, else the import's default. The run
commits per batch, so a worker killed mid-file leaves the settled batches, and the job — tried
again by the queue — goes on after them: each row once. The pace (rows/s) and the file's row
count are kept on the import after each batch for the progress bar and the ETA.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection, Engine

from meridian.access.actors import load_actor
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.dataio.dedup_run import duplicate_finder
from meridian.dataio.drafts import current_mapping, upload_path
from meridian.dataio.run_store import DRAFT, RUNNING, ImportState, load_import
from meridian.dataio.running import Progress, begin_import, count_rows, run_import
from meridian.db.engine import read_transaction, transaction
from meridian.db.tables import imports
from meridian.errors import Conflict
from meridian.jobs.queue import Handler, JobContext, enqueue
from meridian.schema.catalog import get_form

RUN = "import.run"


def launch(conn: Connection, actor: Actor, state: ImportState) -> ImportState:
    """Start a draft: ``running``, with its job queued (in the caller's transaction). An
    import that has started already is a 409."""
    if state.state != DRAFT:
        raise Conflict(Text("import {value} has started already", value=state.id), id=state.id)
    job_id = enqueue(
        conn,
        RUN,
        {"import_id": state.id, "user_id": actor.user_id},
        idempotency_key=f"import:{state.id}",
    )
    moved = conn.execute(
        imports.update()
        .where(imports.c.id == state.id, imports.c.state == DRAFT)
        .values(state=RUNNING, job_id=job_id, started_at=utcnow(conn), updated_at=utcnow(conn))
    )
    if moved.rowcount != 1:
        raise Conflict(Text("import {value} has started already", value=state.id), id=state.id)
    return load_import(conn, state.id)


def import_runner(store: Path, tz: ZoneInfo) -> Handler:
    """The job's handler over the workspace's file store and time zone."""

    def run(ctx: JobContext) -> None:
        finish_run(ctx.engine, store, tz, int(ctx.payload["import_id"]), ctx.payload.get("user_id"))
        with ctx.transaction():
            pass

    return run


def finish_run(
    engine: Engine, store: Path, tz: ZoneInfo, import_id: int, user_id: Any
) -> ImportState:
    """Run the import (or go on with it) to its end as the user who started it."""
    with read_transaction(engine) as conn:
        actor = load_actor(conn, int(user_id)) if user_id is not None else Actor.system()
        state = load_import(conn, import_id)
        if state.state != RUNNING:
            return state
        form = get_form(conn, state.form_key)
        path = upload_path(store, state)
        mapping = current_mapping(conn, state, form, path)
    state, _ = begin_import(
        engine,
        actor,
        state.form_key,
        path,
        mapping,
        sheet=state.sheet,
        on_duplicate=state.on_duplicate,
        import_id=import_id,
    )
    total = count_rows(path, state.sheet, mapping.header_row)
    _keep_pace(engine, import_id)(Progress(state.rows_done, total, 0.0, None))
    try:
        return run_import(
            engine,
            actor,
            state,
            path,
            mapping,
            tz,
            finder=duplicate_finder(
                actor=actor,
                form=form,
                mode=state.on_duplicate,
                tz=tz,
                batch_key=str(import_id),
                review=True,
            ),
            rows_total=total,
            on_progress=_keep_pace(engine, import_id),
        )
    except Conflict:
        with read_transaction(engine) as conn:
            state = load_import(conn, import_id)
        if state.state == RUNNING:
            raise  # another run holds it: this attempt fails and is tried again
        return state  # rolled back meanwhile: nothing more to do


def _keep_pace(engine: Engine, import_id: int) -> Callable[[Progress], None]:
    def keep(progress: Progress) -> None:
        with transaction(engine) as conn:
            conn.execute(
                imports.update()
                .where(imports.c.id == import_id)
                .values(
                    rows_total=progress.rows_total,
                    rows_per_second=round(progress.rows_per_second, 1) or None,
                )
            )

    return keep
