"""Schema changes: create forms, add, change, archive, restore and purge fields.

Each change checks the new definition, checks the data in SQL where data could be lost,
applies typed DDL, stores the new form version and records the change with before/after and
actor — all in the caller's transaction, so a refused or failed change leaves nothing behind.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import N_, Text
from meridian.core.timezones import DEFAULT_TIME_ZONE
from meridian.db.statistics import analyze
from meridian.db.tables import forms as forms_table
from meridian.db.tables import schema_changes
from meridian.errors import (
    Conflict,
    ErrorCollector,
    FieldError,
    InvalidValue,
    NotFound,
    PermissionDenied,
    SchemaChangeRefused,
    ValidationFailed,
)
from meridian.events.audit import audit
from meridian.schema import ddl
from meridian.schema.catalog import find_form, get_app, get_form, insert_app, store_form
from meridian.schema.compile import compile_form
from meridian.schema.expressions import (
    check_dependents,
    compile_form_expressions,
    recompute_formula,
    refresh_linked_rollup,
    with_result_types,
)
from meridian.schema.fieldtypes import ValueContext, field_type, types_context
from meridian.schema.model import App, Field, Form, parse_model
from meridian.schema.naming import form_key_from_label, key_from_label
from meridian.schema.retype import plan_conversion
from meridian.schema.view_indexes import drop_view_indexes_on, reconcile_view_indexes

OFFENDER_LIMIT = 50


def require_builder(actor: Actor) -> None:
    if not (actor.is_admin or actor.can_build):
        raise PermissionDenied(Text("only administrators and builders may change forms"))


def check_form_definition(conn: Connection, form: Form) -> None:
    """Every problem with a form's definition at once, or nothing."""
    errors = ErrorCollector()
    seen: set[str] = set()
    for index, field in enumerate(form.fields):
        path = f"fields.{index}.{field.key}"
        if field.key in seen:
            errors.add(
                path,
                "duplicate_key",
                Text("field key {key!r} is used twice", key=field.key),
                field.key,
            )
        seen.add(field.key)
        kind = field_type(field)
        for problem in kind.check_definition(field, form):
            errors.add(path, "invalid_definition", problem, field.key)
        if field.unique and not kind.supports_unique:
            errors.add(
                path, "unique_unsupported", Text("{type} fields cannot be unique", type=field.type)
            )
        if field_type(field).links_records and field.target and field.target != form.key:
            if find_form(conn, field.target) is None:
                errors.add(
                    path,
                    "unknown_target",
                    Text("link target form {target!r} does not exist", target=field.target),
                    field.target,
                )
        for line in field.fields:
            for problem in field_type(line).check_definition(line, form):
                errors.add(f"{path}.{line.key}", "invalid_definition", problem, line.key)
    placed: set[str] = set()
    for index, section in enumerate(form.sections):
        for key in section.fields:
            if key not in seen:
                errors.add(
                    f"sections.{index}", "unknown_field", Text("no field {key!r}", key=key), key
                )
            elif key in placed:
                errors.add(
                    f"sections.{index}",
                    "duplicate_key",
                    Text("{key!r} is placed twice", key=key),
                    key,
                )
            placed.add(key)
    listable = {f.key for f in form.fields if field_type(f).fits_column}
    for index, field in enumerate(form.fields):
        for key in field.related_columns:
            if not field_type(field).links_records or key not in listable:
                errors.add(
                    f"fields.{index}.{field.key}.related_columns",
                    "unknown_field",
                    Text("no field {key!r} to show in a related list", key=key),
                    key,
                )
    if form.title_field is not None and form.title_field not in seen:
        errors.add(
            "title_field",
            "unknown_field",
            Text("no field {title_field!r}", title_field=form.title_field),
            form.title_field,
        )
    errors.raise_if_any()


def record_change(
    conn: Connection,
    actor: Actor,
    form: Form,
    operation: str,
    summary: str,
    before: Any,
    after: Any,
) -> None:
    conn.execute(
        schema_changes.insert().values(
            form_key=form.key,
            version=form.version,
            operation=operation,
            summary=summary,
            before=before,
            after=after,
            actor_id=actor.user_id,
            created_at=utcnow(conn),
        )
    )
    audit(
        conn,
        actor_id=actor.user_id,
        action=f"schema_{operation}",
        object_type="form",
        object_id=form.key,
        detail={"version": form.version, "summary": summary},
    )


