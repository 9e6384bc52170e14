"""A report definition → ONE aggregating SQL statement over the caller's readable rows.

The FROM is the form as :class:`~meridian.records.readable.Readable` gives it to the caller
(row scope, soft delete, hidden fields), left-joined to each linked form it reaches, again as
the caller reads it. Filters are the records filter builder's (``records.query``), compiled
over the same visible form, so a report cannot reach what the caller's list could not. Two
callers with different scopes get different numbers from the same definition by construction.

Sums, counts, minima and maxima are computed by the database on the stored exact integers; an
average is returned as its sum and count and divided exactly afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from meridian.access.organisation import subtree
from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.db.tables import pipelines, user_departments, users
from meridian.errors import FieldError, InvalidValue, ValidationFailed
from meridian.expr.dates import local_midnight
from meridian.expr.sqlops import SqlContext
from meridian.records.listing import expression_condition
from meridian.records.query import FilterCompiler
from meridian.records.readable import Readable
from meridian.reports.buckets import bucket_start, local_day
from meridian.reports.filters import ReportFilters
from meridian.reports.history import (
    StageHistory,
    current_probability,
    end_of_day,
    stage_probabilities,
)
from meridian.reports.model import MAX_ROWS, Dimension, Measure, ReportDefinition
from meridian.reports.related import Period, aggregate, default_period
from meridian.reports.terms import NUMERIC, ORDERED, Term, Terms, refused
from meridian.schema.catalog import get_form
from meridian.schema.model import Form
from meridian.schema.values.region import children, normalize_region

Sql = ColumnElement[Any]


@dataclass(frozen=True)
class DashboardFilters:
    """What a dashboard applies to every card; each is None when not set."""

    date_from: date | None = None
    date_to: date | None = None
    owner: int | None = None
    department: int | None = None
    region: str | None = None
    as_of: date | None = None
    """The day a ``stage_as_of`` report shows the pipeline as of."""

    def previous_period(self) -> DashboardFilters | None:
        """The same length of time just before the date range (None without a whole range)."""
        if self.date_from is None or self.date_to is None:
            return None
        length = (self.date_to - self.date_from).days + 1
        return DashboardFilters(
            self.date_from - timedelta(days=length),
            self.date_from - timedelta(days=1),
            self.owner,
            self.department,
            self.region,
            self.as_of,
        )


NO_FILTERS = DashboardFilters()


@dataclass(frozen=True)
class DimensionPlan:
    dimension: Dimension
    term: Term
    value: Sql
    order: Sql
    bucket: str | None
    name: str
    """The statement's column (``d0``…): keys are the builder's words, never SQL's."""


@dataclass(frozen=True)
class MeasurePlan:
    measure: Measure
    term: Term | None
    columns: tuple[str, ...]
    """The statement's column names: one, or an average's sum and count."""
    expressions: tuple[Sql, ...]
    """The aggregates behind ``columns``, for ORDER BY (PostgreSQL cannot compute with the
    names of output columns there)."""
    extra_places: int = 0
    """Digits after the point beyond the field's own (a sum weighted by a percentage: 2)."""


@dataclass(frozen=True)
class CompiledReport:
    definition: ReportDefinition
    terms: Terms
    dimensions: tuple[DimensionPlan, ...]
    measures: tuple[MeasurePlan, ...]
    statement: sa.Select[Any] | sa.CompoundSelect[Any]
    rollup: bool
    """Whether the statement carries the pivot's subtotals (a ``_rollup`` column)."""
    source: sa.FromClause
    """What the statement reads (the readable rows and their joins)…"""
    conditions: tuple[Sql, ...]
    """…and which of those rows it counts: the records behind a row are these, narrowed."""

    @property
    def form_key(self) -> str:
        return self.terms.form.key


