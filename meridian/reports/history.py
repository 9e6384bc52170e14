"""The stage history as a report's rows: one row per visit of a readable record to a stage.

A ``stage_visits`` report joins the viewer's readable rows of the form to ``flow_stage_visit``
(and the visited stage, for its order and win probability), so the history of a record the
viewer may not read never counts. A ``stage_as_of`` report keeps, of each record, the one
visit that covered the end of a day: the pipeline as it stood then. The visit's columns are
reached as ``visit.<column>``:

============== ========= ===========================================================
``stage``       select    the stage visited (in the stage field's option order)
``category``    text      open, won or lost (the stage's category when entered)
``entered_at``  time      when the record entered the stage
``left_at``     time      when it left (blank: it is still there)
``entered_by``  user      who moved it in
``move``        text      start, forward, back or reopen
``reason``      text      why it moved back or reopened
``hours``       number    time in the stage (to now while still there), 2 places
``days``        number    the same in days
``cycle_days``  number    days from the record's entry into the pipeline (its first visit,
                          normally its creation) to entering this stage
``probability`` number    the stage's win probability (%)
``advanced``    boolean   the record went on to a later stage that is not lost (kept on the
                          visit by the stages engine: ``flows.stages.history``)
``current``     boolean   the record is still in this stage
============== ========= ===========================================================

Only the tables of the stages engine are read; its code is not called.
"""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Join

from meridian.db.tables import pipelines, stage_visits, stages
from meridian.db.types import UTCDateTime
from meridian.expr.dates import local_midnight
from meridian.expr.sqlops import SqlContext
from meridian.schema.model import Field, Form

Sql = ColumnElement[Any]
UNIXEPOCH = sqlite3.sqlite_version_info >= (3, 38, 0)
PREFIX = "visit."
VISIT_COLUMNS = (
    "stage",
    "category",
    "entered_at",
    "left_at",
    "entered_by",
    "move",
    "reason",
    "hours",
    "days",
    "cycle_days",
    "probability",
    "advanced",
    "current",
)


def seconds_between(ctx: SqlContext, start: Sql, end: Sql) -> Sql:
    """Whole seconds from ``start`` to ``end`` (each cut to its second, on both dialects).

    SQLite's ``unixepoch`` (3.38 on) gives the same whole seconds as ``strftime('%s')`` at a
    third of the cost (52 against 137 ms of CPU over 363k visits)."""
    if ctx.postgres:
        return sa.cast(
            sa.func.floor(sa.extract("epoch", end)) - sa.func.floor(sa.extract("epoch", start)),
            sa.BigInteger(),
        )
    if UNIXEPOCH:
        return sa.func.unixepoch(end) - sa.func.unixepoch(start)
    return sa.cast(sa.func.strftime("%s", end), sa.Integer()) - sa.cast(
        sa.func.strftime("%s", start), sa.Integer()
    )


