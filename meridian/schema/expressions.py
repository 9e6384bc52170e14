"""Expressions over forms: the scopes the expression language checks and compiles against.

``meridian.expr`` knows nothing of forms; this module describes a form's fields, its
many-to-one links (one level deep) and its child tables to it, for Python (``Scope``) and for
SQL (``SqlScope``), and checks every formula and validation rule of a form when it is saved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.db import revisions
from meridian.db.tables import forms as forms_table
from meridian.errors import FieldError, SchemaChangeRefused, ValidationFailed
from meridian.expr import (
    ChildScope,
    ChildSql,
    CompiledExpression,
    ExpressionError,
    ExprType,
    FieldInfo,
    LinkScope,
    LinkSql,
    Scope,
    SqlScope,
    compile_expression,
)
from meridian.plugins.manager import plugins_of
from meridian.schema.catalog import find_form, list_forms
from meridian.schema.compile import FormTables, compile_form
from meridian.schema.fieldtypes import field_type, types_context
from meridian.schema.model import Field, Form

_RESULT_TYPES = {
    ExprType.NUMBER: "number",
    ExprType.TEXT: "text",
    ExprType.BOOLEAN: "boolean",
    ExprType.DATE: "date",
    ExprType.DATETIME: "datetime",
}


def expression_scale(field: Field) -> int:
    """Powers of ten between the stored integer and the value formulas see.

    A percent is stored as typed (12.5 for 12.5 %) and seen as the fraction (0.125).
    """
    return field_type(field).expression_scale(field)


def field_info(field: Field) -> FieldInfo | None:
    """How an expression sees a field (``FieldType.expression_info``); ``None`` for fields it
    cannot read directly."""
    return field_type(field).expression_info(field)


SYSTEM_REFERENCES: tuple[FieldInfo, ...] = (
    FieldInfo("owner_id", "负责人", ExprType.NUMBER),
    FieldInfo("created_by", "创建人", ExprType.NUMBER),
)
"""Columns every record has that expressions may read by key, as a user field reads: its
owner's and its creator's user id (``owner_id = created_by``, ``owner_id = CURRENT_USER()``).
A field of the form with the same key or label wins."""


def plain_scope(fields: tuple[Field, ...], *, records: bool = True) -> Scope:
    """The fields themselves and (``records``: of a record, not of child-table lines) the
    record's owner and creator, without links or child tables."""
    infos = ((f, field_info(f)) for f in fields if not f.archived)
    found: dict[str, FieldInfo] = {f.key: info for f, info in infos if info is not None}
    labels = {info.label for info in found.values()}
    for reference in SYSTEM_REFERENCES if records else ():
        if reference.key not in found and reference.label not in labels:
            found[reference.key] = reference
    return Scope(fields=found)


@dataclass(frozen=True)
class LinkTarget:
    """What an expression reads through a many-to-one link: a linked record outside ``where``
    reads as empty (NULL), and only ``form``'s fields can be named.

    :ivar form: the linked form's fields as the reader sees them.
    :ivar table: the table the linked values are read from, aliased by its caller.
    :ivar where: the condition a linked row must meet to be seen.
    """

    form: Form
    table: sa.FromClause
    where: ColumnElement[bool] | None


LinkTargets = Callable[[str, Form], LinkTarget]
"""``(alias, linked form) → LinkTarget``: how one reader sees the forms a form links to."""


def every_live_row(alias: str, target: Form) -> LinkTarget:
    """Meridian's own view of a linked form: every live record and every field. Stored
    formulas, rules and row-scope conditions read links so; a user's query reads them through
    ``meridian.records.readable`` instead."""
    table = compile_form(target).main.alias(alias)
    return LinkTarget(target, table, table.c.deleted_at.is_(None))


def _linked_forms(conn: Connection, form: Form) -> Iterator[tuple[Field, Form]]:
    for field in form.active_fields:
        if field_type(field).links_records and not field.many and field.target:
            target = form if field.target == form.key else find_form(conn, field.target)
            if target is not None:
                yield field, target


