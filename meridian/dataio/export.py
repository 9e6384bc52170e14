"""Exporting a grid or a saved view — its columns, filter, search and sort — to .xlsx or .csv
(issue 19, item 6), as far as the exporter's rights go: the role's 导出 permission
(``export``) with its row scope, and only the fields the exporter may see.

Rows are read by one statement over :class:`Readable` with the list's own WHERE and ORDER BY,
streamed (a server-side cursor on PostgreSQL, ``yield_per``) and turned into API values a
partition at a time (line items, pairs and link titles one query per partition), so memory
stays flat whatever the number of rows. Cells are written for people: option labels, user
names, linked records' titles, exact amounts, dates and times in the company's zone.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.core.i18n import Text, localized
from meridian.core.timezones import DEFAULT_TIME_ZONE
from meridian.dataio.xlsx_stream import write_sheet
from meridian.db.tables import users
from meridian.errors import FieldError, ValidationFailed
from meridian.events.audit import audit
from meridian.records.expand import link_titles
from meridian.records.listing import RecordQuery, where_clause
from meridian.records.plan import FormPlan, ListColumns
from meridian.records.query import order_by, parse_sort
from meridian.records.readable import Readable
from meridian.records.reads import read_sides
from meridian.records.views import get_view
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Field, Form

FORMATS = ("xlsx", "csv")
PARTITION = 2000
"""Rows turned into values at a time: one query per side table and link per partition."""
KNOWN_TITLES = 50_000
"""Linked titles an export keeps per link field (memory stays bounded however many)."""
REMEMBERED_CELLS = 4096
"""Distinct stored values per column whose cell an export remembers (:class:`_Remembering`)."""
PROGRESS_ROWS = 2000
"""Rows between two calls of a writer's ``progress``."""
_LIST_SEPARATOR = "、"


@dataclass(frozen=True)
class ExportSpec:
    """What to export: the grid's state (as its address or a saved view holds it)."""

    columns: tuple[str, ...] = ()
    filter: Any = None
    sort: str = ""
    q: str = ""


def spec_of(
    conn: Connection,
    actor: Actor,
    form: Form,
    *,
    view: int | None = None,
    columns: Sequence[str] = (),
    filter: Any = None,
    sort: str | None = None,
    q: str | None = None,
) -> ExportSpec:
    """The export of a saved view (one the actor may open), with any of its settings
    replaced by those given."""
    base: dict[str, Any] = get_view(conn, actor, form.key, view)["settings"] if view else {}
    given_filter = filter if filter is not None else base.get("filter") or None
    if isinstance(given_filter, str):
        try:
            given_filter = json.loads(given_filter)
        except json.JSONDecodeError:
            raise ValidationFailed(
                [FieldError("filter", "invalid_filter", Text("the filter is not JSON"), filter)]
            ) from None
    return ExportSpec(
        columns=tuple(columns) or tuple(base.get("columns", ())),
        filter=given_filter,
        sort=sort if sort is not None else base.get("sort", ""),
        q=q if q is not None else base.get("q", ""),
    )


@dataclass(frozen=True)
class ExportRows:
    """The header and a stream of rows of cells (Python values: text, numbers, dates)."""

    header: list[str]
    rows: Iterator[list[Any]]
    count: Callable[[], int]


