"""The import run: a file into a form, in batches, resumable after a crash.

Each batch of :data:`BATCH_ROWS` data rows is one transaction: the import's progress moves
forward (only from where this run read it), the rows are converted and their references looked
up, deduplication decides, the records are written through the records write path, and every
row's outcome is recorded. A crash loses at most the batch in flight, which left nothing; the
same import run again (by its id, or the same file with the same mapping, which finds it)
skips the settled rows and goes on, so each row is imported exactly once.

Who imports needs the form's 导入 (``import``) and 新建 (``create``) permissions; every write
checks the rest (field rights, readable links, guards) as any write does.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection, Engine

from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.core.i18n import Text
from meridian.dataio.mappings import ImportMapping
from meridian.dataio.reading import SourceRow, read_sheet
from meridian.dataio.resolving import Resolver
from meridian.dataio.run_ahead import converted_batches
from meridian.dataio.run_decisions import Decision, DuplicateFinder, KeepAll, PendingRow
from meridian.dataio.run_rows import BatchConverter, Converted, ImportRun
from meridian.dataio.run_store import (
    FINISHED,
    RUNNING,
    ImportState,
    RowOutcome,
    claim_batch,
    finish_import,
    load_import,
    record_outcomes,
    start_import,
    unfinished_import,
)
from meridian.dataio.run_writes import write_batch
from meridian.db.checkpoints import checkpoints_beside
from meridian.db.engine import read_transaction, transaction
from meridian.errors import Conflict
from meridian.records.search import merge_search_index_gradually
from meridian.schema.catalog import get_form
from meridian.schema.compile import compile_form
from meridian.schema.fieldtypes import ValueContext
from meridian.schema.model import Form

BATCH_ROWS = 1000


@dataclass(frozen=True)
class Progress:
    """Where a run is: data rows settled (this run and earlier ones), of how many (None when
    not known), and the pace of this run."""

    rows_done: int
    rows_total: int | None
    rows_per_second: float
    seconds_left: float | None


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def count_rows(path: Path, sheet: str | None, header_row: int | None = None) -> int:
    """How many data rows the sheet has (read once more, without converting: for the ETA)."""
    return sum(1 for _ in read_sheet(path, sheet, header_row).rows)


def begin_import(
    engine: Engine,
    actor: Actor,
    form_key: str,
    path: Path,
    mapping: ImportMapping,
    *,
    sheet: str | None = None,
    on_duplicate: str = "keep",
    import_id: int | None = None,
) -> tuple[ImportState, bool]:
    """The import to run: the one named, else the unfinished one of this file and mapping,
    else a new one; and whether it resumes. Refused (403) without the form's import right."""
    file_hash = file_digest(path)
    with transaction(engine) as conn:
        form = get_form(conn, form_key)
        access = form_access(conn, actor, form)
        access.require("import")
        access.require("create")
        if import_id is not None:
            state = load_import(conn, import_id)
            if state.form_key != form_key or state.file_hash != file_hash:
                raise Conflict(
                    Text(
                        "import {value} read another file or form; start a new import",
                        value=import_id,
                    ),
                    id=import_id,
                )
            return state, state.rows_done > 0 or state.state != RUNNING
        found = unfinished_import(conn, form_key, file_hash, mapping.digest())
        if found is not None:
            return found, True
        state = start_import(
            conn,
            actor,
            form_key=form_key,
            file_name=path.name,
            file_hash=file_hash,
            mapping_hash=mapping.digest(),
            sheet=sheet,
            mapping=mapping.document(),
            on_duplicate=on_duplicate,
        )
        return state, False


def run_import(
    engine: Engine,
    actor: Actor,
    state: ImportState,
    path: Path,
    mapping: ImportMapping,
    tz: ZoneInfo,
    *,
    finder: DuplicateFinder | None = None,
    batch_rows: int = BATCH_ROWS,
    rows_total: int | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    ahead: bool = False,
) -> ImportState:
    """Run (or go on with) ``state``'s import to its end; returns the import as it ended.
    ``ahead``: the next batches are read and converted in a second process while this one
    writes (:mod:`meridian.dataio.run_ahead`; the CLI's run, not a job inside a server)."""
    if state.state != RUNNING:
        return state
    finder = finder or KeepAll()
    with read_transaction(engine) as conn:
        form = get_form(conn, state.form_key)
        resolver = Resolver(conn, actor, form, mapping.link_keys, tz)
    converter = BatchConverter(form, mapping, resolver, ValueContext(tz))
    done = state.rows_done
    started, this_run = time.monotonic(), 0
    run = ImportRun(converter, path, state.sheet, mapping.header_row, batch_rows, skip=done)
    batches = converted_batches(run) if ahead else run.converted_here()
    with contextlib.closing(batches), checkpoints_beside(engine) as checkpoints:
        for batch in batches:
            with transaction(engine) as conn:
                claim_batch(conn, state, done, len(batch.rows))
                outcomes = settle_batch(conn, actor, form, converter, finder, batch, tz)
                record_outcomes(conn, state.id, outcomes)
            checkpoints.nudge()
            done += len(batch.rows)
            this_run += len(batch.rows)
            if on_progress is not None:
                elapsed = max(time.monotonic() - started, 1e-9)
                rate = this_run / elapsed
                left = None if rows_total is None else max(rows_total - done, 0) / rate
                on_progress(Progress(done, rows_total, rate, left))
    with transaction(engine) as conn:
        finish_import(conn, state.id)
        ended = load_import(conn, state.id)
    merge_search_index_gradually(engine, compile_form(form))
    return ended


def settle_batch(
    conn: Connection,
    actor: Actor,
    form: Form,
    converter: BatchConverter,
    finder: DuplicateFinder,
    chunk: Sequence[SourceRow] | Converted,
    tz: ZoneInfo,
) -> list[RowOutcome]:
    """One batch's rows (or its cells converted already) converted, their duplicates decided
    and their records written in ``conn``: the run commits this with the batch's outcomes, the
    dry run rolls it back."""
    if isinstance(chunk, Converted):
        batch = converter.resolve(conn, chunk)
    else:
        batch = converter.convert(conn, chunk)
    ready = [PendingRow(row.number, row.values) for row in batch if not row.refusals]
    found = finder.find_duplicates(conn, ready)
    if len(found) != len(ready):
        raise ValueError(f"{len(found)} decisions for {len(ready)} rows")
    decided = iter(found)
    decisions: list[Decision | None] = [None if row.refusals else next(decided) for row in batch]
    return write_batch(conn, actor, form, batch, decisions, tz)


__all__ = [
    "BATCH_ROWS",
    "FINISHED",
    "Progress",
    "begin_import",
    "count_rows",
    "run_import",
    "settle_batch",
]
