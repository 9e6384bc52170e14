"""The contract every field type keeps: its column, its checks, its JSON form."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from meridian.core import strict_json
from meridian.core.i18n import Text
from meridian.errors import InvalidValue
from meridian.expr import ExprType, FieldInfo
from meridian.schema.fieldtypes.filtering import (
    COMPARING,
    FilterPlace,
    bad_filter,
    compare,
)
from meridian.schema.model import Field, Form

SchemaOf = Callable[[Field], dict[str, Any]]
Names = Mapping[int, str]
"""User names by id, for values that name users."""

_EXPRESSION_TYPES: dict[type, ExprType] = {
    bool: ExprType.BOOLEAN,
    int: ExprType.NUMBER,
    str: ExprType.TEXT,
    date: ExprType.DATE,
    datetime: ExprType.DATETIME,
}


@dataclass(frozen=True)
class ValueContext:
    """What a value check may need beyond the value: the workspace time zone."""

    tz: ZoneInfo


class FieldType:
    """Base of the built-in field types.

    ``parse`` turns an API value into the stored value (raising ``InvalidValue``); ``dump`` turns
    a stored value back into the API value. Storage is exact on both dialects: decimals and money
    are scaled integers, datetimes are UTC.
    """

    name: ClassVar[str]
    has_column: ClassVar[bool] = True
    """False for types stored in a table of their own (child tables, many-to-many links)."""
    searchable: ClassVar[bool] = False
    """True when the value goes into the record's search text."""
    computed: ClassVar[bool] = False
    """True when the server computes the value; input is refused."""
    supports_unique: ClassVar[bool] = True
    inline_editable: ClassVar[bool] = True
    """False when a grid cell cannot edit the value in place (lines, files): the record's own
    page does."""

    # What the structure of the data is. Code that stores, copies or reads a field asks these,
    # never the type's name, so a plugin's type (a plain column by default) takes the plain path.
    holds_lines: ClassVar[bool] = False
    """The value is a table of lines stored in a table of their own (``field.fields``)."""
    holds_files: ClassVar[bool] = False
    """The value is a list of stored file ids (``sys_file``)."""
    links_records: ClassVar[bool] = False
    """The value names records of ``field.target`` (one id, or a list in a pair table)."""
    references_users: ClassVar[bool] = False
    """The value is a user id: pages show the user's name."""
    has_options: ClassVar[bool] = False
    """The value is chosen from ``field.options`` (one, or a list when :attr:`list_valued`)."""
    list_valued: ClassVar[bool] = False
    """The column holds a JSON list: it cannot be sorted by."""
    evaluates_expression: ClassVar[bool] = False
    """The stored value is ``field.expression`` computed on each write (formulas)."""
    aggregates: ClassVar[bool] = False
    """The stored value aggregates lines or linking records (``field.rollup``)."""
    numbered: ClassVar[bool] = False
    """The writer fills the value from ``field.auto_pattern`` (a numbering sequence)."""
    always_indexed: ClassVar[bool] = False
    """The column gets an index whether or not the field asks for one (lookups, boards)."""
    retype_family: ClassVar[str | None] = None
    """Which stored values a change of type can convert in SQL (``schema/retype.py``):
    ``free_text``, ``text`` (formatted text), ``option``, ``number``, ``date``, ``boolean``;
    None when a field of the type cannot change type."""
    default_max_length: ClassVar[int] = 500
    """The longest text a text-like value may hold when the field sets no ``max_length``."""

    # How pages show and edit the value.
    widget: ClassVar[str] = "input"
    """The macro of ``web/templates/inputs.html`` that edits the value: ``input`` (a plain
    input of :attr:`input_type`), ``textarea``, ``checkbox``, ``select``, ``checks``,
    ``user``, ``link``, ``upload``, ``lines`` or ``computed``."""
    input_type: ClassVar[str] = "text"
    """The plain input's HTML type (``date``, ``datetime-local``, ``email``, ``url``, ``tel``);
    a ``datetime-local`` input shows the stored UTC time in the workspace zone."""
    numeric_input: ClassVar[bool] = False
    """Phones show a decimal keypad for the plain input."""
    wide: ClassVar[bool] = False
    """The value takes a whole row on record pages and is left out of a grid's default
    columns (long text, lines, files)."""
    fits_column: ClassVar[bool] = True
    """A list's column can show the value (not lines or files): a related list offers it."""
    number_format: ClassVar[str] = "decimal"
    """How a number shown as a number is formatted: ``decimal``, ``currency`` (in
    ``field.currency``) or ``percent``."""
    filter_input: ClassVar[str | None] = "text"
    """The value input a grid's filter row shows: ``text``, ``number``, ``date``, ``select``,
    ``multi``, ``bool`` or ``id``; None when the grid offers no filter on it."""
    board_grouping: ClassVar[bool] = False
    """A kanban board can have one column per option of the field."""
    summable: ClassVar[bool] = False
    """The stored value is an exact number whose sum means something (a board column's
    total): integers, and decimals and money as scaled integers."""
    calendar_dated: ClassVar[bool] = False
    """A calendar can place records on the day the value falls on (see :meth:`calendar_day`)."""
    document_filter: ClassVar[str] = ""
    """The print-template filter a placeholder of the field is written with (`` | money``)."""
    numeric_cell: ClassVar[bool] = False
    """Print templates align the value to the right in a table."""
    import_cleanser: ClassVar[str] = "tidy_text"
    """Which cleansing converter an import runs on a cell before :meth:`import_cell`
    (``meridian/dataio/cleansing.py`` ``CLEANSERS``): ``tidy_text`` (half-width, trimmed),
    ``calendar_day`` (Chinese and mixed dates, Excel serials), ``amount`` (exact 万/亿
    amounts) or ``phone_number``."""

    duplicate_key: ClassVar[bool] = False
    """Two records sharing a (normalised) value of the field are one party: deduplication
    (``meridian/dataio/dedup.py``) pairs them as exact duplicates (USCC, phone, email). Such
    a type is :attr:`always_indexed` too: an import looks each of its values up against the
    stored records, which unindexed read the whole table once per batch (1,000 rows)."""

    designer_settings: ClassVar[tuple[str, ...]] = ("unique",)
    """The settings the form designer offers for a field of the type: ``unique``,
    ``default``, ``options``, ``range`` (minimum and maximum), ``scale``, ``currency``,
    ``length`` (and pattern), ``target``, ``files``, ``auto_pattern``, ``expression``,
    ``lines``, ``shown_as``."""

    def number_style(self, field: Field) -> str:
        """:attr:`number_format` for this field: a computed number chooses its own
        (``field.shown_as``), so a quote total computed from its lines is still money."""
        return self.number_format

    def print_filter(self, field: Field) -> str:
        """:attr:`document_filter` for this field (a computed number shown as money prints as
        money)."""
        return self.document_filter

    # How filters compare the value.
    filter_operators: ClassVar[tuple[str, ...]] = COMPARING
    """The operators a structured filter (``{"field", "op", "value"}``) may use on the field."""

    def sql_type(self, field: Field) -> sa.types.TypeEngine[Any]:
        raise NotImplementedError

    def recomputed(self) -> bool:
        """The server recomputes the stored value from other values (formulas, rollups)."""
        return self.evaluates_expression or self.aggregates

    def max_digits(self, field: Field) -> int:
        """The most digits a number of the field holds, stored scale included."""
        return 18

    def stored_in_pairs(self, field: Field) -> bool:
        """The value lives in a pair table of its own (a many-to-many link), not a column."""
        return False

    def has_plain_column(self, field: Field) -> bool:
        """The value is one column of the form's main table: it can be sorted and compared."""
        return self.has_column and not self.stored_in_pairs(field)

    def sortable(self, field: Field) -> bool:
        return self.has_plain_column(field) and not self.list_valued

    def presentation(self, field: Field) -> str:
        """How a page shows the stored value when :meth:`display` gives no text: ``text``,
        ``name`` (a user), ``chips`` (options), ``check``, ``links``, ``number``, ``date``,
        ``datetime``, ``region``, ``url``, ``email``, ``count`` (lines) or ``files``."""
        return "text"

    def parse_form(self, field: Field, posted: list[str]) -> Any:
        """A page's posted strings for the field → the API value. Only the shape changes (a
        blank is None); a value of the wrong shape is passed on as typed, so :meth:`parse`
        names it in its error exactly as for the API."""
        last = posted[-1] if posted else ""
        return last if last.strip() else None

    def calendar_day(self, field: Field, value: Any, tz: ZoneInfo) -> date | None:
        """The day an API value falls on in ``tz``, for calendars (:attr:`calendar_dated`)."""
        return None

    def template_value(self, field: Field, value: Any, tz: ZoneInfo, names: Names) -> Any:
        """A non-empty API value as print templates get it: amounts as decimals, dates as
        dates, option labels, user names."""
        return value

    def cell_formatter(
        self, field: Field, tz: ZoneInfo, names: Names
    ) -> Callable[[Any], Any] | None:
        """:meth:`template_value` for one field as a function of non-empty API values,
        prepared once for exporting many rows; None when the API value is the cell."""
        if type(self).template_value is FieldType.template_value:
            return None
        return functools.partial(self.template_value, field, tz=tz, names=names)

    def operators(self, field: Field) -> tuple[str, ...]:
        """The operators a filter may use on this field (:attr:`filter_operators` unless the
        field's settings change them)."""
        return self.filter_operators

    def import_cell(self, field: Field, cell: Any) -> Any:
        """One spreadsheet cell (text, a number, a boolean, a date or time, or None) → the API
        value that :meth:`parse` then checks, as for any other input. A blank cell is None."""
        if cell is None or (isinstance(cell, str) and not cell.strip()):
            return None
        if isinstance(cell, str):
            return cell.strip()
        if isinstance(cell, date):
            return cell.isoformat()
        if isinstance(cell, float) and cell.is_integer():
            return int(cell)  # spreadsheets keep whole numbers as floats
        return cell

    def export_cell(self, field: Field, value: Any) -> Any:
        """An API value as one spreadsheet cell that :meth:`import_cell` reads back: text, a
        number or a boolean (a list joined with 、, a linked record as its id)."""
        if value is None or value == []:
            return None
        if isinstance(value, list):
            return CELL_SEPARATOR.join(str(self.export_cell(field, item)) for item in value)
        if isinstance(value, dict):
            return value.get("id")
        return value

    def filter_value(self, field: Field, raw: Any, ctx: ValueContext) -> Any:
        """A value a filter compares the column with: parsed like input, except for values
        the server computes, which are compared as given."""
        if self.computed:
            return raw
        return self.parse(field, raw, ctx)

    def filter_clause(
        self, field: Field, op: str, value: Any, place: FilterPlace
    ) -> ColumnElement[bool]:
        """The SQL condition ``field op value`` on the form's main table; refuses (422) an
        operator the type does not declare in :attr:`filter_operators`."""
        if not self.has_plain_column(field):
            message = Text("cannot filter on {type} field {key!r}", type=field.type, key=field.key)
            raise bad_filter(place.path, "unfilterable_field", message, field.key)

        def parse(raw: Any) -> Any:
            try:
                return self.filter_value(field, raw, place.ctx)
            except InvalidValue as exc:
                raise bad_filter(f"{place.path}.value", exc.code, exc.message, raw) from None

        column = place.tables.main.c[field.key]
        what = Text("{type} fields", type=field.type)
        return compare(column, op, value, parse, place.path, self.filter_operators, what)

    def report_kind(self, field: Field) -> str | None:
        """How a report groups, filters and sums the value: ``number``, ``date``,
        ``datetime``, ``boolean``, ``text``, ``select``, ``user``, ``region`` or ``link``;
        None when reports cannot use it. By default it follows :meth:`expression_type`."""
        kind = self.expression_type(field)
        plain = (ExprType.NUMBER, ExprType.DATE, ExprType.DATETIME, ExprType.BOOLEAN)
        return kind.value if kind in plain else None

    def expression_scale(self, field: Field) -> int:
        """Powers of ten between the stored integer and the number formulas see."""
        return self.storage_scale(field)

    def expression_type(self, field: Field) -> ExprType | None:
        """The type formulas and conditions see the field as; None when they cannot read it.
        By default it follows the column's Python type, so a plugin's integer, text, boolean
        or date column is usable in formulas without saying so."""
        try:
            python_type = self.sql_type(field).python_type
        except NotImplementedError:
            return None
        return _EXPRESSION_TYPES.get(python_type)

    def expression_info(self, field: Field) -> FieldInfo | None:
        """How an expression sees the field (see :meth:`expression_type`)."""
        kind = self.expression_type(field)
        if kind is None:
            return None
        scale = self.expression_scale(field) if kind is ExprType.NUMBER else 0
        return FieldInfo(field.key, field.label, kind, scale)

    def check_definition(self, field: Field, form: Form) -> list[str]:
        """Problems with the field's settings, as sentences (empty when fine)."""
        return []

    def parse(self, field: Field, value: Any, ctx: ValueContext) -> Any:
        raise NotImplementedError

    def dump(self, field: Field, stored: Any) -> Any:
        return stored

    def converter(self, field: Field) -> Callable[[Any], Any] | None:
        """``dump`` for one field as a function of non-empty stored values, prepared once for
        reading many rows; None when the stored value is already the API value."""
        if type(self).dump is FieldType.dump:
            return None
        return functools.partial(self.dump, field)

    def text_reader(self, field: Field, dialect: str) -> Callable[[Any], Any] | None:
        """A shortcut from the driver's raw value, read without SQLAlchemy's result
        processing, straight to the API value, for list pages; None when there is none and the
        column is read as usual. It must agree with reading the column and then :meth:`dump`."""
        return None

    def json_schema(self, field: Field, schema_of: SchemaOf) -> dict[str, Any]:
        """JSON Schema of the field's API value, for the OpenAPI document (``schema_of`` gives a
        line field's); any JSON value unless the type says more."""
        return {}

    def display(self, field: Field, stored: Any) -> str | None:
        """The value as people read it on a page (plain text), or None for the page's usual
        rendering of the stored value."""
        return None

    def storage_scale(self, field: Field) -> int:
        """Power of ten between the stored integer and the logical value (0 when unscaled)."""
        return 0


