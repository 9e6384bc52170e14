"""One source row → the API values of a record, each cell cleansed, read and checked by its
field's type, with a per-cell account for the import's report.

For each mapped cell: the converter the field type names (``FieldType.import_cleanser``) tidies
it (dates, 万/亿 amounts, phones, full-width text), the type reads the result as a cell
(``import_cell``) and checks it as it checks any API input (``parse``). A cell refused at either
step rejects its row, with the field, the reason and the value; nothing is dropped silently.
No database is touched here: the values go on to the records write path unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from decimal import Decimal
from typing import Any

from meridian.core.i18n import Text
from meridian.dataio.cleansing import CLEANSERS, Outcome, clean_text, plain_decimal
from meridian.dataio.reading import SourceRow
from meridian.errors import InvalidValue
from meridian.schema.fieldtypes import ValueContext, field_type
from meridian.schema.model import Field


@dataclass(frozen=True)
class CellReport:
    """What became of one mapped cell.

    :ivar field: the field's key.
    :ivar cell: the cell as the file held it.
    :ivar value: the canonical API value it gave (None when blank or refused).
    :ivar steps: the cleansing steps applied (codes of ``cleansing.STEPS``).
    :ivar refusal: the error code when the cell was refused; :ivar reason: why, in words.
    :ivar stored: the value as the field's type stores it, when the run checked it already
        (``run_rows``: the write path then takes it as it is); None when not checked.
    """

    field: str
    cell: Any
    value: Any = None
    steps: tuple[str, ...] = ()
    refusal: str | None = None
    reason: Text | None = None
    stored: Any = None


@dataclass(frozen=True)
class RowReport:
    """One source row converted: the record's API values, or the cells that rejected it."""

    number: int
    values: dict[str, Any]
    cells: tuple[CellReport, ...] = dataclass_field(default=())

    @property
    def rejected(self) -> bool:
        return any(cell.refusal for cell in self.cells)

    @property
    def refusals(self) -> tuple[CellReport, ...]:
        return tuple(cell for cell in self.cells if cell.refusal)


def convert_cell(field: Field, cell: Any, ctx: ValueContext) -> CellReport:
    """One cell for one field: cleansed by the converter the type names, read as a cell by the
    type, checked by its ``parse`` and given back in the API's canonical form (``dump``: an
    option's value for its label, an amount as exact text), as the write path takes it."""
    kind = field_type(field)
    cleanse = CLEANSERS.get(kind.import_cleanser, clean_text)
    outcome: Outcome = cleanse(cell)
    if outcome.refused:
        return CellReport(field.key, cell, None, outcome.steps, outcome.refusal, outcome.reason)
    cleansed = plain_decimal(outcome.value) if isinstance(outcome.value, Decimal) else outcome.value
    try:
        read = kind.import_cell(field, cleansed)
        value = None if read is None else kind.dump(field, kind.parse(field, read, ctx))
    except InvalidValue as error:
        reason = error.message if isinstance(error.message, Text) else Text(error.message)
        return CellReport(field.key, cell, None, outcome.steps, error.code, reason)
    return CellReport(field.key, cell, value, outcome.steps)


def convert_row(row: SourceRow, columns: Sequence[Field | None], ctx: ValueContext) -> RowReport:
    """A row's mapped cells converted; ``columns[i]`` is the field column ``i`` fills (None:
    left out). Blank cells give no value, so the form's defaults and required checks apply."""
    cells = tuple(
        convert_cell(field, cell, ctx)
        for field, cell in zip(columns, row.cells, strict=False)
        if field is not None
    )
    values = {cell.field: cell.value for cell in cells if cell.value is not None}
    return RowReport(row.number, values, cells)