def hundredths(seconds: Sql, unit: int) -> Sql:
    """``seconds`` in hundredths of ``unit`` seconds, cut (integer division on both)."""
    return sa.type_coerce(sa.cast(seconds, sa.BigInteger()).op("/")(unit // 100), sa.BigInteger())


def end_of_day(day: date, tz: ZoneInfo) -> datetime:
    """The instant a day ends in the company time zone (the next day's midnight)."""
    moment = local_midnight(day + timedelta(days=1), tz)
    assert moment is not None
    return moment


Probabilities = tuple[tuple[str, str, int], ...]
"""(pipeline key, stage key, win probability) of a form's stages whose probability is not 0."""


def stage_probabilities(conn: Connection, form_key: str) -> Probabilities:
    """The form's stage probabilities, read once when a report is compiled (a few rows) so
    the statement says them as a CASE instead of joining the pipeline and stage to every row:
    PostgreSQL ran that join as a hash built per record (2.7 s at 100k opportunities)."""
    found = conn.execute(
        sa.select(pipelines.c.key, stages.c.key, stages.c.probability)
        .select_from(pipelines.join(stages, stages.c.pipeline_id == pipelines.c.id))
        .where(pipelines.c.form_key == form_key, stages.c.probability != 0)
        .order_by(pipelines.c.key, stages.c.key)
    ).all()
    return tuple((str(p), str(k), int(n)) for p, k, n in found)


def probability_of(probabilities: Probabilities, pipeline_key: Sql, stage_key: Sql) -> Sql:
    """The win probability of a (pipeline, stage) pair; 0 for any other (a stage removed)."""
    if not probabilities:
        return sa.literal(0)
    return sa.case(
        *(
            (sa.and_(pipeline_key == pipeline, stage_key == stage), probability)
            for pipeline, stage, probability in probabilities
        ),
        else_=0,
    )


def current_probability(form: Form, record_id: Sql, probabilities: Probabilities) -> Sql:
    """The win probability of the stage a record is in now (its open visit), 0 without one."""
    visit = stage_visits.alias("pv")
    found = (
        sa.select(probability_of(probabilities, visit.c.pipeline_key, visit.c.stage_key))
        .where(
            visit.c.form_key == form.key,
            visit.c.record_id == record_id,
            visit.c.left_at.is_(None),
        )
        .scalar_subquery()
    )
    return sa.func.coalesce(found, 0)


class RowsFirst(Join):
    """The readable rows joined to their visits, the rows read first.

    SQLite's planner, seeing ``form_key = ?`` on an index of the visits, starts from the
    visits (every visit of the form, each then looked up among the records) where starting
    from the records and reading each one's few visits through ``(form_key, record_id)`` is
    five to seven times cheaper — measured at 100k opportunities, 363k visits: conversion
    1,394 → 186 ms of CPU, time in stage 1,003 → 195, pipeline as of a day 516 → 109, even
    the sales cycle over won visits only 199 → 109. SQLite keeps the order of a ``CROSS
    JOIN``; PostgreSQL plans the join itself (a hash join)."""

    inherit_cache = True


@compiles(RowsFirst, "sqlite")
def _rows_first(join: RowsFirst, compiler: Any, **kw: Any) -> str:
    text: str = compiler.visit_join(join, **kw)
    head, found, tail = text.partition(" JOIN ")
    if not found or "(" in head:  # the rows are not one table: leave the order to SQLite
        return text
    return f"{head} CROSS JOIN {tail}"


class StageHistory:
    """The visits joined to one report's readable rows."""

    def __init__(
        self,
        form: Form,
        stage_field: Field | None,
        ctx: SqlContext,
        as_of: datetime | None,
        probabilities: Probabilities,
    ) -> None:
        self.form = form
        self.stage_field = stage_field
        self.ctx = ctx
        self.as_of = as_of
        self.visit = stage_visits.alias("v")
        self.probabilities = probabilities

    def join(self, rows: sa.FromClause) -> sa.FromClause:
        v = self.visit
        on = sa.and_(v.c.form_key == self.form.key, v.c.record_id == rows.c.id)
        if self.as_of is not None:
            moment = sa.literal(self.as_of, UTCDateTime())
            on = sa.and_(
                on, v.c.entered_at < moment, sa.or_(v.c.left_at.is_(None), v.c.left_at >= moment)
            )
        return RowsFirst(rows, v, on)

    @property
    def probability(self) -> Sql:
        return probability_of(self.probabilities, self.visit.c.pipeline_key, self.visit.c.stage_key)

    def column(self, name: str, created_at: Sql) -> tuple[Sql, str, Field | None, int] | None:
        """(SQL, kind, field, scale) of ``visit.<name>``; None for an unknown name."""
        v = self.visit
        now = sa.literal(self.ctx.now, UTCDateTime())
        plain: dict[str, tuple[Sql, str]] = {
            "category": (v.c.category, "text"),
            "entered_at": (v.c.entered_at, "datetime"),
            "left_at": (v.c.left_at, "datetime"),
            "entered_by": (v.c.entered_by, "user"),
            "move": (v.c.move, "text"),
            "reason": (v.c.reason, "text"),
        }
        if name in plain:
            return (*plain[name], None, 0)
        if name == "stage":
            kind = "select" if self.stage_field is not None else "text"
            return v.c.stage_key, kind, self.stage_field, 0
        if name in ("hours", "days"):
            spent = seconds_between(self.ctx, v.c.entered_at, sa.func.coalesce(v.c.left_at, now))
            return hundredths(spent, 3600 if name == "hours" else 86400), "number", None, 2
        if name == "cycle_days":
            first = stage_visits.alias("fv")
            start = (
                sa.select(sa.func.min(first.c.entered_at))
                .where(first.c.form_key == v.c.form_key, first.c.record_id == v.c.record_id)
                .scalar_subquery()
            )
            spent = seconds_between(self.ctx, start, v.c.entered_at)
            return hundredths(spent, 86400), "number", None, 2
        if name == "probability":
            return self.probability, "number", None, 0
        if name == "current":
            return v.c.left_at.is_(None), "boolean", None, 0
        if name == "advanced":
            return v.c.advanced, "boolean", None, 0
        return None
