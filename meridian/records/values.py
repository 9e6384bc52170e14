"""Turning API values into stored values (collecting every error) and back."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from meridian.core.i18n import Text
from meridian.core.identity import ByIdentity
from meridian.core.ids import is_id
from meridian.errors import ErrorCollector, InvalidValue
from meridian.schema.fieldtypes import FieldType, ValueContext, field_type
from meridian.schema.model import Field, Form

WRITABLE_SYSTEM_KEYS = frozenset({"owner_id"})
IGNORED_SYSTEM_KEYS = frozenset(
    {"id", "_version", "created_at", "created_by", "updated_at", "updated_by", "deleted_at"}
)


@dataclass
class ParsedRecord:
    """One record's input after field checks: column values, line items and link sets."""

    columns: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    pairs: dict[str, list[int]] = field(default_factory=dict)


_UNSEEN = object()
_MEMO_LIMIT = 4096
"""Distinct values one column of one parser remembers (a column of unique values stops there)."""
IMMUTABLE = frozenset({str, int, float, bool, Decimal, date, datetime, time})
"""Stored values safe to share between records (a list is never shared)."""


@dataclass(frozen=True)
class _Shape:
    """What a parser of one form needs from its definition, worked out once per form object
    (a single write made a parser, and asked each field's type four times, for every call)."""

    fields: Mapping[str, Field]
    kinds: Mapping[str, FieldType]
    required: tuple[Field, ...]
    line_fields: tuple[Field, ...]
    alone: tuple[tuple[str, Field, Callable[..., Any]], ...]

    @classmethod
    def of(cls, form: Form) -> _Shape:
        fields = {f.key: f for f in form.active_fields}
        kinds = {key: field_type(f) for key, f in fields.items()}
        return cls(
            fields,
            kinds,
            tuple(f for f in fields.values() if f.required and not kinds[f.key].computed),
            tuple(f for f in fields.values() if kinds[f.key].holds_lines),
            tuple((key, f, kinds[key].parse) for key, f in fields.items() if checked_alone(f)),
        )


_shape_of: ByIdentity[Form, _Shape] = ByIdentity(_Shape.of)