CELL_SEPARATOR = "、"
"""How a list is written in one spreadsheet cell; reading also splits on commas and
semicolons, full-width or not."""
_CELL_SPLIT = re.compile(r"[、,，;；\n]")


def split_cell(cell: Any) -> list[str]:
    """A cell holding a list (``idc、cdn``) as its items; a blank cell is no items."""
    if cell is None:
        return []
    return [part.strip() for part in _CELL_SPLIT.split(str(cell)) if part.strip()]


def posted_id(text: str) -> int | str | None:
    """A posted id: blank is None, a number its int; anything else is passed on as typed, so
    the records service names it in its error instead of the page reading it as blank."""
    text = text.strip()
    if not text:
        return None
    return int(text) if text.isdecimal() and len(text) <= 19 else text


def posted_json(text: str) -> Any:
    """A posted JSON document (lines), or the text itself when it is not JSON."""
    if not text.strip():
        return []
    try:
        return strict_json.loads(text)
    except strict_json.RefusedJSON:
        return text


def require_type(value: Any, expected: type | tuple[type, ...], code: str, what: Text) -> None:
    if isinstance(value, bool) and bool not in (
        expected if isinstance(expected, tuple) else (expected,)
    ):
        raise InvalidValue(code, Text("expected {what}, got {value!r}", what=what, value=value))
    if not isinstance(value, expected):
        raise InvalidValue(code, Text("expected {what}, got {value!r}", what=what, value=value))


def require_text(value: Any, code: str) -> str:
    """``value`` as text a column can store: PostgreSQL refuses NUL, and UTF-8 cannot hold a
    lone surrogate; both came through as server errors (issue 13)."""
    if value.__class__ is not str:  # the common case skips building the message
        require_type(value, str, code, Text("a string"))
    text: str = value
    if "\x00" in text:
        raise InvalidValue("invalid_character", Text("text may not contain NUL (\\u0000)"))
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            message = Text("text may not contain a lone surrogate (\\ud800-\\udfff)")
            raise InvalidValue("invalid_character", message) from None
    return text