def compile_report(
    *,
    conn: Connection,
    actor: Actor,
    definition: ReportDefinition,
    tz: ZoneInfo,
    filters: DashboardFilters = NO_FILTERS,
) -> CompiledReport:
    """The statement for ``definition`` as ``actor`` may read it; ``ValidationFailed`` (422)
    naming the part of the definition that reaches a field the actor cannot see."""
    form = get_form(conn, definition.form)
    access = form_access(conn, actor, form)
    access.require("read")
    now = utcnow(conn).astimezone(tz)
    ctx = SqlContext(conn.dialect.name, now.date(), now, tz)
    terms = Terms(conn, actor, tz, Readable.of(conn, access, tz))
    terms.history = stage_history(conn, definition, terms.form, ctx, filters)
    period = (
        Period(filters.date_from, filters.date_to)
        if filters.date_from is not None and filters.date_to is not None
        else default_period(now.date())
    )
    for index, spec in enumerate(definition.related):
        terms.related[spec.key] = aggregate(
            conn=conn,
            actor=actor,
            tz=tz,
            ctx=ctx,
            form=terms.form,
            spec=spec,
            index=index,
            period=period,
        )
    filters_compiler = ReportFilters(terms)

    dimensions = tuple(_dimension(terms, ctx, d, i) for i, d in enumerate(definition.dimensions))
    measures: list[MeasurePlan] = []
    measure_columns: list[Sql] = []
    for i, measure in enumerate(definition.measures):
        plan, columns = _measure(terms, filters_compiler, measure, i, conn)
        measures.append(plan)
        measure_columns.extend(columns)

    conditions: list[Sql] = list(terms.readable.where)
    if definition.filter is not None:
        conditions.append(filters_compiler.compile(definition.filter))
    if definition.where:
        conditions.append(where_condition(conn, terms, definition.where, "where"))
    conditions.extend(_dashboard_conditions(conn, terms, definition, filters))

    if definition.totals:
        statement: sa.Select[Any] | sa.CompoundSelect[Any] = _with_totals(
            terms, dimensions, measure_columns, conditions
        )
    else:
        grouped: sa.Select[Any] = (
            sa.select(*(d.value.label(d.name) for d in dimensions), *measure_columns)
            .select_from(terms.from_clause())
            .where(*conditions)
        )
        if dimensions:
            grouped = grouped.group_by(*(d.value for d in dimensions))
        grouped = grouped.order_by(*_order(definition, dimensions, measures))
        statement = grouped.limit(definition.limit or MAX_ROWS + 1)
    return CompiledReport(
        definition,
        terms,
        dimensions,
        tuple(measures),
        statement,
        definition.totals,
        terms.from_clause(),
        tuple(conditions),
    )


def _dimension(terms: Terms, ctx: SqlContext, dimension: Dimension, index: int) -> DimensionPlan:
    path = f"dimensions.{index}.field"
    name = f"d{index}"
    term = terms.resolve(dimension.field, path)
    bucket = dimension.bucket
    if bucket is not None and term.kind not in ("date", "datetime"):
        raise refused(
            path.replace(".field", ".bucket"),
            "not_a_date",
            Text(
                "only a date or time can be bucketed; {field!r} is {kind}",
                field=dimension.field,
                kind=term.kind,
            ),
            bucket,
        )
    if term.kind in ("date", "datetime"):
        bucket = bucket or "day"
        value = bucket_start(ctx, local_day(ctx, term.column, term.kind), bucket)
        return DimensionPlan(dimension, term, value, value, bucket, name)
    order: Sql = term.column
    if term.kind == "select" and term.field is not None and term.field.options:
        options = term.field.option_values()
        order = sa.case(
            {value: index for index, value in enumerate(options)},
            value=term.column,
            else_=len(options),
        )
    return DimensionPlan(dimension, term, term.column, order, None, name)


def where_condition(conn: Connection, terms: Terms, source: str, path: str) -> Sql:
    """A condition in the expression language, compiled for the form as the viewer reads it
    (the grid's own compiler: hidden fields unknown, unreadable linked records empty)."""
    try:
        return expression_condition(
            conn, terms.readable.plan, source, terms.readable.access, terms.tz
        )
    except ValidationFailed as exc:
        raise ValidationFailed(
            [FieldError(path, e.code, e.message, e.value, detail=e.detail) for e in exc.errors]
        ) from None