class RecordParser:
    """Checks input for one form; built once per call and reused for every record of a batch."""

    def __init__(self, form: Form) -> None:
        shape = _shape_of(form)
        self.form = form
        self.fields = shape.fields
        self.kinds = shape.kinds
        self.defaults = [
            (f, list(f.default) if isinstance(f.default, tuple) else f.default)
            for f in self.fields.values()
            if f.default is not None
        ]
        self.required = shape.required
        self.lines = {f.key: RecordParser(line_form_of(f)) for f in shape.line_fields}
        self.plain: dict[str, tuple[Field, Callable[..., Any], dict[tuple[type, Any], Any]]] = {
            key: (f, parse, {}) for key, f, parse in shape.alone
        }
        """Fields whose value goes to one column: checked inline, without ``_parse_one``; each
        with what its distinct values became (see :meth:`parse`)."""
        self.memo_context: ValueContext | None = None

    def parse(
        self,
        values: Mapping[str, Any],
        ctx: ValueContext,
        errors: ErrorCollector,
        *,
        prefix: str = "",
        creating: bool,
        checked: Mapping[str, Any] | None = None,
    ) -> ParsedRecord:
        """Check every given value; on create also apply defaults and the required rule.

        Errors go to ``errors`` (so a batch reports every problem at once) with the field path.
        ``checked`` holds values of fields checked alone (:func:`checked_alone`) that their
        type's ``parse`` has already turned into stored values with this ``ctx`` — an import
        checks each distinct cell once for the whole file — and are taken as they are; only
        ``values`` are checked here, and the defaults and the required rule see both.
        """
        parsed = ParsedRecord()
        if not isinstance(values, Mapping):
            where = prefix.rstrip(".") or "body"
            errors.add(where, "invalid_record", Text("expected a JSON object"), values)
            return parsed
        if checked:
            parsed.columns.update(checked)
        already = len(errors.errors)
        self._parse_values(values, ctx, errors, parsed, prefix)
        # A value refused above is not also reported as missing: one message per field.
        refused = {error.field for error in errors.errors[already:]}
        if creating:
            for field_def, default in self.defaults:
                if field_def.key not in values and (not checked or field_def.key not in checked):
                    self._parse_one(field_def, default, ctx, errors, parsed, prefix)
            for field_def in self.required:
                if self._blank(parsed, field_def) and prefix + field_def.key not in refused:
                    message = Text("{label} is required", label=field_def.label)
                    errors.add(prefix + field_def.key, "required", message, None)
        else:
            given = values if not checked else {**checked, **values}
            for field_def in self.required:
                blank = field_def.key in given and self._blank(parsed, field_def)
                if blank and prefix + field_def.key not in refused:
                    message = Text("{label} is required", label=field_def.label)
                    errors.add(prefix + field_def.key, "required", message, given[field_def.key])
        return parsed

    def parse_new(
        self,
        items: Sequence[Mapping[str, Any]],
        checked: Sequence[Mapping[str, Any]],
        ctx: ValueContext,
        errors: ErrorCollector,
        prefixes: Sequence[str],
    ) -> list[ParsedRecord]:
        """:meth:`parse` of a batch of new records whose values are checked already, most or
        all of them (an import checks each distinct cell once for the whole file): item i's
        ``checked[i]`` holds stored values of some of its keys. The same checks and errors as
        :meth:`parse` record by record, done a field at a time over the batch: a record
        whose values are all checked costs a copy of them, and the defaults and the required
        rule walk the batch once per field that has one, not every field per record."""
        already = len(errors.errors)
        parsed = []
        for values, stored, prefix in zip(items, checked, prefixes, strict=True):
            record = ParsedRecord(dict(stored))
            if len(stored) < len(values):  # some values are not checked yet
                rest = {key: value for key, value in values.items() if key not in stored}
                self._parse_values(rest, ctx, errors, record, prefix)
            parsed.append(record)
        # A value refused above is not also reported as missing: one message per field.
        refused = {error.field for error in errors.errors[already:]}
        for field_def, default in self.defaults:
            key = field_def.key
            for values, stored, record, prefix in zip(
                items, checked, parsed, prefixes, strict=True
            ):
                if key not in values and key not in stored:
                    self._parse_one(field_def, default, ctx, errors, record, prefix)
        for field_def in self.required:
            key = field_def.key
            plain = key in self.plain
            for record, prefix in zip(parsed, prefixes, strict=True):
                blank = record.columns.get(key) is None if plain else self._blank(record, field_def)
                if blank and prefix + key not in refused:
                    message = Text("{label} is required", label=field_def.label)
                    errors.add(prefix + key, "required", message, None)
        return parsed

    def _parse_values(
        self,
        values: Mapping[str, Any],
        ctx: ValueContext,
        errors: ErrorCollector,
        parsed: ParsedRecord,
        prefix: str,
    ) -> None:
        """Each of ``values`` checked into ``parsed`` (no defaults, no required rule)."""
        plain, columns = self.plain, parsed.columns
        if ctx is not self.memo_context:  # what a value became holds for one context
            for _, _, memo in plain.values():
                memo.clear()
            self.memo_context = ctx
        for key, value in values.items():
            found = plain.get(key)
            if found is not None:  # the common case, inline: a batch checks 10,000s of values
                if value is None or value == "" or value == []:
                    columns[key] = None
                    continue
                plain_field, parse, memo = found
                # A batch's columns repeat their values (options, dates, amounts): each
                # distinct value is checked once, then looked up. 1, 1.0 and True differ.
                try:
                    remembered = memo.get((value.__class__, value), _UNSEEN)
                except TypeError:  # an unhashable value is checked every time
                    remembered = None
                if remembered is not None and remembered is not _UNSEEN:
                    columns[key] = remembered
                    continue
                try:
                    stored = parse(plain_field, value, ctx)
                except InvalidValue as exc:
                    errors.add(prefix + key, exc.code, exc.message, value)
                    continue
                columns[key] = stored
                if (
                    remembered is _UNSEEN
                    and stored.__class__ in IMMUTABLE
                    and len(memo) < _MEMO_LIMIT
                ):
                    memo[(value.__class__, value)] = stored
                continue
            if key in IGNORED_SYSTEM_KEYS:
                continue
            if key == "owner_id":
                _parse_owner(value, parsed, errors, prefix)
                continue
            field_def = self.fields.get(key)
            if field_def is None:
                message = Text("form {form!r} has no field {key!r}", form=self.form.key, key=key)
                errors.add(prefix + key, "unknown_field", message, value)
                continue
            self._parse_one(field_def, value, ctx, errors, parsed, prefix)

    def _blank(self, parsed: ParsedRecord, field_def: Field) -> bool:
        """Whether the record holds nothing for the field (asked per required field of every
        record: the field's kind is looked up once, by ``self.plain``)."""
        key = field_def.key
        if key in self.plain:
            return parsed.columns.get(key) is None
        if field_type(field_def).holds_lines:
            return not parsed.lines.get(key)
        if field_type(field_def).links_records and field_def.many:
            return not parsed.pairs.get(key)
        return parsed.columns.get(key) is None

    def _parse_one(
        self,
        field_def: Field,
        value: Any,
        ctx: ValueContext,
        errors: ErrorCollector,
        parsed: ParsedRecord,
        prefix: str,
    ) -> None:
        key = field_def.key
        kind = self.kinds[key]
        if kind.computed:
            message = Text("{label} is computed by the server", label=field_def.label)
            errors.add(prefix + key, "read_only", message, value)
            return
        if value is None or value == "" or value == []:
            if field_type(field_def).holds_lines:
                parsed.lines[key] = []
            elif field_type(field_def).links_records and field_def.many:
                parsed.pairs[key] = []
            else:
                parsed.columns[key] = None
            return
        try:
            stored = kind.parse(field_def, value, ctx)
        except InvalidValue as exc:
            errors.add(prefix + key, exc.code, exc.message, value)
            return
        if field_type(field_def).holds_lines:
            line_parser = self.lines[key]
            parsed.lines[key] = [
                line_parser.parse(
                    line, ctx, errors, prefix=f"{prefix}{key}.{index}.", creating=True
                ).columns
                for index, line in enumerate(stored)
            ]
        elif field_type(field_def).links_records and field_def.many:
            parsed.pairs[key] = stored
        else:
            parsed.columns[key] = stored


