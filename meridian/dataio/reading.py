"""Reading the files customers bring: .xlsx/.xls (python-calamine) and .csv/.tsv in whatever
charset their spreadsheet saved them (UTF-8, GBK, GB18030 — told apart by charset-normalizer).

A file may hold several sheets, and a sheet often starts with a title (merged across the
columns) or a blank line above the real header; :func:`find_header` picks the header row, and
the importer may choose another (``header_row``: the wizard, the API, ``--header-row``). Rows
come out as an iterator, one :class:`SourceRow` at a time, so a file of a million rows never sits
in Python's memory as a list (calamine keeps an .xlsx sheet's cells compactly on its side; a CSV is
read line by line). Cells are as the reader gives them: text, int/float, bool, date/datetime
(a date-formatted Excel cell) or None; converting them is the cleansing step's job.
"""

from __future__ import annotations

import codecs
import csv
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from charset_normalizer import from_bytes
from python_calamine import CalamineWorkbook

from meridian.core.i18n import Text
from meridian.errors import InvalidValue

SPREADSHEETS = {".xlsx", ".xlsm", ".xls", ".xlsb", ".ods"}
DELIMITED = {".csv": ",", ".tsv": "\t", ".txt": "\t"}
HEADER_SEARCH_ROWS = 10
"""A header lies within this many rows of the top of a sheet."""
SAMPLE_BYTES = 256 * 1024
"""How much of a delimited file the charset detector reads."""


class SourceRow(NamedTuple):
    """One data row: its 1-based row number in the sheet (as the spreadsheet shows it, so a
    report can point at it) and its cells, padded or cut to the header's width. A named
    tuple: an import makes one per row of the file, where a frozen dataclass cost five times
    as much to make."""

    number: int
    cells: tuple[Any, ...]


@dataclass(frozen=True)
class Sheet:
    """One sheet (a delimited file is one sheet named after the file).

    :ivar header: the header's cells as tidy text ("" for a blank header cell).
    :ivar header_row: the header's 1-based row number.
    :ivar rows: the data rows below the header, streamed; rows that are entirely blank are
        left out (they hold no record), their numbers simply skipped.
    :ivar encoding: the charset a delimited file was read in; None for a workbook.
    """

    name: str
    header: tuple[str, ...]
    header_row: int
    rows: Iterator[SourceRow]
    encoding: str | None = None


def read_sheets(path: Path) -> Iterator[Sheet]:
    """Every sheet of a file in order; a sheet with no header (an empty one) is skipped.
    Read each sheet's rows before moving to the next sheet."""
    suffix = path.suffix.lower()
    if suffix in DELIMITED:
        yield _delimited_sheet(path, DELIMITED[suffix])
        return
    if suffix not in SPREADSHEETS:
        raise InvalidValue(
            "unsupported_file",
            Text("{value!r} is not an .xlsx, .xls, .csv or .tsv file", value=path.name),
        )
    workbook = _open_workbook(path)
    for name in workbook.sheet_names:
        sheet = _rows_sheet(name, *_workbook_rows(workbook, name))
        if sheet is not None:
            yield sheet


def read_sheet(path: Path, sheet: str | None = None, header_row: int | None = None) -> Sheet:
    """One sheet by name (the first with a header when ``sheet`` is None), its header the row
    numbered ``header_row`` (as the sheet shows it) or, when None, the row found."""
    for found in read_sheets(path):
        if sheet is None or found.name == sheet:
            if header_row is None or header_row == found.header_row:
                return found
            return _headed_at(path, found, header_row)
    raise InvalidValue(
        "no_sheet",
        Text("{value!r} has no sheet with a header", value=path.name)
        if sheet is None
        else Text("{value!r} has no sheet {sheet!r}", value=path.name, sheet=sheet),
    )


def sheet_names(path: Path) -> list[str]:
    suffix = path.suffix.lower()
    if suffix in DELIMITED:
        return [path.stem]
    return list(_open_workbook(path).sheet_names)