def create_app(*, conn: Connection, actor: Actor, app: App) -> App:
    """Create an empty app; app keys are unique."""
    require_builder(actor)
    try:
        get_app(conn, app.key)
    except NotFound:
        insert_app(conn, app)
        return app
    raise Conflict(Text("app {key!r} already exists", key=app.key), app=app.key)


def create_form(*, conn: Connection, actor: Actor, form: Form) -> Form:
    """Create a form and its tables; form keys are unique across apps."""
    require_builder(actor)
    get_app(conn, form.app_key)
    if conn.execute(sa.select(forms_table.c.key).where(forms_table.c.key == form.key)).first():
        raise Conflict(Text("form {key!r} already exists", key=form.key), form=form.key)
    form = form.model_copy(update={"version": 1})
    check_form_definition(conn, form)
    form = with_result_types(conn, form)
    ddl.create_form_tables(conn, compile_form(form))
    store_form(conn, form, new=True)
    record_change(
        conn,
        actor,
        form,
        "create_form",
        f"created form {form.key}",
        None,
        form.model_dump(mode="json"),
    )
    return form


def _next_version(form: Form, fields: tuple[Field, ...]) -> Form:
    return form.model_copy(update={"fields": fields, "version": form.version + 1})


def add_field(
    *,
    conn: Connection,
    actor: Actor,
    form_key: str,
    field: Field,
    tz: ZoneInfo = DEFAULT_TIME_ZONE,
) -> Form:
    """Add a nullable column (no table rewrite) or the field's own table.

    A new formula is computed for every existing record in one UPDATE.
    """
    require_builder(actor)
    form = get_form(conn, form_key)
    if form.get_field(field.key) is not None:
        raise Conflict(
            Text("form {form_key!r} already has a field {key!r}", form_key=form_key, key=field.key),
            field=field.key,
        )
    new_form = _next_version(form, (*form.fields, field))
    check_form_definition(conn, new_form)
    new_form = with_result_types(conn, new_form)
    tables = compile_form(new_form)
    if field_type(field).holds_lines:
        tables.lines[field.key].create(conn)
    elif field_type(field).links_records and field.many:
        tables.links[field.key].create(conn)
    else:
        ddl.add_column(conn, tables.main, tables.main.c[field.key])
        _create_field_indexes(conn, tables.main, field.key)
    if field_type(field).recomputed():
        _recompute(conn, new_form, field.key, tz)
    if _field_indexes(tables.main, field.key) or field_type(field).recomputed():
        analyze(conn, [tables.main.name])  # the new index or values, for the planner
    store_form(conn, new_form, new=False)
    record_change(
        conn,
        actor,
        new_form,
        "add_field",
        f"added field {field.key}",
        None,
        field.model_dump(mode="json"),
    )
    return new_form


def _field_indexes(table: sa.Table, key: str) -> list[sa.Index]:
    return [index for index in table.indexes if key in index.columns]


def _create_field_indexes(conn: Connection, table: sa.Table, key: str) -> None:
    for index in _field_indexes(table, key):
        index.create(conn)


def _drop_field_indexes(conn: Connection, table: sa.Table, key: str) -> None:
    for index in _field_indexes(table, key):
        ddl.drop_index(conn, index)


def _offenders(
    conn: Connection, table: sa.Table, column: sa.ColumnElement[Any], where: Any
) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(table.c.id, column.label("value"))
        .where(where)
        .order_by(table.c.id)
        .limit(OFFENDER_LIMIT)
    )
    return [{"id": row.id, "value": row.value} for row in rows]


def _duplicates(conn: Connection, table: sa.Table, key: str) -> list[dict[str, Any]]:
    column = table.c[key]
    live = table.c.deleted_at.is_(None)
    repeated = (
        sa.select(column)
        .where(live, column.is_not(None))
        .group_by(column)
        .having(sa.func.count() > 1)
    )
    return _offenders(conn, table, column, sa.and_(live, column.in_(repeated)))