def scope_for(conn: Connection, form: Form, *, targets: LinkTargets | None = None) -> Scope:
    """Fields, links one level deep, and child tables, as the expression checker sees them;
    through ``targets``, only the linked fields that reader may see."""
    base = plain_scope(form.fields)
    links = {}
    for field, target in _linked_forms(conn, form):
        seen = target if targets is None else targets(f"link_{field.key}", target).form
        links[field.key] = LinkScope(field.label, plain_scope(seen.fields))
    children = {
        f.key: ChildScope(f.label, plain_scope(f.fields, records=False))
        for f in form.active_fields
        if field_type(f).holds_lines
    }
    return Scope(fields=base.fields, links=links, children=children)


def _columns(table: sa.FromClause, fields: tuple[Field, ...]) -> dict[str, Any]:
    found = {f.key: table.c[f.key] for f in fields if not f.archived and f.key in table.c}
    for reference in SYSTEM_REFERENCES:
        if reference.key not in found and reference.key in table.c:
            found[reference.key] = table.c[reference.key]
    return found


def sql_scope_for(
    conn: Connection,
    form: Form,
    tables: FormTables,
    *,
    targets: LinkTargets = every_live_row,
) -> SqlScope:
    """The columns behind ``scope_for``; links and lines become correlated subqueries, a link
    reading its target through ``targets`` (by default every live row)."""
    main = tables.main
    links = {}
    for field, target in _linked_forms(conn, form):
        seen = targets(f"link_{field.key}", target)
        target_id = seen.table.c.id
        assert isinstance(target_id, sa.ColumnClause)  # a column of a table or an alias
        links[field.key] = LinkSql(
            foreign_key=main.c[field.key],
            target_id=target_id,
            target=SqlScope(columns=_columns(seen.table, seen.form.fields)),
            where=seen.where,
        )
    children = {}
    for key, lines in tables.lines.items():
        line_field = form.get_field(key)
        if line_field is None or line_field.archived:
            continue
        children[key] = ChildSql(
            parent_key=lines.c._parent_id,
            parent_id=main.c.id,
            lines=SqlScope(columns=_columns(lines, line_field.fields)),
        )
    return SqlScope(columns=_columns(main, form.fields), links=links, children=children)


@dataclass(frozen=True)
class FormExpressions:
    """A form's checked formulas (in an order where each reads only earlier ones) and rules."""

    formulas: tuple[tuple[Field, CompiledExpression], ...]
    validations: tuple[tuple[int, str, CompiledExpression], ...]


def _expression_error(path: str, name: str, source: str, exc: ExpressionError) -> FieldError:
    """The expression's problem, led by the name of the field or rule it belongs to: a
    reader sees "总功率: 未知字段 cabinets。", the API's ``field`` keeps the path."""
    message = Text("{name}: {message}", name=name, message=exc.message)
    return FieldError(path, "invalid_expression", message, source, detail=exc.as_dict())


