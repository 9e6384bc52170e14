"""The import's report: every row of the file with what became of it, as an .xlsx to download.

The file is read again and walked beside the import's outcome rows (both in row order, the
outcomes a chunk at a time), and the sheet is written by openpyxl in write-only mode, so a
million rows stream through in constant memory. The reasons are said in the reader's language.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from meridian.core.i18n import N_, Text, Translator, localized
from meridian.core.late_imports import IMPORTING
from meridian.dataio.mappings import header_row_of
from meridian.dataio.reading import SourceRow, read_sheet
from meridian.dataio.run_store import ImportState, RowOutcome, outcomes_of
from meridian.db.engine import read_transaction

_OUTCOME_NAMES = {
    "created": N_("created"),
    "updated": N_("updated"),
    "merged": N_("merged"),
    "rejected": N_("not imported"),
}
"""The outcome column's words; a rejected row is "not imported" (未导入): approvals' "rejected"
(驳回) is another word in Chinese."""


def reason_text(detail: Any, locale: str) -> str:
    """A rejected row's reasons in ``locale``: ``field: sentence`` joined by ``; ``."""
    if not isinstance(detail, list):
        return ""
    parts = []
    for entry in detail:
        message = entry.get("message", "")
        if entry.get("msgid"):
            message = localized(Text(entry["msgid"], **(entry.get("params") or {})), locale)
        field = entry.get("field") or ""
        parts.append(f"{field}: {message}" if field else message)
    return "; ".join(parts)


class ReportWriter:
    """The report's sheet under way: rows are added with their outcomes (None: not imported
    yet) in file order, streamed by openpyxl's write-only mode; :meth:`save` writes the file."""

    def __init__(self, header: Sequence[str], locale: str = "en") -> None:
        self.locale = locale
        self._ = Translator(locale)
        with IMPORTING:  # openpyxl where a report is written, not at start (core/late_imports)
            import openpyxl
        self.book = openpyxl.Workbook(write_only=True)
        self.sheet = self.book.create_sheet(self._("Import report"))
        _ = self._
        self.sheet.append([_("Row"), *header, _("Outcome"), _("Record id"), _("Reason")])
        self.written = 0

    def add(self, row: SourceRow, outcome: RowOutcome | None) -> None:
        _ = self._
        if outcome is None:
            cells: list[Any] = [_("not imported yet"), None, None]
        else:
            cells = [
                _(_OUTCOME_NAMES[outcome.outcome]),
                outcome.record_id,
                reason_text(outcome.detail, self.locale),
            ]
        self.sheet.append([row.number, *(_cell(c) for c in row.cells), *cells])
        self.written += 1

    def add_batch(self, rows: Sequence[SourceRow], outcomes: Sequence[RowOutcome]) -> None:
        """A batch as a (dry) run settled it: every row has its outcome, in order."""
        for row, outcome in zip(rows, outcomes, strict=True):
            self.add(row, outcome)

    def save(self, out: Path) -> int:
        self.book.save(out)
        return self.written


def write_report(
    engine: Engine, state: ImportState, path: Path, out: Path, locale: str = "en"
) -> int:
    """Write the report of ``state``'s import of ``path`` to ``out``; returns the rows written."""
    source = read_sheet(path, state.sheet, header_row_of(state.mapping))
    report = ReportWriter(source.header, locale)
    with read_transaction(engine) as conn:
        outcomes = _peekable(outcomes_of(conn, state.id))
        for row in source.rows:
            report.add(row, outcomes.take(row.number))
    return report.save(out)


def _cell(cell: Any) -> Any:
    return cell if cell is None or isinstance(cell, str | int | float | bool) else str(cell)


class _peekable:
    """The outcomes in row order, taken by row number as the file's rows come by."""

    def __init__(self, outcomes: Iterator[RowOutcome]) -> None:
        self.outcomes = outcomes
        self.head: RowOutcome | None = next(outcomes, None)

    def take(self, number: int) -> RowOutcome | None:
        while self.head is not None and self.head.number < number:
            self.head = next(self.outcomes, None)
        if self.head is not None and self.head.number == number:
            found, self.head = self.head, next(self.outcomes, None)
            return found
        return None