def export_rows(
    *,
    conn: Connection,
    actor: Actor,
    form: Form,
    spec: ExportSpec,
    tz: ZoneInfo = DEFAULT_TIME_ZONE,
    locale: str = "en",
) -> ExportRows:
    """The rows the actor may export, in the grid's order, as cells. Refused: no 导出
    permission (403), a column, filter or sort the actor's form does not have (422)."""
    access = form_access(conn, actor, form)
    access.require("export")
    readable = Readable.of(conn, access, tz, operation="export")
    plan = readable.plan
    columns = _columns(plan.form, spec.columns)
    sorts = parse_sort(plan.form, spec.sort or "id")
    query = RecordQuery(filter=spec.filter, search=spec.q or None)
    where = where_clause(conn, readable, query, tz)
    listed = plan.list_columns(conn.dialect.name)
    table = plan.tables.main
    names: dict[int, str] = {
        row.id: row.name for row in conn.execute(sa.select(users.c.id, users.c.name))
    }
    layout = _Layout.of(plan, listed, columns, tz, names)
    statement = layout.select.where(where).order_by(*order_by(table, sorts), table.c.id)

    def rows() -> Iterator[list[Any]]:
        streamed = statement.execution_options(stream_results=True, yield_per=PARTITION)
        done = 0
        for partition in conn.execute(streamed).partitions():
            yield from layout.cells(conn, plan, partition, actor, tz, done)
            done += len(partition)

    def count() -> int:
        counted = sa.select(sa.func.count()).select_from(table).where(where)
        return int(conn.execute(counted).scalar_one())

    header = ["ID", *(f.label for f in columns), localized(Text("Owner"), locale)]
    return ExportRows(header, rows(), count)


def _columns(form: Form, chosen: Sequence[str]) -> list[Field]:
    fields = {f.key: f for f in form.active_fields}
    unknown = [key for key in chosen if key not in fields]
    if unknown:
        raise ValidationFailed(
            [
                FieldError(
                    "columns",
                    "unknown_field",
                    Text("form {form!r} has no field {key!r}", form=form.key, key=unknown[0]),
                    unknown[0],
                )
            ]
        )
    if chosen:
        return [fields[key] for key in chosen]
    return [f for f in form.active_fields if field_type(f).fits_column]


Cell = Callable[[Any], Any]


@dataclass(frozen=True)
class _Layout:
    """How the rows of one export are read and turned into cells, decided once per export.

    The statement selects the record's id, one column per exported field (a field kept in a
    side table — line items, a many-link's pairs — as a NULL placeholder) and the owner. Each
    column gets one function from the stored value to its cell, composed from its type's
    reader and formatter when the export starts; a row is then its tuple of values with those
    functions applied where a value is present — no per-cell dispatch on the type, no record
    dict. Per partition, linked records' titles and side tables are read set-based.
    """

    select: sa.Select[Any]
    steps: tuple[tuple[int, _Remembering], ...]
    """(position, function) of the columns whose stored value is not the cell."""
    links: tuple[tuple[int, Field], ...]
    """(position, link field) of single links read from the row: their titles per partition."""
    sides: tuple[tuple[int, Field], ...]
    """(position, field) of values in side tables: line items, many-links' ids."""
    owner: int
    names: Mapping[int, str]
    known: dict[str, dict[int, str]] = field(default_factory=dict)
    """Linked records' titles read by earlier partitions, per link field: the same customer on
    many deals is looked up once per export (at most :data:`KNOWN_TITLES` kept per field)."""

    @classmethod
    def of(
        cls,
        plan: FormPlan,
        listed: ListColumns,
        columns: Sequence[Field],
        tz: ZoneInfo,
        names: Mapping[int, str],
    ) -> _Layout:
        table = plan.tables.main
        selectable = {c.key: c for c in listed.select.selected_columns}
        selected: list[Any] = [table.c.id]
        steps: list[tuple[int, _Remembering]] = []
        links: list[tuple[int, Field]] = []
        sides: list[tuple[int, Field]] = []
        for position, f in enumerate(columns, start=1):
            kind = field_type(f)
            if f.key not in table.c:
                selected.append(sa.null().label(f"_side_{position}"))
                sides.append((position, f))
                continue
            selected.append(selectable.get(f.key, table.c[f.key]))
            if kind.links_records:
                links.append((position, f))
                continue
            read = listed.text_readers.get(f.key) or plan.dumper.converters.get(f.key)
            cell = _cell_of(f, tz, names)
            step = _composed(read, cell)
            if step is not None:
                steps.append((position, _Remembering(step)))
        selected.append(table.c.owner_id)
        return cls(
            sa.select(*selected), tuple(steps), tuple(links), tuple(sides), len(selected) - 1, names
        )

    def cells(
        self,
        conn: Connection,
        plan: FormPlan,
        partition: Sequence[Any],
        actor: Actor,
        tz: ZoneInfo,
        done: int,
    ) -> Iterator[list[Any]]:
        """One partition's rows as lists of cells (``done`` rows came before it)."""
        steps: list[tuple[int, Cell]] = [(p, memo.step_after(done)) for p, memo in self.steps]
        side_values: dict[int, dict[str, Any]] = {}
        if self.sides:
            side_values = read_sides(conn, plan, [row[0] for row in partition])
        for position, link in self.links:
            ids = {row[position] for row in partition} - {None}
            titles = self._titles(conn, link, ids, actor, tz)
            steps.append((position, _title_of(titles)))
        many: list[tuple[int, str, Cell]] = []
        for position, f in self.sides:
            if field_type(f).links_records:
                ids = {i for values in side_values.values() for i in values.get(f.key, ())}
                titles = self._titles(conn, f, ids, actor, tz)
                many.append((position, f.key, _titles_of(_title_of(titles))))
            else:
                many.append((position, f.key, _exported(f)))
        owner, names = self.owner, self.names
        for row in partition:
            out = list(row)
            for position, step in steps:
                value = out[position]
                if value is not None:
                    out[position] = step(value)
            for position, key, side in many:
                out[position] = side(side_values[out[0]].get(key))
            held = out[owner]
            out[owner] = names.get(held, held)
            yield out

    def _titles(
        self, conn: Connection, link: Field, ids: set[Any], actor: Actor, tz: ZoneInfo
    ) -> Mapping[int, str]:
        """The titles of ``ids``, reading only those no earlier partition read."""
        known = self.known.setdefault(link.key, {})
        missing = ids - known.keys()
        if missing:
            if len(known) + len(missing) > KNOWN_TITLES:
                known.clear()
                missing = ids
            known.update(link_titles(conn, link, missing, actor, tz))
        return known


