"""The import's report: every row of the file with what became of it, as an .xlsx to download.

The file is read again and walked beside the import's outcome rows (both in row order, the
outcomes a chunk at a time), and the sheet is written by openpyxl in write-only mode, so a
million rows stream through in constant memory. The reasons are said in the reader's language.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
from sqlalchemy.engine import Engine

from meridian.core.i18n import N_, Text, Translator, localized
from meridian.dataio.reading import read_sheet
from meridian.dataio.run_store import ImportState, RowOutcome, outcomes_of
from meridian.db.engine import read_transaction

_OUTCOME_NAMES = {
    "created": N_("created"),
    "updated": N_("updated"),
    "merged": N_("merged"),
    "rejected": N_("rejected"),
}


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


def write_report(
    engine: Engine, state: ImportState, path: Path, out: Path, locale: str = "en"
) -> int:
    """Write the report of ``state``'s import of ``path`` to ``out``; returns the rows written."""
    _ = Translator(locale)
    source = read_sheet(path, state.sheet)
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(_("Import report"))
    sheet.append([_("Row"), *source.header, _("Outcome"), _("Record id"), _("Reason")])
    written = 0
    with read_transaction(engine) as conn:
        outcomes = _peekable(outcomes_of(conn, state.id))
        for row in source.rows:
            outcome = outcomes.take(row.number)
            if outcome is None:
                cells: list[Any] = [_("not imported yet"), None, None]
            else:
                cells = [
                    _(_OUTCOME_NAMES[outcome.outcome]),
                    outcome.record_id,
                    reason_text(outcome.detail, locale),
                ]
            sheet.append([row.number, *(_cell(c) for c in row.cells), *cells])
            written += 1
    book.save(out)
    return written


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