def _measure(
    terms: Terms, filters: FilterCompiler, measure: Measure, index: int, conn: Connection
) -> tuple[MeasurePlan, list[Sql]]:
    path = f"measures.{index}"
    term = terms.resolve(measure.field, f"{path}.field") if measure.field else None
    if (
        measure.agg in ("sum", "avg", "weighted_sum")
        and term is not None
        and term.kind not in NUMERIC
    ):
        raise refused(
            f"{path}.field",
            "not_a_number",
            Text("{agg} needs a number field", agg=measure.agg),
            measure.field,
        )
    if measure.agg in ("min", "max") and term is not None and term.kind not in ORDERED:
        raise refused(
            f"{path}.field",
            "not_ordered",
            Text("{agg} needs a number, date or time field", agg=measure.agg),
            measure.field,
        )
    condition = (
        filters.compile(measure.filter, path=f"{path}.filter")
        if measure.filter is not None
        else None
    )
    if measure.where:
        typed = where_condition(conn, terms, measure.where, f"{path}.where")
        condition = typed if condition is None else sa.and_(condition, typed)
    value: Sql = term.column if term is not None else sa.literal(1)
    if measure.agg == "weighted_sum":
        probability = (
            terms.history.probability
            if terms.history is not None
            else current_probability(
                terms.form,
                terms.readable.table.c.id,
                stage_probabilities(conn, terms.form.key),
            )
        )
        value = sa.cast(value, sa.BigInteger()) * probability
    if condition is not None:
        value = sa.case((condition, value), else_=sa.null())
    aggregates: tuple[Sql, ...]
    if measure.agg == "count":
        whole = term is None and condition is None
        aggregates = (sa.func.count() if whole else sa.func.count(value),)
    elif measure.agg == "count_distinct":
        aggregates = (sa.func.count(sa.distinct(value)),)
    elif measure.agg in ("sum", "weighted_sum"):
        aggregates = (sa.func.sum(value),)
    elif measure.agg == "avg":
        aggregates = (sa.func.sum(value), sa.func.count(value))
    else:
        aggregates = ((sa.func.min if measure.agg == "min" else sa.func.max)(value),)
    names = (f"m{index}", f"m{index}_n") if measure.agg == "avg" else (f"m{index}",)
    extra = 2 if measure.agg == "weighted_sum" else 0
    plan = MeasurePlan(measure, term, names, aggregates, extra)
    return plan, [a.label(n) for a, n in zip(aggregates, names, strict=True)]


def _order(
    definition: ReportDefinition,
    dimensions: tuple[DimensionPlan, ...],
    measures: list[MeasurePlan],
) -> list[Any]:
    by_dimension = {d.dimension.key: d for d in dimensions}
    by_measure = {m.measure.key: m for m in measures}
    clauses: list[Any] = []
    for sort in definition.sort:
        if sort.key in by_dimension:
            expression: Sql = by_dimension[sort.key].order
        elif sort.key in by_measure:
            plan = by_measure[sort.key]
            expression = plan.expressions[0]
            if plan.measure.agg == "avg":
                total, count = plan.expressions
                expression = sa.cast(total, sa.Float()) / sa.func.nullif(count, 0)
        else:  # a formula: computed after the query, so the whole result is sorted then
            if definition.limit is not None:
                raise refused(
                    "sort",
                    "formula_sort_with_limit",
                    Text("a top N cannot be ranked by a formula; rank it by a measure"),
                    sort.key,
                )
            continue
        clauses.append(
            expression.desc().nulls_last() if sort.descending else expression.asc().nulls_last()
        )
    for dimension in dimensions:
        clauses.append(dimension.order.asc().nulls_last())
    return clauses


def _with_totals(
    terms: Terms,
    dimensions: tuple[DimensionPlan, ...],
    measure_columns: list[Sql],
    conditions: list[Sql],
) -> sa.CompoundSelect[Any]:
    """Rows × columns, each row's and each column's subtotal and the grand total, as one
    ``UNION ALL`` of the four groupings (SQLite has no ROLLUP); ``_rollup`` says which
    dimensions a row adds up (bit 1: the rows' dimension, bit 2: the columns')."""
    parts = []
    for mask in (0, 1, 2, 3):
        columns: list[Sql] = []
        grouped: list[Sql] = []
        for bit, plan in zip((1, 2), dimensions, strict=True):
            if mask & bit:
                columns.append(sa.null().label(plan.name))
                columns.append(sa.null().label(f"o{plan.name}"))
            else:
                columns.append(plan.value.label(plan.name))
                columns.append(plan.order.label(f"o{plan.name}"))
                grouped.append(plan.value)
        part = (
            sa.select(*columns, *measure_columns, sa.literal(mask).label("_rollup"))
            .select_from(terms.from_clause())
            .where(*conditions)
        )
        if grouped:
            part = part.group_by(*grouped)
        parts.append(part)
    union = sa.union_all(*parts)
    first, second = (plan.name for plan in dimensions)
    return union.order_by(
        sa.literal_column("_rollup").asc(),
        sa.literal_column(f"o{first}").asc().nulls_last(),
        sa.literal_column(f"o{second}").asc().nulls_last(),
    )


# ---- the dashboard's filters ----------------------------------------------------------------