def update_field(
    *,
    conn: Connection,
    actor: Actor,
    form_key: str,
    field_key: str,
    changes: dict[str, Any],
    fill_value: Any = None,
    tz: ZoneInfo = DEFAULT_TIME_ZONE,
) -> Form:
    """Change a field's label, key, type or rules, refusing any change that would lose data.

    ``fill_value`` (an API value) fills existing blanks when the field becomes required.
    """
    require_builder(actor)
    form = get_form(conn, form_key)
    old = form.get_field(field_key)
    if old is None or old.archived:
        raise NotFound(
            Text(
                "form {form_key!r} has no field {field_key!r}",
                form_key=form_key,
                field_key=field_key,
            ),
            field=field_key,
        )
    new = parse_model(Field, {**old.model_dump(), **changes}, types_context(conn))
    if new.key != old.key and form.get_field(new.key) is not None:
        raise Conflict(
            Text("form {form_key!r} already has a field {key!r}", form_key=form_key, key=new.key),
            field=new.key,
        )
    new_form = _next_version(form, tuple(new if f.key == old.key else f for f in form.fields))
    check_form_definition(conn, new_form)
    new_form = _typed_or_refused(conn, new_form, new)
    new = new_form.get_field(new.key) or new
    old_tables = compile_form(form)
    new_tables = compile_form(new_form)
    kind = field_type(old)
    summary: list[str] = []
    if old.type == new.type and kind.recomputed():
        summary.extend(_update_formula(conn, form, old, new, tz))
    if kind.has_column and not (field_type(old).links_records and old.many):
        table = old_tables.main
        if not field_type(old).evaluates_expression and _storage_changed(old, new):
            _convert_column(conn, form, old, new)
            summary.append(f"type {old.type} → {new.type}")
        if new.required and not old.required:
            _fill_blanks(conn, new, table, fill_value, tz)
            summary.append("required")
        if new.unique and not old.unique:
            offenders = _duplicates(conn, table, old.key)
            if offenders:
                raise SchemaChangeRefused(
                    Text(
                        "field {key!r} cannot become unique: {count} records share values",
                        key=old.key,
                        count=len(offenders),
                    ),
                    offenders,
                )
        _drop_field_indexes(conn, table, old.key)
        if new.key != old.key:
            ddl.rename_column(conn, table, old.key, new.key)
            summary.append(f"renamed {old.key} → {new.key}")
        _create_field_indexes(conn, new_tables.main, new.key)
        analyze(conn, [table.name])  # rebuilt indexes and converted values, for the planner
    elif new.key != old.key:
        raise SchemaChangeRefused(
            Text("the key of {type} field {key!r} cannot be changed", type=old.type, key=old.key)
        )
    elif new.type != old.type:
        raise SchemaChangeRefused(
            Text(
                "field {key!r} cannot change from {old} to {new}",
                key=old.key,
                old=old.type,
                new=new.type,
            )
        )
    store_form(conn, new_form, new=False)
    reconcile_view_indexes(conn, new_form)  # a retyped or renamed column's view indexes
    check_dependents(conn, new_form)
    record_change(
        conn,
        actor,
        new_form,
        "update_field",
        f"changed field {old.key}: {', '.join(summary) or 'settings'}",
        old.model_dump(mode="json"),
        new.model_dump(mode="json"),
    )
    return new_form


def _storage_changed(old: Field, new: Field) -> bool:
    if old.type != new.type:
        return True
    kind = field_type(new)
    if kind.storage_scale(old) != kind.storage_scale(new):
        return True
    if kind.retype_family == "option" and set(new.option_values()) < set(old.option_values()):
        return True
    shorter = (new.max_length or 0) < (old.max_length or 0)
    return kind.retype_family == "free_text" and shorter


