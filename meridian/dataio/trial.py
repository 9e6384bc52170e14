"""The dry run (试迁移) of an import: read a sheet, map its columns, convert every row, and say
per row what would happen — without writing anything.

Until deduplication and the write path join the import, a row that converts is one that would
be created; a row with a refused cell, or without a value for a required field, would be
rejected with its reasons. Rows are streamed: the outcome of each is handed on as it is worked
out, and only the counts are kept.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path

from meridian.core.i18n import Text
from meridian.dataio.converting import CellReport, RowReport, convert_row
from meridian.dataio.mapping import Suggestion, suggest_mapping
from meridian.dataio.reading import Sheet, read_sheet
from meridian.schema.fieldtypes import ValueContext
from meridian.schema.model import Field, Form

CREATED = "created"
REJECTED = "rejected"


@dataclass
class TrialCounts:
    """How many rows would end each way; every row read is counted exactly once."""

    created: int = 0
    updated: int = 0
    merged: int = 0
    rejected: int = 0

    @property
    def rows(self) -> int:
        return self.created + self.updated + self.merged + self.rejected

    def summary(self) -> str:
        """The line the CLI ends with."""
        return (
            f"created {self.created}, updated {self.updated}, merged {self.merged}, "
            f"rejected {self.rejected}"
        )


@dataclass
class Trial:
    """A dry run under way: the sheet read, its mapping, and the rows as they are converted
    (iterate :attr:`outcomes`; :attr:`counts` is complete when it is exhausted)."""

    sheet: Sheet
    mapping: list[Suggestion]
    outcomes: Iterator[tuple[str, RowReport]]
    counts: TrialCounts = dataclass_field(default_factory=TrialCounts)


def start_trial(
    path: Path,
    form: Form,
    ctx: ValueContext,
    *,
    sheet: str | None = None,
    mapping: Sequence[Suggestion] | None = None,
    limit: int | None = None,
) -> Trial:
    """A dry run of ``path`` into ``form`` (the suggested mapping unless one is given), of the
    first ``limit`` data rows when a sample is wanted."""
    source = read_sheet(path, sheet)
    chosen = list(mapping) if mapping is not None else suggest_mapping(source.header, form)
    by_key = {field.key: field for field in form.fields}
    columns: list[Field | None] = [None] * len(source.header)
    for suggestion in chosen:
        if suggestion.field is not None and suggestion.column < len(columns):
            columns[suggestion.column] = by_key[suggestion.field]
    required = [field for field in form.fields if field.required and field.default is None]
    trial = Trial(source, chosen, iter(()))
    trial.outcomes = _outcomes(trial, columns, required, ctx, limit)
    return trial


def _outcomes(
    trial: Trial,
    columns: list[Field | None],
    required: list[Field],
    ctx: ValueContext,
    limit: int | None,
) -> Iterator[tuple[str, RowReport]]:
    for index, row in enumerate(trial.sheet.rows):
        if limit is not None and index >= limit:
            return
        report = convert_row(row, columns, ctx)
        missing = tuple(
            CellReport(
                field.key,
                None,
                refusal="required",
                reason=Text("{label} is required", label=field.label),
            )
            for field in required
            if field.key not in report.values
            and not any(cell.field == field.key and cell.refusal for cell in report.cells)
        )
        if missing:
            report = RowReport(report.number, report.values, report.cells + missing)
        if report.rejected:
            trial.counts.rejected += 1
            yield REJECTED, report
        else:
            trial.counts.created += 1
            yield CREATED, report
