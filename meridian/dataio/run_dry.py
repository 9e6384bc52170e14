"""The dry run (试迁移) of an import: the run's own code — conversion, link and owner lookup,
deduplication with the decisions taken so far, the records write path with its validation,
permissions, guards and formulas — inside one transaction that is rolled back at the end, so
it reports per row exactly what the run would do and leaves nothing behind.

One transaction (not one per batch) so that a later batch sees the records an earlier batch
would have made, as the run does: the outcomes of a dry run are the run's outcomes. A whole
large file dry-run therefore holds the database's write lock while it works (SQLite); a sample
(the first N rows) is the usual trial. The duplicate pairs it finds are kept for review after
the rollback when a ``batch_key`` names the import they belong to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.dataio.dedup import Candidate
from meridian.dataio.dedup_run import duplicate_finder
from meridian.dataio.duplicates import store_candidates
from meridian.dataio.mappings import ImportMapping
from meridian.dataio.reading import Sheet, SourceRow, read_sheet
from meridian.dataio.resolving import Resolver
from meridian.dataio.run_decisions import DuplicateFinder, KeepAll
from meridian.dataio.run_rows import BatchConverter, ImportRun
from meridian.dataio.run_store import OUTCOMES, RowOutcome
from meridian.dataio.running import BATCH_ROWS, settle_batch
from meridian.db.engine import transaction
from meridian.schema.catalog import get_form
from meridian.schema.fieldtypes import ValueContext

OnBatch = Callable[[Sequence[SourceRow], Sequence[RowOutcome]], None]


@dataclass
class DryRun:
    """What a dry run found: the sheet it read, how many rows would end each way, and the
    duplicate pairs among them."""

    sheet: Sheet
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    candidates: list[Candidate] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        """The line the CLI ends with, as the run's."""
        c = self.counts
        return (
            f"created {c['created']}, updated {c['updated']}, merged {c['merged']}, "
            f"rejected {c['rejected']}"
        )


class _Rollback(Exception):
    """Raised at the end of the dry run's transaction so that nothing it wrote is kept."""


def dry_run(
    engine: Engine,
    actor: Actor,
    form_key: str,
    path: Path,
    mapping: ImportMapping,
    tz: ZoneInfo,
    *,
    sheet: str | None = None,
    on_duplicate: str = "keep",
    limit: int | None = None,
    batch_key: str | None = None,
    review: bool = False,
    batch_rows: int = BATCH_ROWS,
    on_batch: OnBatch | None = None,
) -> DryRun:
    """Dry-run ``path`` (its first ``limit`` data rows when a sample is wanted) into the form
    as ``actor``; ``on_batch`` gets each batch's source rows with their outcomes, in order.
    Refused (403) without the form's import and create rights, as the run is."""
    source = read_sheet(path, sheet, mapping.header_row)
    result = DryRun(source)
    try:
        with transaction(engine) as conn:
            form = get_form(conn, form_key)
            access = form_access(conn, actor, form)
            access.require("import")
            access.require("create")
            resolver = Resolver(conn, actor, form, mapping.link_keys, tz)
            converter = BatchConverter(form, mapping, resolver, ValueContext(tz))
            dedup = duplicate_finder(
                actor=actor, form=form, mode=on_duplicate, tz=tz, batch_key=batch_key, review=review
            )
            finder: DuplicateFinder = dedup or KeepAll()
            run = ImportRun(converter, path, sheet, mapping.header_row, batch_rows, limit=limit)
            for chunk in run.chunks(source):
                outcomes = settle_batch(conn, actor, form, converter, finder, chunk, tz)
                for outcome in outcomes:
                    result.counts[outcome.outcome] += 1
                if on_batch is not None:
                    on_batch(chunk, outcomes)
            if dedup is not None:
                result.candidates = list(dedup.found)
            raise _Rollback
    except _Rollback:
        pass
    if batch_key is not None and result.candidates:
        with transaction(engine) as conn:
            store_candidates(
                conn, batch_key=batch_key, form_key=form_key, candidates=result.candidates
            )
    return result


__all__ = ["DryRun", "dry_run"]
