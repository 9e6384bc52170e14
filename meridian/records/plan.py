"""Everything derived from a form definition that a records call needs, built once per form."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from meridian.records.search import searchable_fields
from meridian.records.values import Dumper
from meridian.schema.compile import FormTables, compile_form
from meridian.schema.model import Field, Form


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

    @classmethod
    def of(cls, form: Form) -> FormPlan:
        tables = compile_form(form)
        columns = tuple(f for f in form.active_fields if f.key in tables.main.c)
        lines = {f.key: Dumper(f.fields) for f in form.active_fields if f.type == "child_table"}
        live = frozenset(f.key for f in form.active_fields)
        writable = frozenset(f.key for f in columns) | {"owner_id"}
        return cls(
            form,
            tables,
            columns,
            searchable_fields(columns),
            Dumper(columns),
            lines,
            live,
            writable,
        )


@functools.lru_cache(maxsize=512)
def plan_for(form: Form) -> FormPlan:
    """Memoised by the frozen form definition, like ``compile_form``: a plan is never changed."""
    return FormPlan.of(form)
