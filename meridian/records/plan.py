"""Everything derived from a form definition that a records call needs, built once per form."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from meridian.core.identity import ByIdentity
from meridian.db.types import READ_AS_TEXT, UTCDateTime, listed_as_text, sqlite_datetime_iso
from meridian.records.search import searchable_fields
from meridian.records.values import Dumper
from meridian.schema.compile import FormTables, compile_form
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import DERIVED_COLUMNS, SYSTEM_COLUMNS, Field, Form
from meridian.schema.name_keys import name_source


@dataclass(frozen=True)
class ListColumns:
    """What a list page selects: the fields and system columns but the search text, those with a
    ``text_readers`` entry read raw (the text of dates, date-times and multi-selects: SQLite's
    stored text, PostgreSQL's written alike, ``db.types.listed_as_text``) and turned straight
    into API values — SQLAlchemy's parsing followed by
    formatting again costs more than the query itself on a page of fifty."""

    select: sa.Select[Any]
    """The columns to read, to which a list adds its WHERE, ORDER BY and LIMIT."""
    text_readers: Mapping[str, Callable[[Any], Any]]

    @classmethod
    def of(cls, plan: FormPlan, dialect: str) -> ListColumns:
        table = plan.tables.main
        readers = {}
        for f in plan.column_fields:
            reader = field_type(f).text_reader(f, dialect)
            if reader is not None:
                readers[f.key] = reader
        if dialect in READ_AS_TEXT:
            readers.update(
                {
                    c.key: sqlite_datetime_iso
                    for c in table.c
                    if c.key not in plan.live_keys and isinstance(c.type, UTCDateTime)
                }
            )
        shown = plan.live_keys | (set(SYSTEM_COLUMNS) - DERIVED_COLUMNS)
        columns = tuple(
            listed_as_text(c, dialect).label(c.key) if c.key in readers else c
            for c in table.c
            if c.key in shown
        )
        return cls(sa.select(*columns), readers)

    def cursor_value(self, key: str, value: Any) -> Any:
        """What a keyset cursor carries for column ``key`` of a row read with these columns:
        the stored value, or for a column read raw its API value (ISO text of a date or time,
        which the cursor parses back)."""
        reader = self.text_readers.get(key)
        return value if reader is None or value is None else reader(value)


@dataclass(frozen=True, eq=False)
class FormPlan:
    """What reading and writing a form needs, derived once from its definition."""

    form: Form
    tables: FormTables
    column_fields: tuple[Field, ...]
    search_fields: tuple[Field, ...]
    dumper: Dumper
    line_dumpers: dict[str, Dumper]
    live_keys: frozenset[str]
    writable: frozenset[str]
    """Column keys a write may change: the form's columns (formulas included) and the owner."""
    name_field: str | None = None
    """The field the record's name keys are made from (``schema/name_keys.py``), if any."""
    link_fields: tuple[Field, ...] = ()
    """The fields linking to records: what a write's links are checked in."""
    user_keys: tuple[str, ...] = ()
    """The owner and the fields holding users: what a write's user ids are checked in."""
    file_fields: tuple[Field, ...] = ()
    """Attachment fields, and line items with one: what a write's files are checked in."""
    has_expressions: bool = False
    """Whether a write computes anything: a validation, a formula or a rollup."""
    _list_columns: dict[str, ListColumns] = field(default_factory=dict, repr=False)

    def list_columns(self, dialect: str) -> ListColumns:
        found = self._list_columns.get(dialect)
        if found is None:
            found = self._list_columns[dialect] = ListColumns.of(self, dialect)
        return found

    @classmethod
    def of(cls, form: Form) -> FormPlan:
        tables = compile_form(form)
        columns = tuple(f for f in form.active_fields if f.key in tables.main.c)
        lines = {f.key: Dumper(f.fields) for f in form.active_fields if field_type(f).holds_lines}
        live = frozenset(f.key for f in form.active_fields)
        writable = frozenset(f.key for f in columns) | {"owner_id"}
        active = [(f, field_type(f)) for f in form.active_fields]
        return cls(
            form,
            tables,
            columns,
            searchable_fields(columns),
            Dumper(columns),
            lines,
            live,
            writable,
            name_source(tables.main, form.title_field),
            link_fields=tuple(f for f, kind in active if kind.links_records),
            user_keys=("owner_id", *(f.key for f, kind in active if kind.references_users)),
            file_fields=tuple(
                f
                for f, kind in active
                if kind.holds_files
                or (kind.holds_lines and any(field_type(lf).holds_files for lf in f.fields))
            ),
            has_expressions=bool(form.validations)
            or any(kind.evaluates_expression for _, kind in active),
        )


def plan_for(form: Form) -> FormPlan:
    """Memoised by the frozen form definition, like ``compile_form``: a plan is never changed.
    The very object asked for again (the per-process form cache hands out one per revision)
    is found by identity (:class:`~meridian.core.identity.ByIdentity`): a write asks for its
    plan a dozen times."""
    return _by_identity(form)


@functools.lru_cache(maxsize=512)
def _plan_by_value(form: Form) -> FormPlan:
    return FormPlan.of(form)


_by_identity: ByIdentity[Form, FormPlan] = ByIdentity(_plan_by_value)