def detect_encoding(sample: bytes) -> str:
    """The charset of the start of a delimited file: a UTF-8 BOM or valid UTF-8 first, then
    charset-normalizer's best guess; GBK and GB2312 are read as GB18030, their superset, so a
    rare character further on still decodes."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as error:
        if error.start >= len(sample) - 3:  # the sample cut a character in two
            return "utf-8"
    best = from_bytes(sample).best()
    encoding = best.encoding if best is not None else "gb18030"
    if encoding.replace("-", "").replace("_", "").lower() in {"gbk", "gb2312", "cp936", "hz"}:
        return "gb18030"
    return encoding


def find_header(rows: list[tuple[Any, ...]]) -> int | None:
    """The index of the header among the first rows of a sheet, or None when all are blank.

    The header is the first row that fills at least half as many cells as the fullest of these
    rows and holds only text: a title above it fills one cell (a merged title is read as its
    first cell), a blank line none, and the data below it holds numbers and dates."""
    filled = [sum(1 for cell in row if _filled(cell)) for row in rows]
    widest = max(filled, default=0)
    if widest == 0:
        return None
    for index, (row, count) in enumerate(zip(rows, filled, strict=True)):
        if count and count * 2 >= widest and (count > 1 or widest == 1):
            if all(isinstance(cell, str) for cell in row if _filled(cell)):
                return index
    return next(index for index, count in enumerate(filled) if count)


def _headed_at(path: Path, found: Sheet, header_row: int) -> Sheet:
    """``found`` read again with its header at row ``header_row``."""
    suffix = path.suffix.lower()
    if suffix in DELIMITED:
        assert found.encoding is not None
        rows, first = _delimited_rows(path, found.encoding, DELIMITED[suffix]), 1
    else:
        rows, first = _workbook_rows(_open_workbook(path), found.name)
    sheet = _rows_sheet(found.name, rows, first, found.encoding, header_row)
    assert sheet is not None
    return sheet


def _rows_sheet(
    name: str,
    rows: Iterator[tuple[Any, ...]],
    first_row: int = 1,
    encoding: str | None = None,
    header_row: int | None = None,
) -> Sheet | None:
    """The sheet whose rows (the first numbered ``first_row``) are ``rows``, its header found
    or at row ``header_row``; None if blank. A chosen row that is blank or past the end is
    refused (``blank_header_row``)."""
    if header_row is None:
        top = list(itertools.islice(rows, HEADER_SEARCH_ROWS))
        index = find_header(top)
        if index is None:
            return None
    else:
        index = header_row - first_row
        top = list(itertools.islice(rows, max(index + 1, 0)))
        if index < 0 or len(top) <= index or not any(_filled(cell) for cell in top[index]):
            raise InvalidValue(
                "blank_header_row",
                Text(
                    "row {value} of sheet {sheet!r} cannot be the header: it is blank or past "
                    "the last row",
                    value=header_row,
                    sheet=name,
                ),
            )
    header_cells = top[index]
    width = max(
        (i + 1 for i, cell in enumerate(header_cells) if _filled(cell)), default=len(header_cells)
    )
    header = tuple(_header_text(cell) for cell in _fit(header_cells, width))
    body = itertools.chain(top[index + 1 :], rows)
    header_row = first_row + index
    return Sheet(name, header, header_row, _data_rows(body, header_row + 1, width), encoding)


def _data_rows(rows: Iterable[tuple[Any, ...]], first: int, width: int) -> Iterator[SourceRow]:
    for number, row in enumerate(rows, start=first):
        if any(map(_filled, row)):
            yield SourceRow(number, _fit(row, width))


def _fit(row: tuple[Any, ...], width: int) -> tuple[Any, ...]:
    cells = tuple(row[:width])
    if "" in cells:  # most rows have none: the slice is the row
        cells = tuple([None if cell == "" else cell for cell in cells])
    return cells if len(cells) == width else cells + (None,) * (width - len(cells))


def _filled(cell: Any) -> bool:
    return cell is not None and not (isinstance(cell, str) and not cell.strip())


def _header_text(cell: Any) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)
    return " ".join(str(cell).split())


def _open_workbook(path: Path) -> CalamineWorkbook:
    try:
        return CalamineWorkbook.from_path(str(path))
    except Exception as error:  # calamine raises its own error types for damaged files
        raise InvalidValue(
            "unreadable_file",
            Text(
                "{value!r} cannot be read as a spreadsheet: {reason}",
                value=path.name,
                reason=str(error),
            ),
        ) from None


def _workbook_rows(workbook: CalamineWorkbook, name: str) -> tuple[Iterator[tuple[Any, ...]], int]:
    """A sheet's rows from its first row (calamine pads the blank rows above the used range,
    so numbers match the sheet's, and starts at the first used column)."""
    sheet = workbook.get_sheet_by_name(name)
    return (tuple(_workbook_cell(cell) for cell in row) for row in sheet.iter_rows()), 1


def _workbook_cell(cell: Any) -> Any:
    """calamine's cell as the rest of the import reads it: a time-only cell (a duration or a
    time of day) becomes a time, text stays text, numbers stay numbers."""
    if isinstance(cell, timedelta):
        return (datetime.min + cell).time() if cell < timedelta(days=1) else cell
    return cell


def _delimited_sheet(path: Path, delimiter: str) -> Sheet:
    with path.open("rb") as file:
        sample = file.read(SAMPLE_BYTES)
    encoding = detect_encoding(sample)
    sheet = _rows_sheet(path.stem, _delimited_rows(path, encoding, delimiter), 1, encoding)
    if sheet is None:
        raise InvalidValue("empty_file", Text("{value!r} holds no rows", value=path.name))
    return sheet


def _delimited_rows(path: Path, encoding: str, delimiter: str) -> Iterator[tuple[Any, ...]]:
    with path.open(encoding=encoding, errors="strict", newline="") as file:
        try:
            for row in csv.reader(file, delimiter=delimiter):
                yield tuple(row)
        except UnicodeDecodeError:
            raise InvalidValue(
                "undecodable_file",
                Text("{value!r} is not text in {encoding}", value=path.name, encoding=encoding),
            ) from None
