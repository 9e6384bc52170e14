"""Report and dashboard definitions as a builder saves them: frozen, strictly validated data.

A report reads one form (and the forms its links point at, one level deep): it groups the
rows by up to three dimensions, computes measures over each group, formulas over those
measures, and shows the result as one chart. The definition names fields by key; whether the
caller may see each field is decided when the report runs, as that caller
(``meridian.reports.compiler``).
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import Field as PydanticField

from meridian.core.i18n import Text
from meridian.schema.model import KEY_PATTERN

MAX_DIMENSIONS = 3
MAX_MEASURES = 12
MAX_ROWS = 5000
"""A report without a top N shows at most this many groups (the answer says it was cut)."""

Bucket = Literal["day", "week", "month", "quarter", "year"]
Aggregate = Literal["count", "count_distinct", "sum", "avg", "min", "max", "weighted_sum"]
Source = Literal["records", "stage_visits", "stage_as_of"]
SOURCES: tuple[str, ...] = Source.__args__  # type: ignore[attr-defined]
MAX_RELATED = 4
ChartType = Literal[
    "table",
    "pivot",
    "bar",
    "stacked_bar",
    "line",
    "area",
    "pie",
    "donut",
    "funnel",
    "number",
    "gauge",
]
CHART_TYPES: tuple[str, ...] = ChartType.__args__  # type: ignore[attr-defined]

FIELD_REF = r"^[a-z][a-z0-9_]{0,62}(\.[a-z][a-z0-9_]{0,62})?$"
"""A field of the form, or ``<link field>.<field>`` of the form it links to."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _key(value: str) -> str:
    if not KEY_PATTERN.match(value):
        raise ValueError(
            Text("{value!r} must start with a-z and hold only a-z, 0-9 and _", value=value)
        )
    return value


class Dimension(_Frozen):
    """Rows are grouped by this field; a date or time is bucketed in the company time zone."""

    field: str = PydanticField(pattern=FIELD_REF, max_length=127)
    bucket: Bucket | None = None
    key: str = ""
    label: str = PydanticField(default="", max_length=200)

    @model_validator(mode="after")
    def _default_key(self) -> Dimension:
        if not self.key:
            derived = self.field.replace(".", "_") + (f"_{self.bucket}" if self.bucket else "")
            object.__setattr__(self, "key", derived[:63])
        _key(self.key)
        return self


class Measure(_Frozen):
    """An aggregate over each group; ``filter`` (a structured filter) counts only some rows,
    e.g. the won deals beside all deals. ``weighted_sum`` adds up a number field times the
    win probability of the stage each row is in (a weighted pipeline)."""

    key: str
    agg: Aggregate
    field: str | None = PydanticField(default=None, pattern=FIELD_REF, max_length=127)
    filter: Any = None
    where: str | None = PydanticField(default=None, max_length=2000)
    """Only the rows where this condition in the expression language holds
    (``stage = "won" and amount > 100000``): a conditional measure as a builder types it."""
    label: str = PydanticField(default="", max_length=200)

    @model_validator(mode="after")
    def _checked(self) -> Measure:
        _key(self.key)
        if self.agg != "count" and self.field is None:
            raise ValueError(
                Text("measure {key!r}: {agg} needs a field", key=self.key, agg=self.agg)
            )
        return self


class Formula(_Frozen):
    """Arithmetic over the measures of the same group (``won / total * 100``): exact decimals,
    and a division by zero is empty, never an error."""

    key: str
    expression: str = PydanticField(min_length=1, max_length=500)
    places: int = PydanticField(default=4, ge=0, le=10)
    label: str = PydanticField(default="", max_length=200)

    @model_validator(mode="after")
    def _checked(self) -> Formula:
        _key(self.key)
        return self


class RelatedPart(_Frozen):
    """One kind of related row: the records of ``form`` whose link ``link`` points at the
    report's record (read as the viewer may), or the record's ``tasks`` done."""

    form: str | None = PydanticField(default=None, max_length=63)
    link: str | None = PydanticField(default=None, pattern=KEY_PATTERN.pattern, max_length=63)
    at: str = PydanticField(default="created_at", pattern=KEY_PATTERN.pattern, max_length=63)
    """The related row's date or time (first contact, payment day …)."""
    amount: str | None = PydanticField(default=None, pattern=KEY_PATTERN.pattern, max_length=63)
    """A number field summed by ``<key>.sum``."""
    tasks: bool = False

    @model_validator(mode="after")
    def _checked(self) -> RelatedPart:
        if self.tasks == (self.form is not None) or (self.form is not None) != bool(self.link):
            raise ValueError(Text("a related part is either a form with its link, or tasks"))
        return self


class Related(_Frozen):
    """Rows related to each record, aggregated per record and reached as ``<key>.count``,
    ``<key>.sum``, ``<key>.first_at``, ``<key>.first_hours`` (from the record's creation to
    the first one: a first response), ``<key>.previous_count`` and ``<key>.previous_sum``.
    With ``period``, count and sum take only the rows in the dashboard's date range (else the
    last 365 days) and the previous ones the period just before it (retention, NRR)."""

    key: str
    parts: tuple[RelatedPart, ...] = PydanticField(min_length=1, max_length=4)
    period: bool = False

    @model_validator(mode="after")
    def _checked(self) -> Related:
        _key(self.key)
        return self