def _convert_column(conn: Connection, form: Form, old: Field, new: Field) -> None:
    """Check in SQL that every value converts; then convert in place (PostgreSQL) or through a
    scratch column (SQLite)."""
    temporary = f"{old.key[:57]}__new"
    scratch = compile_form(
        form.model_copy(
            update={"fields": (*form.fields, new.model_copy(update={"key": temporary}))}
        )
    ).main
    column = scratch.c[old.key]
    plan = plan_conversion(old, new, column, conn.dialect.name)
    if plan.lossy is not None:
        offenders = _offenders(conn, scratch, column, sa.and_(column.is_not(None), plan.lossy))
        if offenders:
            more = "+" if len(offenders) == OFFENDER_LIMIT else ""
            raise SchemaChangeRefused(
                Text(
                    "field {key!r} cannot change from {old} to {new}: {count}{more} values would "
                    "not convert",
                    key=old.key,
                    old=old.type,
                    new=new.type,
                    count=len(offenders),
                    more=more,
                ),
                offenders,
            )
    _drop_field_indexes(conn, scratch, old.key)
    drop_view_indexes_on(conn, scratch.name, [old.key])
    if conn.dialect.name == "postgresql":
        # The rewrite rebuilds every index; the trigram index (over half of the work at 1M
        # rows) is built again after the commit, CONCURRENTLY, by the view-index job that
        # update_field's reconcile enqueues: the table is locked for a third of the time.
        ddl.drop_trigram_index(conn, scratch.name)
        ddl.convert_column(conn, scratch, old.key, scratch.c[temporary], plan.convert)
        return
    # SQLite changes no column's type: a scratch column takes the converted values.
    ddl.add_column(conn, scratch, scratch.c[temporary])
    conn.execute(scratch.update().values({temporary: plan.convert}))
    ddl.drop_column(conn, scratch, old.key)
    ddl.rename_column(conn, scratch, temporary, old.key)


def _fill_blanks(
    conn: Connection, field: Field, table: sa.Table, fill_value: Any, tz: ZoneInfo
) -> None:
    column = table.c[field.key]
    blank = column.is_(None)
    if fill_value is None:
        offenders = _offenders(conn, table, column, sa.and_(blank, table.c.deleted_at.is_(None)))
        if offenders:
            raise SchemaChangeRefused(
                Text(
                    "field {key!r} cannot become required: records have no value; give a fill "
                    "value or fill them first",
                    key=field.key,
                ),
                offenders,
            )
        return
    try:
        stored = field_type(field).parse(field, fill_value, ValueContext(tz))
    except InvalidValue as exc:
        raise ValidationFailed(
            [FieldError("fill_value", exc.code, exc.message, fill_value)]
        ) from None
    conn.execute(table.update().where(blank).values({field.key: stored}))


def archive_field(*, conn: Connection, actor: Actor, form_key: str, field_key: str) -> Form:
    """Hide a field from forms and the API while keeping its data, restorable until purged."""
    return _set_archived(conn, actor, form_key, field_key, archived=True)


def restore_field(*, conn: Connection, actor: Actor, form_key: str, field_key: str) -> Form:
    return _set_archived(conn, actor, form_key, field_key, archived=False)


def _set_archived(
    conn: Connection, actor: Actor, form_key: str, field_key: str, *, archived: bool
) -> Form:
    require_builder(actor)
    form = get_form(conn, form_key)
    field = form.get_field(field_key)
    if field is None or field.archived == archived:
        message = (
            N_("form {form_key!r} has no archived field {field_key!r}")
            if not archived
            else N_("form {form_key!r} has no live field {field_key!r}")
        )
        raise NotFound(Text(message, form_key=form_key, field_key=field_key), field=field_key)
    new_form = _next_version(
        form,
        tuple(
            f.model_copy(update={"archived": archived}) if f.key == field_key else f
            for f in form.fields
        ),
    )
    if not archived:
        check_form_definition(conn, new_form)
    store_form(conn, new_form, new=False)
    reconcile_view_indexes(conn, new_form)  # a retyped or renamed column's view indexes
    check_dependents(conn, new_form)
    operation = "archive_field" if archived else "restore_field"
    record_change(
        conn,
        actor,
        new_form,
        operation,
        f"{operation.split('_')[0]}d field {field_key}",
        field.model_dump(mode="json"),
        None,
    )
    return new_form


