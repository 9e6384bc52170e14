"""A batch of source rows → the records' API values, column by column.

The dry run converts one row at a time; a run of a million rows cannot afford to. Here a batch
is converted a column at a time, and each column remembers what each distinct cell became: a
column of 行业, 客户等级, dates or amounts holds few distinct values, so most cells cost a
dictionary lookup instead of cleansing, reading and checking again. A cell is checked here by
its type's ``parse`` too (for fields checked alone, :func:`records.values.checked_alone`), once
per distinct cell for the whole file, and the write path takes the stored value as it is
(``BatchRow.stored``) instead of checking every record's values again. Cells naming records or
users are collected and looked up together, one query per linked form per batch
(:mod:`meridian.dataio.resolving`). A refused cell rejects its row with the field, the reason
and the value; nothing is dropped.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from meridian.core.i18n import Text
from meridian.dataio.cleansing import (
    CLEANSERS,
    STORED_AS_CLEANSED,
    clean_text,
    is_tidy,
    plain_decimal,
)
from meridian.dataio.converting import CellReport
from meridian.dataio.mappings import ImportMapping
from meridian.dataio.reading import Sheet, SourceRow, read_sheet
from meridian.dataio.resolving import OptionMatcher, Reference, Resolver, reference_of
from meridian.errors import InvalidValue
from meridian.records.plan import plan_for
from meridian.records.values import IMMUTABLE, checked_alone
from meridian.records.writing import Derived, deriver
from meridian.schema.fieldtypes import FieldType, ValueContext, field_type
from meridian.schema.model import Field, Form

MEMO_LIMIT = 20_000
"""Distinct cells a column remembers."""
MEMO_TRIAL = MEMO_LIMIT
"""Cells a column converts before it judges its memo: when three in four were new (names,
codes, phones), it forgets and stops remembering — a miss costs a lookup and an entry, and
entries nobody asks for again cost the collector more than the lookups save. A column of dates
or amounts, whose cells repeat more as the file goes on, keeps its memo."""


@dataclass
class BatchRow:
    """One source row under way: the values converted so far (as the API takes them), the
    stored values of those already checked (a subset of ``values``' keys), the cells
    refused, and the record's search text and name keys when they were computed ahead
    (``convert_cells(derive=True)``)."""

    number: int
    cells: tuple[Any, ...]
    values: dict[str, Any] = field(default_factory=dict)
    refusals: list[CellReport] = field(default_factory=list)
    stored: dict[str, Any] = field(default_factory=dict)
    derived: Derived | None = None

    @property
    def rejected(self) -> bool:
        return bool(self.refusals)


@dataclass
class Converted:
    """A batch whose cells are converted: its rows, and the references still to look up with
    the row each belongs to (``owners[i]`` holds ``references[i]``)."""

    rows: list[BatchRow]
    owners: list[BatchRow]
    references: list[Reference]


class _Column:
    """How one mapped column's cells become values."""

    def __init__(
        self,
        position: int,
        key: str,
        convert: Callable[[Any], Cell] | None,
        reference: bool,
        many: bool,
    ) -> None:
        self.position = position
        self.key = key
        self.convert = convert
        self.reference = reference
        self.many = many
        self.memo: dict[Any, Cell] | None = {}
        self.cells = 0
        self.converted = 0

    def judge_memo(self) -> None:
        """Forget the memo once it has shown that the column's cells hardly repeat."""
        if (
            self.memo is not None
            and self.cells >= MEMO_TRIAL
            and self.converted * 4 > self.cells * 3
        ):
            self.memo = None


class BatchConverter:
    """Converts batches of rows for one form and mapping; built once per run."""

    def __init__(self, form: Form, mapping: ImportMapping, resolver: Resolver, ctx: ValueContext):
        self.resolver = resolver
        self.plan = plan_for(form)
        self.derive = deriver(self.plan)
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
            convert = _converter(target, options, ctx if checked_alone(target) else None)
            self.columns.append(_Column(column.column, column.field, convert, False, False))

    def convert(self, conn: Connection, rows: Sequence[SourceRow]) -> list[BatchRow]:
        """The batch's rows with their values, references looked up (one query per linked
        form), refused cells listed."""
        return self.resolve(conn, self.convert_cells(rows))

    def convert_cells(self, rows: Sequence[SourceRow], *, derive: bool = False) -> Converted:
        """The batch's cells converted, without the database: the references to look up are
        listed with the rows they belong to (:meth:`resolve` looks them up). What it gives
        pickles, so another process may convert (``run_ahead``), which also computes each
        row's search text and name keys from its stored values (``derive``: the write takes
        them when it writes those very values, ``records.writing.Derived``)."""
        batch = [BatchRow(row.number, row.cells, {}, [], {}) for row in rows]
        references: list[Reference] = []
        owners: list[BatchRow] = []
        if not batch:
            return Converted(batch, owners, references)
        by_position = list(zip(*(row.cells for row in rows), strict=True))
        values_of = [row.values for row in batch]
        stored_of = [row.stored for row in batch]
        for column in self.columns:
            position, key = column.position, column.key
            column_cells = by_position[position]
            if column.reference:
                for row, cell in zip(batch, column_cells, strict=True):
                    found = reference_of(key, column.many, cell)
                    if isinstance(found, Reference):
                        references.append(found)
                        owners.append(row)
                    elif found is not None:
                        row.refusals.append(found)
                continue
            memo, convert = column.memo, column.convert
            assert convert is not None
            converted = 0
            for at, cell in enumerate(column_cells):
                if cell is None:
                    continue
                if memo is None:
                    made = convert(cell)
                else:
                    # Text is its own key; another cell is keyed with its class, as 1, 1.0
                    # and True are equal keys.
                    remembered = cell if cell.__class__ is str else (cell.__class__, cell)
                    try:
                        known = memo.get(remembered)
                    except TypeError:  # an unhashable cell
                        known = None
                    if known is None:
                        converted += 1
                        made = convert(cell)
                        if len(memo) < MEMO_LIMIT and made[1].__class__ in SHAREABLE:
                            memo[remembered] = made
                    else:
                        made = known
                value, stored, refusal = made
                if refusal is not None:
                    batch[at].refusals.append(refusal)
                elif value is not None:
                    values_of[at][key] = value
                    if stored is not None:
                        stored_of[at][key] = stored
            column.cells += len(column_cells) - column_cells.count(None)
            column.converted += converted
            column.judge_memo()
        if derive:
            derived_of = self.derive
            for row in batch:
                if not row.refusals:
                    row.derived = derived_of(row.stored)
        return Converted(batch, owners, references)

    def resolve(self, conn: Connection, converted: Converted) -> list[BatchRow]:
        """The converted batch with its references looked up: one query per linked form."""
        if converted.references:
            resolved = self.resolver.resolve(conn, converted.references)
            for row, reference, result in zip(
                converted.owners, converted.references, resolved, strict=True
            ):
                if result.refusal is not None:
                    row.refusals.append(result.refusal)
                else:
                    row.values[reference.field] = result.value
        return converted.rows


@dataclass(frozen=True)
class ImportRun:
    """Where an import's batches come from: the file (its sheet and header row), the
    converter, the rows of a batch, the data rows an earlier run settled (``skip``) and, for a
    sample, how many to read (``limit``). The run converts them here (:meth:`converted_here`)
    or in a second process (``run_ahead.converted_batches``); the dry run reads the chunks."""

    converter: BatchConverter
    path: Path
    sheet: str | None
    header_row: int | None
    batch_rows: int
    skip: int = 0
    limit: int | None = None

    def open(self) -> Sheet:
        return read_sheet(self.path, self.sheet, self.header_row)

    def chunks(self, source: Sheet | None = None) -> Iterator[list[SourceRow]]:
        """The source rows after ``skip`` (``limit`` of them at most), a batch at a time."""
        end = None if self.limit is None else self.skip + self.limit
        rows = itertools.islice((source or self.open()).rows, self.skip, end)
        while chunk := list(itertools.islice(rows, self.batch_rows)):
            yield chunk

    def converted_here(self) -> Generator[Converted, None, None]:
        """The batches converted in this process."""
        for chunk in self.chunks():
            yield self.converter.convert_cells(chunk)


SHAREABLE = IMMUTABLE | {type(None)}
"""What a remembered cell may hold as its stored value: one object serves every row with that
cell, so never a list or a dict the write path might change."""


_NO_STEPS: tuple[str, ...] = ()

Cell = tuple[Any, Any, CellReport | None]
"""What a column made of one cell: (the API value, the stored value when checked here, None)
— or (None, None, the refusal). A plain tuple: a run makes one for each cell that is not
remembered (names, codes, phones: most of a row), where a report object cost more than the
cell's own reading; a refusal alone gets its :class:`CellReport`."""


def _converter(
    target: Field, options: OptionMatcher | None, ctx: ValueContext | None
) -> Callable[[Any], Cell]:
    """Cleansing, reading and checking a cell as its field's type asks: cleansed by the
    converter the type names, read as a cell (``import_cell``) and, with ``ctx``, checked by
    the type's ``parse`` as any API input is — its stored value goes to the write path as it
    is. Without ``ctx`` (a field not checked alone) the write path checks the value.

    A cell :func:`~meridian.dataio.cleansing.clean_text` would give back as it is (tidy text,
    or not text) skips it; a value of a converter in
    :data:`~meridian.dataio.cleansing.STORED_AS_CLEANSED` is its own stored value (a phone's
    E.164: the type's ``parse`` would normalise it a second time to the same text)."""
    kind = field_type(target)
    cleanse = CLEANSERS.get(kind.import_cleanser, clean_text)
    tidy_skips = cleanse is clean_text and options is None
    # Tidy text holds no space to strip and is not blank: the base import_cell gives it back.
    text_as_is = tidy_skips and type(kind).import_cell is FieldType.import_cell
    as_cleansed = ctx is not None and kind.import_cleanser in STORED_AS_CLEANSED
    key = target.key
    parse = kind.parse
    import_cell = kind.import_cell

    def refused(cell: Any, steps: tuple[str, ...], error: InvalidValue) -> Cell:
        reason = error.message if isinstance(error.message, Text) else Text(error.message)
        return None, None, CellReport(key, cell, None, steps, error.code, reason)

    def convert(cell: Any) -> Cell:
        steps = _NO_STEPS
        value: Any
        if text_as_is and cell.__class__ is str and is_tidy(cell):
            value = cell
        else:
            if tidy_skips and is_tidy(cell):
                value = cell
            else:
                outcome = cleanse(cell if options is None else options(cell))
                if outcome.refusal is not None:
                    refusal = CellReport(
                        key, cell, None, outcome.steps, outcome.refusal, outcome.reason
                    )
                    return None, None, refusal
                value, steps = outcome.value, outcome.steps
                if as_cleansed and value.__class__ is str:
                    return value, value, None
            if isinstance(value, Decimal):
                value = plain_decimal(value)
            try:
                value = import_cell(target, value)
            except InvalidValue as error:
                return refused(cell, steps, error)
        if ctx is None or value is None or value == "" or value == []:
            return value, None, None
        try:
            stored = parse(target, value, ctx)
        except InvalidValue as error:
            return refused(cell, steps, error)
        if stored.__class__ is str and value.__class__ is str and stored == value:
            return value, value, None  # one object: pickled once, made once by the writer
        return value, stored, None

    return convert