class SortKey(_Frozen):
    key: str
    descending: bool = False


class Chart(_Frozen):
    type: ChartType = "table"
    compare_previous: bool = False
    """A number card: beside each measure, its value over the period just before the
    dashboard's date range."""
    gauge_max: str | None = PydanticField(default=None, max_length=40)


class ReportDefinition(_Frozen):
    """What a report computes and how it is drawn."""

    form: str = PydanticField(min_length=1, max_length=63)
    source: Source = "records"
    """``records``: one row per record. ``stage_visits``: one row per visit of a record to a
    stage (the stage history, reached as ``visit.<column>``). ``stage_as_of``: the visit each
    record was in at the end of the day ``as_of`` (the dashboard's ``as_of``, else this
    definition's, else today): the pipeline as it stood then."""
    as_of: date | None = None
    related: tuple[Related, ...] = PydanticField(default=(), max_length=MAX_RELATED)
    dimensions: tuple[Dimension, ...] = PydanticField(default=(), max_length=MAX_DIMENSIONS)
    measures: tuple[Measure, ...] = PydanticField(min_length=1, max_length=MAX_MEASURES)
    formulas: tuple[Formula, ...] = PydanticField(default=(), max_length=MAX_MEASURES)
    filter: Any = None
    where: str | None = PydanticField(default=None, max_length=2000)
    """A condition in the expression language over the form's fields, compiled to SQL as the
    viewer reads the form (the grid's ``expr``), beside the structured ``filter``."""
    sort: tuple[SortKey, ...] = PydanticField(default=(), max_length=5)
    limit: int | None = PydanticField(default=None, ge=1, le=1000)
    totals: bool = False
    """Add the subtotal of each group of the first dimension and the grand total (a pivot)."""
    chart: Chart = Chart()
    date_field: str | None = PydanticField(default="created_at", pattern=FIELD_REF)
    """The date or time the dashboard's date range applies to (None: the range is ignored)."""
    region_field: str | None = PydanticField(default=None, pattern=FIELD_REF)
    """The region the dashboard's region filter applies to (None: it is ignored)."""
    viewer_owns: bool = False
    """Only the viewer's own records (a rep's dashboard): the same report shows each viewer
    their own numbers."""

    @model_validator(mode="after")
    def _keys_unique(self) -> ReportDefinition:
        keys = [d.key for d in self.dimensions]
        keys += [m.key for m in self.measures] + [f.key for f in self.formulas]
        seen: set[str] = set()
        related = [r.key for r in self.related]
        for key in related:
            if key in ("visit", self.form) or related.count(key) > 1:
                raise ValueError(Text("the related key {key!r} is taken", key=key))
        for key in keys:
            if key in seen:
                raise ValueError(Text("the key {key!r} is used twice", key=key))
            seen.add(key)
        for sort in self.sort:
            if sort.key not in seen:
                raise ValueError(
                    Text("sort key {key!r} is no dimension, measure or formula", key=sort.key)
                )
        if self.totals and len(self.dimensions) != 2:
            raise ValueError(Text("totals need exactly two dimensions (rows and columns)"))
        return self


class ReportDraft(_Frozen):
    """A report as ``POST``/``PUT /reports`` take it."""

    app_key: str = PydanticField(min_length=1, max_length=63)
    label: str = PydanticField(min_length=1, max_length=200)
    definition: ReportDefinition
    roles: tuple[str, ...] = PydanticField(default=(), max_length=50)
    revision: str | None = PydanticField(default=None, max_length=32)
    """On a change: the revision the change was made from (a stale one is refused)."""


class Card(_Frozen):
    """A report on a dashboard: its place on a 12-column grid and its size."""

    report_id: int = PydanticField(ge=1, le=2**63 - 1)
    x: int = PydanticField(default=0, ge=0, le=11)
    y: int = PydanticField(default=0, ge=0, le=1000)
    w: int = PydanticField(default=6, ge=1, le=12)
    h: int = PydanticField(default=4, ge=2, le=12)
    title: str = PydanticField(default="", max_length=200)


DashboardFilter = Literal["date", "owner", "department", "region"]


class DashboardDefinition(_Frozen):
    cards: tuple[Card, ...] = PydanticField(default=(), max_length=40)
    filters: tuple[DashboardFilter, ...] = ("date", "owner", "department", "region")
    refresh_seconds: int = PydanticField(default=0, ge=0, le=86400)
    """Every card reloads this often while the page is open (0: never)."""


class DashboardDraft(_Frozen):
    app_key: str = PydanticField(min_length=1, max_length=63)
    label: str = PydanticField(min_length=1, max_length=200)
    definition: DashboardDefinition = DashboardDefinition()
    roles: tuple[str, ...] = PydanticField(default=(), max_length=50)
    home_for: str = PydanticField(default="", max_length=63)
    """"*" makes it the app's home for everyone, a role key for that role, "" for nobody."""
    revision: str | None = PydanticField(default=None, max_length=32)