def purge_field(*, conn: Connection, actor: Actor, form_key: str, field_key: str) -> Form:
    """Drop an archived field's column or table for good."""
    require_builder(actor)
    form = get_form(conn, form_key)
    field = form.get_field(field_key)
    if field is None or not field.archived:
        raise Conflict(
            Text(
                "only an archived field can be purged; {field_key!r} is not archived",
                field_key=field_key,
            )
        )
    tables = compile_form(form)
    if field.key in tables.lines:
        tables.lines[field.key].drop(conn)
    elif field.key in tables.links:
        tables.links[field.key].drop(conn)
    else:
        _drop_field_indexes(conn, tables.main, field.key)
        drop_view_indexes_on(conn, tables.main.name, [field.key])
        ddl.drop_column(conn, tables.main, field.key)
    new_form = _next_version(form, tuple(f for f in form.fields if f.key != field_key))
    store_form(conn, new_form, new=False)
    reconcile_view_indexes(conn, new_form)
    record_change(
        conn,
        actor,
        new_form,
        "purge_field",
        f"purged field {field_key}",
        field.model_dump(mode="json"),
        None,
    )
    return new_form


def _with_keys(drafts: list[Any], taken: set[str]) -> list[Any]:
    """Give every field draft without a key one made from its label (客户名称 → kehu_mingcheng)."""
    result = []
    for draft in drafts:
        if isinstance(draft, dict):
            draft = dict(draft)
            if not draft.get("key") and isinstance(draft.get("label"), str):
                draft["key"] = key_from_label(draft["label"], taken)
            if isinstance(draft.get("key"), str):
                taken.add(draft["key"])
            if isinstance(draft.get("fields"), list):
                draft["fields"] = _with_keys(draft["fields"], set())
        result.append(draft)
    return result


def form_from_draft(conn: Connection, app_key: str, draft: dict[str, Any]) -> Form:
    """A ``Form`` from API input, with keys generated where the builder gave none."""
    draft = dict(draft)
    if not draft.get("key") and isinstance(draft.get("label"), str):
        taken = set(conn.execute(sa.select(forms_table.c.key)).scalars())
        draft["key"] = form_key_from_label(draft["label"], taken)
    explicit = {d["key"] for d in draft.get("fields", []) if isinstance(d, dict) and d.get("key")}
    draft["fields"] = _with_keys(draft.get("fields", []), explicit)
    return parse_model(Form, {**draft, "app_key": app_key}, types_context(conn))


def field_from_draft(conn: Connection, form_key: str, draft: dict[str, Any]) -> Field:
    form = get_form(conn, form_key)
    [prepared] = _with_keys([draft], {f.key for f in form.fields})
    return parse_model(Field, prepared, types_context(conn))


def _typed_or_refused(conn: Connection, form: Form, changed: Field) -> Form:
    """Infer formula types; a broken formula of the changed field itself is a 422, any other
    expression broken by the change refuses the change with the list of what breaks."""
    try:
        return with_result_types(conn, form)
    except ValidationFailed as exc:
        own = f"fields.{changed.key}."
        if field_type(changed).evaluates_expression and all(
            e.field.startswith(own) for e in exc.errors
        ):
            raise
        raise SchemaChangeRefused(
            Text(
                "the change breaks {count} expression(s); change them first", count=len(exc.errors)
            ),
            [{"form": form.key, **error.as_dict()} for error in exc.errors],
        ) from None


def _update_formula(
    conn: Connection, form: Form, old: Field, new: Field, tz: ZoneInfo
) -> list[str]:
    """A formula's column is derived data: a new result type or scale rebuilds it."""
    new_form = form.model_copy(
        update={"fields": tuple(new if f.key == old.key else f for f in form.fields)}
    )
    table = compile_form(form).main
    summary = []
    if (old.result_type, old.scale) != (new.result_type, new.scale):
        _drop_field_indexes(conn, table, old.key)
        ddl.drop_column(conn, table, old.key)
        new_table = compile_form(new_form).main
        ddl.add_column(conn, new_table, new_table.c[old.key])
        summary.append(f"result {old.result_type} → {new.result_type}")
    if summary or (old.expression, old.rollup) != (new.expression, new.rollup):
        _recompute(conn, new_form, old.key, tz)
        summary.append("recomputed")
    return summary


def _recompute(conn: Connection, form: Form, key: str, tz: ZoneInfo) -> None:
    """Compute a formula or rollup afresh for every record, in SQL."""
    field = form.get_field(key)
    if field is not None and field.rollup is not None and "." in field.rollup.source:
        refresh_linked_rollup(conn, form, field, None)
        return
    expressions = compile_form_expressions(conn, form)
    for formula, expression in expressions.formulas:
        if formula.key == key:
            recompute_formula(conn, form, formula, expression, tz)