def checked_alone(field_def: Field) -> bool:
    """Whether the field's value is one column checked by its type's ``parse`` alone (not
    computed, no line items, not a list of links): such values may be checked ahead, once per
    distinct value, and handed to :meth:`RecordParser.parse` as ``checked``."""
    kind = field_type(field_def)
    return (
        not kind.computed and not kind.holds_lines and not (kind.links_records and field_def.many)
    )


def _parse_owner(value: Any, parsed: ParsedRecord, errors: ErrorCollector, prefix: str) -> None:
    if is_id(value):
        parsed.columns["owner_id"] = value
    else:
        errors.add(prefix + "owner_id", "invalid_reference", Text("expected a user id"), value)


@functools.lru_cache(maxsize=256)
def line_form_of(field_def: Field) -> Form:
    """A child table's lines, seen as a form of their own so the same checks apply."""
    return Form(key="lines", app_key="lines", label=field_def.label, fields=field_def.fields)


class Dumper:
    """Stored column values → API values; built once per form for a list of fields."""

    def __init__(self, form_fields: tuple[Field, ...]) -> None:
        self.converters: dict[str, Callable[[Any], Any] | None] = {
            field_def.key: field_type(field_def).converter(field_def) for field_def in form_fields
        }
        self.readers: dict[tuple[Any, ...], Callable[[Sequence[Any]], dict[str, Any]]] = {}
        """Built by :meth:`reader`, by the columns and conversions they were built for."""

    def dump(self, row: Mapping[Any, Any]) -> dict[str, Any]:
        result = {}
        for key, convert in self.converters.items():
            if key in row:
                stored = row[key]
                result[key] = stored if stored is None or convert is None else convert(stored)
        return result

    def reader(
        self,
        columns: Sequence[str],
        extra: Mapping[str, Callable[[Any], Any] | None],
        raw: Mapping[str, Callable[[Any], Any]],
    ) -> Callable[[Sequence[Any]], dict[str, Any]]:
        """A function from a result row (in ``columns`` order) to the API record: the fields,
        plus the ``extra`` columns (system columns) with their own conversions; the ``raw``
        columns were read as the driver gives them and have readers of their own."""
        key = (tuple(columns), tuple(extra.items()), tuple(raw.items()))
        read = self.readers.get(key)
        if read is None:
            wanted = {**extra, **self.converters, **raw}
            read = self.readers[key] = _compiled_reader(
                [
                    (i, column, wanted[column])
                    for i, column in enumerate(columns)
                    if column in wanted
                ]
            )
        return read


def _compiled_reader(
    spec: Sequence[tuple[int, str, Callable[[Any], Any] | None]],
) -> Callable[[Sequence[Any]], dict[str, Any]]:
    """One function building the whole record as a single dict display, as ``dataclasses``
    and ``namedtuple`` generate theirs: a list page reads fifty rows of twenty columns, and a
    loop over the columns costs as much again as the conversions themselves. Keys are
    written with ``repr``; converters are passed in by name, never as source."""
    namespace: dict[str, Any] = {}
    items = []
    for number, (index, key, convert) in enumerate(spec):
        if convert is None:
            items.append(f"{key!r}: row[{index}]")
        else:
            namespace[f"convert{number}"] = convert
            items.append(
                f"{key!r}: None if (value{number} := row[{index}]) is None"
                f" else convert{number}(value{number})"
            )
    exec(f"def read(row):\n    return {{{', '.join(items)}}}\n", namespace)
    read: Callable[[Sequence[Any]], dict[str, Any]] = namespace["read"]
    return read