class _Remembering:
    """A column's step remembering the cells of the first :data:`REMEMBERED_CELLS` distinct
    stored texts, integers and dates it is given: a column's dates, options and amounts
    repeat over a million rows, and reading and formatting one (two or three calls through
    the type's reader and formatter) costs ten dictionary lookups. Other stored values (a
    decimal's ``1.0`` equals ``1.00`` but is written otherwise) are never remembered; a cell
    is an immutable value, so one object may stand in many rows.

    A column whose values hardly repeat (phones, unique amounts: its memory full and three
    in four values new) is given its bare step from the next partition on
    (:meth:`step_after`): looking each value up first only added a call and a miss."""

    __slots__ = ("cells", "gave_up", "misses", "step")

    def __init__(self, step: Cell) -> None:
        self.step = step
        self.cells: dict[Any, Any] = {}
        self.misses = 0
        self.gave_up = False

    def step_after(self, rows: int) -> Cell:
        """The function for the next partition, ``rows`` rows into the export (once given
        up, for good: the misses are no longer counted)."""
        if not self.gave_up:
            self.gave_up = len(self.cells) >= REMEMBERED_CELLS and self.misses * 4 > rows * 3
        return self.step if self.gave_up else self.cell

    def cell(self, value: Any) -> Any:
        kind = type(value)
        if kind is not str and kind is not int and kind is not date:
            return self.step(value)
        cells = self.cells
        found = cells.get(value, _MISSING)
        if found is _MISSING:
            self.misses += 1
            found = self.step(value)
            if len(cells) < REMEMBERED_CELLS:
                cells[value] = found
        return found


_MISSING = object()


def _composed(read: Cell | None, cell: Cell | None) -> Cell | None:
    if read is None:
        return cell
    if cell is None:
        return read

    def both(value: Any) -> Any:
        return cell(read(value))

    return both