def compile_form_expressions(conn: Connection, form: Form) -> FormExpressions:
    """Check every formula and rule of ``form``; all problems at once, with positions.

    Formula result types are inferred here; a formula may read other formulas, but not in a
    circle.
    """
    scope = scope_for(conn, form)
    formulas = {
        f.key: f for f in form.active_fields if field_type(f).evaluates_expression and f.expression
    }
    errors: list[FieldError] = []
    for field in form.active_fields:
        if field_type(field).aggregates and field.rollup is not None:
            if "." in field.rollup.source:
                errors.extend(_check_linked_rollup(conn, form, field))
            else:
                formulas[field.key] = field.model_copy(update={"expression": _line_rollup(field)})
    compiled: dict[str, CompiledExpression] = {}
    # Formula fields enter the scope once their own type is known, in dependency order.
    pending = dict(formulas)
    known = dict(scope.fields)
    while pending:
        progressed = False
        for key, field in list(pending.items()):
            visible = Scope(
                fields={k: v for k, v in known.items() if k != key},
                links=scope.links,
                children=scope.children,
            )
            try:
                expression = compile_expression(field.expression or "", visible)
            except ExpressionError as exc:
                if exc.reason == "unknown_field" and _names_pending_formula(exc, pending, key):
                    continue
                errors.append(
                    _expression_error(
                        f"fields.{key}.expression", field.label, field.expression or "", exc
                    )
                )
                del pending[key]
                continue
            compiled[key] = expression
            result = _RESULT_TYPES.get(expression.result_type)
            if result is None:
                errors.append(
                    FieldError(
                        f"fields.{key}.expression",
                        "invalid_expression",
                        Text(
                            "a formula must give a number, text, true/false, a date or a time, "
                            "not {value}",
                            value=expression.result_type.value,
                            value_zh=expression.result_type.zh,
                        ),
                        field.expression,
                    )
                )
            else:
                typed = field.model_copy(update={"result_type": result})
                info = field_info(typed)
                if info is not None:
                    known[key] = info
                formulas[key] = typed
            del pending[key]
            progressed = True
        if not progressed:
            for key, field in pending.items():
                errors.append(
                    FieldError(
                        f"fields.{key}.expression",
                        "circular_formula",
                        Text(
                            "formulas read each other in a circle: {keys}",
                            keys=", ".join(sorted(pending)),
                        ),
                        field.expression,
                    )
                )
            break
    full = Scope(fields=known, links=scope.links, children=scope.children)
    for key, field in formulas.items():
        if field_type(field).aggregates and field.result_type not in (None, "number"):
            errors.append(
                FieldError(
                    f"fields.{key}.rollup", "not_a_number", Text("a rollup must give a number"), key
                )
            )
    validations = []
    for index, rule in enumerate(form.validations):
        try:
            expression = compile_expression(rule.expression, full)
        except ExpressionError as exc:
            errors.append(
                _expression_error(
                    f"validations.{index}.expression",
                    Text("validation rule {number}", number=index + 1),
                    rule.expression,
                    exc,
                )
            )
            continue
        if expression.result_type not in (ExprType.BOOLEAN, ExprType.NULL):
            errors.append(
                FieldError(
                    f"validations.{index}.expression",
                    "not_a_condition",
                    Text("a validation rule must be a condition (true or false)"),
                    rule.expression,
                )
            )
            continue
        validations.append((index, rule.message, expression))
    if errors:
        raise ValidationFailed(errors)
    ordered = tuple((formulas[key], compiled[key]) for key in _dependency_order(compiled))
    return FormExpressions(formulas=ordered, validations=tuple(validations))


def _names_pending_formula(exc: ExpressionError, pending: dict[str, Field], own: str) -> bool:
    """Whether an unknown name is a formula not typed yet (so: try again later)."""
    names = {key for key in pending if key != own} | {
        field.label for key, field in pending.items() if key != own
    }
    return any(name in exc.message for name in names)


def _dependency_order(compiled: dict[str, CompiledExpression]) -> Iterator[str]:
    placed: set[str] = set()

    def place(key: str) -> Iterator[str]:
        if key in placed:
            return
        placed.add(key)
        for used in compiled[key].fields_used:
            if used in compiled:
                yield from place(used)
        yield key

    for key in compiled:
        yield from place(key)


def with_result_types(conn: Connection, form: Form) -> Form:
    """``form`` with each formula's inferred result type filled in (checks everything)."""
    expressions = compile_form_expressions(conn, form)
    types = {field.key: field.result_type for field, _ in expressions.formulas}
    fields = tuple(
        f.model_copy(update={"result_type": types[f.key]}) if f.key in types else f
        for f in form.fields
    )
    return form.model_copy(update={"fields": fields})


