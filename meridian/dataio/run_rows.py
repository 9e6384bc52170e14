"""A batch of source rows → the records' API values, column by column.

The dry run converts one row at a time; a run of a million rows cannot afford to. Here a batch
is converted a column at a time, and each column remembers what each distinct cell became: a
column of 行业, 客户等级, dates or amounts holds few distinct values, so most cells cost a
dictionary lookup instead of cleansing, reading and checking again. Cells naming records or
users are collected and looked up together, one query per linked form per batch
(:mod:`meridian.dataio.resolving`). A refused cell rejects its row with the field, the reason
and the value; nothing is dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Connection

from meridian.core.i18n import Text
from meridian.dataio.cleansing import CLEANSERS, clean_text, plain_decimal
from meridian.dataio.converting import CellReport
from meridian.dataio.mappings import ImportMapping
from meridian.dataio.reading import SourceRow
from meridian.dataio.resolving import OptionMatcher, Reference, Resolver, reference_of
from meridian.errors import InvalidValue
from meridian.schema.fieldtypes import ValueContext, field_type
from meridian.schema.model import Field, Form

MEMO_LIMIT = 20_000
"""Distinct cells a column remembers; a column of unique values (names, phones) stops there."""


@dataclass
class BatchRow:
    """One source row under way: the values converted so far and the cells refused."""

    number: int
    cells: tuple[Any, ...]
    values: dict[str, Any] = field(default_factory=dict)
    refusals: list[CellReport] = field(default_factory=list)

    @property
    def rejected(self) -> bool:
        return bool(self.refusals)


class _Column:
    """How one mapped column's cells become values."""

    def __init__(
        self,
        position: int,
        key: str,
        convert: Callable[[Any], CellReport] | None,
        reference: bool,
        many: bool,
    ) -> None:
        self.position = position
        self.key = key
        self.convert = convert
        self.reference = reference
        self.many = many
        self.memo: dict[tuple[type, Any], CellReport] = {}


class BatchConverter:
    """Converts batches of rows for one form and mapping; built once per run."""

    def __init__(self, form: Form, mapping: ImportMapping, resolver: Resolver, ctx: ValueContext):
        self.resolver = resolver
        self.columns: list[_Column] = []
        fields = {f.key: f for f in form.active_fields}
        for column in mapping.columns:
            if column.field is None:
                continue
            if resolver.looks_up(column.field):
                many = resolver.many(column.field)
                self.columns.append(_Column(column.column, column.field, None, True, many))
                continue
            target = fields[column.field]
            options = (
                OptionMatcher(target, column.options) if field_type(target).has_options else None
            )
            self.columns.append(
                _Column(column.column, column.field, _converter(target, options), False, False)
            )

    def convert(self, conn: Connection, rows: Sequence[SourceRow]) -> list[BatchRow]:
        """The batch's rows with their values, references looked up (one query per linked
        form), refused cells listed."""
        batch = [BatchRow(row.number, row.cells) for row in rows]
        references: list[Reference] = []
        owners: list[BatchRow] = []
        for column in self.columns:
            position, key = column.position, column.key
            if column.reference:
                for row in batch:
                    found = reference_of(key, column.many, row.cells[position])
                    if isinstance(found, Reference):
                        references.append(found)
                        owners.append(row)
                    elif found is not None:
                        row.refusals.append(found)
                continue
            memo, convert = column.memo, column.convert
            assert convert is not None
            for row in batch:
                cell = row.cells[position]
                if cell is None:
                    continue
                remembered = (cell.__class__, cell)  # 1, 1.0 and True are equal keys
                try:
                    report = memo.get(remembered)
                except TypeError:  # an unhashable cell
                    report = None
                if report is None:
                    report = convert(cell)
                    if len(memo) < MEMO_LIMIT:
                        memo[remembered] = report
                if report.refusal is not None:
                    row.refusals.append(report)
                elif report.value is not None:
                    row.values[key] = report.value
        if references:
            resolved = self.resolver.resolve(conn, references)
            for row, reference, result in zip(owners, references, resolved, strict=True):
                if result.refusal is not None:
                    row.refusals.append(result.refusal)
                else:
                    row.values[reference.field] = result.value
        return batch


def _converter(target: Field, options: OptionMatcher | None) -> Callable[[Any], CellReport]:
    """Cleansing and reading a cell as its field's type asks (:func:`converting.convert_cell`
    without the final check): the value is checked once, by the write path, which names the
    field and the value when it refuses one."""
    kind = field_type(target)
    cleanse = CLEANSERS.get(kind.import_cleanser, clean_text)
    key = target.key

    def convert(cell: Any) -> CellReport:
        outcome = cleanse(cell if options is None else options(cell))
        if outcome.refused:
            return CellReport(key, cell, None, outcome.steps, outcome.refusal, outcome.reason)
        value = outcome.value
        if isinstance(value, Decimal):
            value = plain_decimal(value)
        try:
            return CellReport(key, cell, kind.import_cell(target, value), outcome.steps)
        except InvalidValue as error:
            reason = error.message if isinstance(error.message, Text) else Text(error.message)
            return CellReport(key, cell, None, outcome.steps, error.code, reason)

    return convert