def _title_of(titles: Mapping[int, str]) -> Cell:
    def title(record_id: int) -> str:
        return titles.get(record_id) or f"#{record_id}"

    return title


def _titles_of(title: Cell) -> Cell:
    def titles(ids: Any) -> Any:
        return _LIST_SEPARATOR.join(title(i) for i in ids) if ids else None

    return titles


def _exported(field: Field) -> Cell:
    """A value kept beside the row (line items, files) as its type exports it."""
    kind = field_type(field)

    def exported(value: Any) -> Any:
        return (
            None if value is None or value == "" or value == [] else kind.export_cell(field, value)
        )

    return exported


def _cell_of(field: Field, tz: ZoneInfo, names: Mapping[int, str]) -> Cell | None:
    """How a non-empty API value of ``field`` becomes a cell (its type's formatter, built once:
    option labels, user names, dates as dates, exact amounts), a blank one none at all; None
    when the API value is the cell."""
    kind = field_type(field)
    if kind.holds_lines or kind.holds_files:
        return _exported(field)
    formatter = kind.cell_formatter(field, tz, names)
    if formatter is None:
        return None

    def cell(value: Any) -> Any:
        return None if value is None or value == "" or value == [] else formatter(value)

    return cell


def audit_export(
    conn: Connection,
    actor: Actor,
    form: Form,
    spec: ExportSpec,
    fmt: str,
    rows: int,
    *,
    export_id: int | None = None,
    view: int | None = None,
) -> None:
    """One audit entry per export: who, which form, which view and selection, how many rows
    (an export run as a job names its ``sys_export`` row)."""
    audit(
        conn,
        actor_id=actor.user_id,
        action="records_exported",
        object_type=form.key,
        object_id=export_id if export_id is not None else "",
        detail={
            "format": fmt,
            "rows": rows,
            "view": view,
            "columns": list(spec.columns),
            "filter": spec.filter,
            "sort": spec.sort,
            "q": spec.q,
        },
    )


# ---- writers ---------------------------------------------------------------------------------


def csv_row(row: list[Any]) -> list[Any]:
    """A row as CSV cells: exact amounts and ISO dates as ``str`` gives them; times to the
    second in the zone given; booleans as Excel writes them."""
    for index, value in enumerate(row):
        kind = type(value)
        if kind is datetime:
            row[index] = value.strftime("%Y-%m-%d %H:%M:%S")
        elif kind is bool:
            row[index] = "TRUE" if value else "FALSE"
    return row


def write_csv(
    exported: ExportRows, out: Any, *, progress: Callable[[int], None] | None = None
) -> int:
    """UTF-8 with a BOM (Excel opens it in Chinese correctly); returns the rows written.
    ``progress`` hears the rows written so far every :data:`PROGRESS_ROWS` rows."""
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(exported.header)
    written = 0
    for row in exported.rows:
        writer.writerow(csv_row(row))
        written += 1
        if progress is not None and written % PROGRESS_ROWS == 0:
            progress(written)
    return written


def csv_chunks(exported: ExportRows, *, rows_per_chunk: int = 2000) -> Iterator[bytes]:
    """The CSV as byte chunks for a streamed response."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(exported.header)
    pending = 0
    for row in exported.rows:
        writer.writerow(csv_row(row))
        pending += 1
        if pending >= rows_per_chunk:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue().encode("utf-8")


def write_xlsx(
    exported: ExportRows,
    path: Path,
    *,
    sheet: str = "Sheet1",
    progress: Callable[[int], None] | None = None,
) -> int:
    """One sheet streamed by :mod:`meridian.dataio.xlsx_stream` (each chunk of rows deflated
    as written): amounts as numbers while a double holds them exactly, else as text; dates
    and times as dates. ``progress`` hears the rows written every :data:`PROGRESS_ROWS`."""
    return write_sheet(
        path,
        exported.header,
        exported.rows,
        sheet=sheet,
        progress=progress,
        progress_rows=PROGRESS_ROWS,
    )