def check_dependents(conn: Connection, form: Form) -> None:
    """Refuse a change to ``form`` that breaks an expression here or on a form linking here."""
    broken: list[dict[str, Any]] = []
    for other in [
        form,
        *(f for f in list_forms(conn) if f.key != form.key and _links_to(f, form.key)),
    ]:
        try:
            compile_form_expressions(conn, other)
        except ValidationFailed as exc:
            broken.extend({"form": other.key, **error.as_dict()} for error in exc.errors)
    if broken:
        raise SchemaChangeRefused(
            Text("the change breaks {count} expression(s); change them first", count=len(broken)),
            broken,
        )


def _links_to(form: Form, target: str) -> bool:
    return any(field_type(f).links_records and f.target == target for f in form.active_fields)


def to_logical(field: Field, stored: Any) -> Any:
    """A stored value as expressions see it (scaled integers become exact decimals)."""
    if stored is None:
        return None
    info = field_info(field)
    if info is not None and info.type is ExprType.NUMBER and info.scale:
        return Decimal(int(stored)).scaleb(-info.scale)
    return stored


def logical_record(fields: Iterable[Field], stored: Mapping[Any, Any]) -> dict[str, Any]:
    """A stored row's values as expressions see them, for the given fields (and the record's
    owner and creator when the row carries them)."""
    return LogicalReader(fields)(stored)