def _dashboard_conditions(
    conn: Connection, terms: Terms, definition: ReportDefinition, filters: DashboardFilters
) -> list[Sql]:
    conditions: list[Sql] = []
    ranged = filters.date_from is not None or filters.date_to is not None
    if definition.date_field:
        reach = terms if ranged else terms.bare()
        term = reach.resolve(definition.date_field, "date_field")
        if term.kind not in ("date", "datetime"):
            raise refused(
                "date_field", "not_a_date", "the date field must be a date or time", term.ref
            )
    if definition.date_field and (filters.date_from or filters.date_to):
        low, high = date_range(term.kind, filters, terms.tz)
        if low is not None:
            conditions.append(term.column >= low)
        if high is not None:
            conditions.append(
                term.column < high if term.kind == "datetime" else term.column <= high
            )
    owner = terms.readable.table.c.owner_id
    if definition.viewer_owns:
        mine = terms.actor.user_id
        conditions.append(owner == mine if mine is not None else sa.false())
    if filters.owner is not None:
        conditions.append(owner == filters.owner)
    if filters.department is not None:
        conditions.append(owner.in_(department_members(conn, filters.department)))
    if definition.region_field:
        # Checked without joining: a link is joined only when the filter is set.
        reach = terms if filters.region else terms.bare()
        region = reach.resolve(definition.region_field, "region_field")
        if region.kind != "region":
            raise refused(
                "region_field", "not_a_region", "the region field must be a region", region.ref
            )
    if definition.region_field and filters.region:
        conditions.append(region.column.in_(region_codes(filters.region)))
    return conditions


def date_range(kind: str, filters: DashboardFilters, tz: ZoneInfo) -> tuple[Any, Any]:
    """The range's bounds for a date (inclusive) or a time (from the first day's midnight to
    the midnight after the last day, in the company time zone)."""
    if kind == "date":
        return filters.date_from, filters.date_to
    low = local_midnight(filters.date_from, tz) if filters.date_from else None
    high = local_midnight(filters.date_to + timedelta(days=1), tz) if filters.date_to else None
    return low, high


def department_members(conn: Connection, department: int) -> list[int]:
    """The users in the department or any below it (main or further department)."""
    tree = sorted(subtree(conn, [department]))
    if not tree:
        return []
    found = conn.scalars(
        sa.union(
            sa.select(users.c.id).where(users.c.department_id.in_(tree)),
            sa.select(user_departments.c.user_id).where(user_departments.c.department_id.in_(tree)),
        )
    )
    return sorted(set(found))


def region_codes(code: str) -> list[str]:
    """The region and every division below it."""
    found = [code]
    pending = [code]
    while pending:
        for division in children(pending.pop()):
            found.append(division.code)
            pending.append(division.code)
    return found


def dashboard_filters(
    *,
    date_from: date | None = None,
    date_to: date | None = None,
    owner: int | None = None,
    department: int | None = None,
    region: str | None = None,
    as_of: date | None = None,
) -> DashboardFilters:
    """The dashboard's filters as a client sends them, checked: ``ValidationFailed`` names
    a range that ends before it starts or a region code that names no region."""
    if date_from is not None and date_to is not None and date_to < date_from:
        raise refused(
            "date_to", "invalid_range", Text("the range ends before it starts"), str(date_to)
        )
    code = None
    if region:
        try:
            code = normalize_region(region)
        except InvalidValue as exc:
            raise refused("region", exc.code, exc.message, region) from None
    return DashboardFilters(date_from, date_to, owner, department, code, as_of)


def stage_history(
    conn: Connection,
    definition: ReportDefinition,
    form: Form,
    ctx: SqlContext,
    filters: DashboardFilters,
) -> StageHistory | None:
    """The stage history a ``stage_visits`` or ``stage_as_of`` report reads (None for a
    report over records); ``stage_as_of`` keeps the visits covering the end of its day."""
    if definition.source == "records":
        return None
    stage_key = conn.scalar(
        sa.select(pipelines.c.stage_field)
        .where(pipelines.c.form_key == form.key)
        .order_by(pipelines.c.position, pipelines.c.id)
        .limit(1)
    )
    # A form without a pipeline has no history yet: its stage reads as plain text.
    stage_field = form.get_field(stage_key) if stage_key is not None else None
    as_of = None
    if definition.source == "stage_as_of":
        day = filters.as_of or definition.as_of or ctx.today
        as_of = min(end_of_day(day, ctx.zone), ctx.now)
    return StageHistory(form, stage_field, ctx, as_of, stage_probabilities(conn, form.key))
