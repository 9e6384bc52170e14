"""Formulas and validation rules on the write path: evaluated in Python, set-based lookups.

Formula fields are computed for each written record (in dependency order) and stored; rules
must not be false. Values of linked records and lines the expressions read are loaded with one
query per link for the whole batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.clock import utcnow
from meridian.errors import ErrorCollector
from meridian.schema.catalog import get_form
from meridian.schema.compile import compile_form
from meridian.schema.expressions import FormExpressions, LogicalReader, to_logical, to_stored
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Field, Form


class FormulaRunner:
    """Evaluates one form's formulas and rules for a batch of records."""

    def __init__(self, conn: Connection, form: Form, expressions: FormExpressions, tz: ZoneInfo):
        self.conn = conn
        self.form = form
        self.expressions = expressions
        self.now = utcnow(conn).astimezone(tz)
        used = {path for _, e in expressions.formulas for path in e.fields_used}
        used |= {path for _, _, e in expressions.validations for path in e.fields_used}
        self.links = sorted({path.split(".")[0] for path in used if "." in path} & _link_keys(form))
        self.children = sorted({path.split(".")[0] for path in used} & _child_keys(form))

    def apply(
        self,
        records: Sequence[dict[str, Any]],
        lines: Sequence[Mapping[str, list[dict[str, Any]]]],
        errors: ErrorCollector,
        prefixes: Sequence[str],
    ) -> None:
        """Fill formula columns in ``records`` (stored values) and report broken rules."""
        linked = self._load_links(records)
        read = LogicalReader(self.form.active_fields)
        read_lines = {key: LogicalReader(_line_fields(self.form, key)) for key in self.children}
        for record, record_lines, prefix in zip(records, lines, prefixes, strict=True):
            logical = read(record)
            related: dict[str, Any] = {key: linked[key].get(record.get(key)) for key in self.links}
            for key, read_line in read_lines.items():
                related[key] = [read_line(line) for line in record_lines.get(key, [])]
            for field, expression in self.expressions.formulas:
                value = expression.evaluate(
                    logical, today=self.now.date(), now=self.now, related=related
                )
                record[field.key] = to_stored(field, value)
                logical[field.key] = to_logical(field, record[field.key])
            for index, message, rule in self.expressions.validations:
                passed = rule.evaluate(
                    logical, today=self.now.date(), now=self.now, related=related
                )
                if passed is False:
                    errors.add(
                        prefix + f"validations.{index}", "validation_rule", message, rule.source
                    )

    def _load_links(self, records: Sequence[Mapping[str, Any]]) -> dict[str, dict[Any, Any]]:
        loaded: dict[str, dict[Any, Any]] = {}
        for key in self.links:
            link = self.form.get_field(key)
            assert link is not None and link.target
            target = self.form if link.target == self.form.key else get_form(self.conn, link.target)
            table = compile_form(target).main
            ids = sorted({r[key] for r in records if r.get(key) is not None})
            query = sa.select(table).where(table.c.id.in_(ids))
            rows = list(self.conn.execute(query).mappings()) if ids else []
            read = LogicalReader(target.active_fields)
            loaded[key] = {row["id"]: read(row) for row in rows}
        return loaded


def _link_keys(form: Form) -> set[str]:
    return {f.key for f in form.active_fields if field_type(f).links_records and not f.many}


def _child_keys(form: Form) -> set[str]:
    return {f.key for f in form.active_fields if field_type(f).holds_lines}


def _line_fields(form: Form, key: str) -> tuple[Field, ...]:
    field = form.get_field(key)
    return field.fields if field is not None else ()