class LogicalReader:
    """``logical_record`` for one set of fields, each field's scale asked of its type once:
    a batch asked every field's type for every record, a third of the CPU of a bulk create
    of quotes on PostgreSQL (issue 21). Made per batch, so a changed form is never seen."""

    def __init__(self, fields: Iterable[Field]) -> None:
        self._scales = [(f.key, _scale_seen(f)) for f in fields]
        keys = {key for key, _ in self._scales}
        self._references = [r.key for r in SYSTEM_REFERENCES if r.key not in keys]

    def __call__(self, stored: Mapping[Any, Any]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key, scale in self._scales:
            value = stored.get(key)
            found[key] = (
                Decimal(int(value)).scaleb(-scale) if scale and value is not None else value
            )
        for key in self._references:
            found[key] = stored.get(key)
        return found


def _scale_seen(field: Field) -> int:
    """The decimal places an expression moves a stored number by (0: seen as stored)."""
    info = field_info(field)
    return info.scale if info is not None and info.type is ExprType.NUMBER and info.scale else 0


def to_stored(field: Field, value: Any) -> Any:
    """A formula's result as its column stores it (numbers rounded half away from zero)."""
    if value is None:
        return None
    if (field.result_type or "number") == "number":
        scaled = Decimal(value).scaleb(field.scale).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        return int(scaled)
    return value


def recompute_formula(
    conn: Connection, form: Form, field: Field, expression: CompiledExpression, tz: ZoneInfo
) -> None:
    """Set a formula's column for every row in one UPDATE compiled from the expression."""
    tables = compile_form(form)
    now = utcnow(conn).astimezone(tz)
    value = expression.to_sql(
        sql_scope_for(conn, form, tables), dialect=conn.dialect, today=now.date(), now=now
    )
    if (field.result_type or "number") == "number":
        value = sa.cast(sa.func.round(value * 10**field.scale), sa.BigInteger)
    conn.execute(tables.main.update().values({field.key: value}))


_AGGREGATES = {"sum": "SUM", "count": "COUNT", "min": "MIN", "max": "MAX", "avg": "AVG"}


def _line_rollup(field: Field) -> str:
    """A rollup over a child table, written as the expression that computes it."""
    assert field.rollup is not None
    spec = field.rollup
    if spec.function == "count":
        return f"COUNT({spec.source})"
    return f"{_AGGREGATES[spec.function]}({spec.source}.{spec.field})"


def _check_linked_rollup(conn: Connection, form: Form, field: Field) -> list[FieldError]:
    assert field.rollup is not None
    spec = field.rollup
    path = f"fields.{field.key}.rollup.source"
    source_key, _, link_key = spec.source.partition(".")
    source = form if source_key == form.key else find_form(conn, source_key)
    link = source.get_field(link_key) if source else None
    if (
        source is None
        or link is None
        or not field_type(link).links_records
        or link.target != form.key
    ):
        message = Text(
            "{source!r} is not <form>.<link field> pointing at {form}",
            source=spec.source,
            form=form.key,
        )
        return [FieldError(path, "invalid_rollup_source", message, spec.source)]
    if spec.function == "count":
        return []
    aggregated = source.get_field(spec.field or "")
    info = field_info(aggregated) if aggregated is not None and not aggregated.archived else None
    if info is None or info.type is not ExprType.NUMBER:
        message = Text(
            "{form} has no number field {field!r} to {function}",
            form=source.key,
            field=spec.field,
            function=spec.function,
        )
        return [
            FieldError(
                f"fields.{field.key}.rollup.field", "invalid_rollup_field", message, spec.field
            )
        ]
    return []


def linked_rollups_onto(conn: Connection, source_key: str) -> list[tuple[Form, Field]]:
    """Rollup fields anywhere that aggregate records of form ``source_key``.

    Runs on every write, so the answer is kept per process under the ``forms`` revision (any
    form saved replaces it); only a changed revision narrows the definitions in SQL again.
    """
    plugins = plugins_of(conn)
    token = revisions.token(conn, revisions.FORMS)
    kept = _rollups_onto.get((token, source_key, plugins)) if token else None
    if kept is not None:
        return list(kept)
    mention = f'%"source": "{source_key}.%'
    rows = conn.execute(
        sa.select(forms_table.c.definition).where(
            sa.cast(forms_table.c.definition, sa.Text).like(mention)
        )
    )
    context = types_context(conn)
    candidates = [Form.model_validate(row.definition, context=context) for row in rows]
    found = tuple(
        (form, field)
        for form in candidates
        for field in form.active_fields
        if field_type(field).aggregates
        and field.rollup is not None
        and field.rollup.source.partition(".")[0] == source_key
        and "." in field.rollup.source
    )
    if token:
        if len(_rollups_onto) >= 1024:
            _rollups_onto.clear()
        _rollups_onto[token, source_key, plugins] = found
    return list(found)


_rollups_onto: dict[tuple[str, str, Any], tuple[tuple[Form, Field], ...]] = {}
"""By (``forms`` token, source form key, plugins)."""


def refresh_linked_rollup(
    conn: Connection, form: Form, field: Field, parent_ids: Iterable[int] | None
) -> None:
    """Recompute a rollup over linking records, for the given parents (or all), in one UPDATE."""
    assert field.rollup is not None
    spec = field.rollup
    source_key, _, link_key = spec.source.partition(".")
    source = form if source_key == form.key else find_form(conn, source_key)
    assert source is not None
    parent = compile_form(form).main
    rows = compile_form(source).main.alias("rollup_source")
    if spec.function == "count":
        aggregate: Any = sa.func.count() * 10**field.scale
    else:
        aggregated = source.get_field(spec.field or "")
        assert aggregated is not None
        shift = field.scale - expression_scale(aggregated)
        column: Any = rows.c[aggregated.key]
        function = getattr(sa.func, spec.function)
        value = function(sa.cast(column, sa.Numeric) if spec.function == "avg" else column)
        aggregate = (
            sa.func.round(value * 10**shift) if shift >= 0 else sa.func.round(value / 10**-shift)
        )
    subquery = (
        sa.select(sa.cast(aggregate, sa.BigInteger))
        .where(rows.c[link_key] == parent.c.id, rows.c.deleted_at.is_(None))
        .scalar_subquery()
    )
    statement = parent.update().values({field.key: subquery})
    if parent_ids is not None:
        ids = sorted(set(parent_ids))
        if not ids:
            return
        statement = statement.where(parent.c.id.in_(ids))
    conn.execute(statement)
