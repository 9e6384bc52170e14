"""Stage history: one ``flow_stage_visit`` row per visit of a record to a stage.

A subscriber (``register_subscribers``), so it runs in the writer's transaction with the rows
as saved: every write that starts a record in a stage or changes its stage closes the open
visit and opens the next — set-based, one UPDATE and one INSERT per batch — and announces
:class:`StageLeft` and :class:`StageEntered` (rules trigger on them). A visit carries who
entered and left and when, how it came (start, forward, back, lose, reopen), the reason for a
back-move, and — when a permitted actor passed unmet criteria — who overrode, why and what;
each override is written to the audit trail too. The SLA deadlines of the visit are set here
(``flows.stages.sla``).

Reports read this table: funnel, dwell time, cycle time, pipeline as of a date. Visits of a
record never overlap: the only open visit (``left_at`` NULL) is closed, at the same instant,
before the next one opens, and a unique partial index refuses a second open one.

Each visit also keeps whether its record went on from it (``advanced``: a later visit, of the
same pipeline, to a stage further on that is not lost), for the conversion reports. A record
entering a stage that is not lost marks its earlier visits to the stages before it in the same
UPDATE that closes its open visit (no statement more per move); history written as it happened
(``import_visits``) and a pipeline whose stages changed order are computed again, set-based,
by :func:`refresh_advanced` with the definition itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.core.clock import utcnow
from meridian.db.sets import one_of
from meridian.db.tables import pipelines, stage_visits, stages
from meridian.events.audit import audit
from meridian.events.lifecycle import StageEntered, StageLeft
from meridian.events.records import (
    RecordCreated,
    RecordDeleted,
    RecordEvent,
    RecordRestored,
    RecordUpdated,
)
from meridian.flows.calendar.model import time_basis
from meridian.flows.calendar.store import load_calendar
from meridian.flows.stages.criteria import SOP_REF
from meridian.flows.stages.gates import GATE, MEMO
from meridian.flows.stages.model import FormPipelines, Pipeline, Stage, load_pipelines
from meridian.flows.stages.moves import classify
from meridian.flows.stages.sla import deadlines
from meridian.flows.tasks.batch import create_system_tasks
from meridian.records.guards import Refusal, WriteIntent
from meridian.records.subscribers import Changes, announce
from meridian.schema.compile import compile_form
from meridian.schema.model import Form


def record_stage_visits(conn: Connection, changes: Changes) -> None:
    """The ``register_subscribers`` subscriber that keeps the stage history."""
    trashed = [e.record_id for e in changes.events if isinstance(e, RecordDeleted)]
    if trashed:
        close_trashed_visits(conn, changes.form.key, trashed, changes.events[0].actor_id)
    events = [
        e for e in changes.events if isinstance(e, RecordCreated | RecordUpdated | RecordRestored)
    ]
    if not events:
        return
    memo = changes.intent.memo.get(MEMO) if changes.intent else None
    form_pipelines = memo if isinstance(memo, FormPipelines) else None
    if form_pipelines is None or form_pipelines.form_key != changes.form.key:
        form_pipelines = load_pipelines(conn, changes.form.key)
    if not form_pipelines.pipelines:
        return
    entries = _entries(conn, changes, form_pipelines, events)
    if entries:
        open_visits(conn, changes.form, entries, changes.intent, changes.rows)


def close_trashed_visits(
    conn: Connection, form_key: str, record_ids: Sequence[int], actor_id: int | None
) -> None:
    """A record moved to the trash leaves its stage: its open visit closes (one UPDATE for a
    whole bulk delete), so its SLA never fires while it is in the trash. Restoring it opens a
    fresh visit of the stage it is in, with a fresh SLA."""
    conn.execute(
        stage_visits.update()
        .where(
            stage_visits.c.form_key == form_key,
            one_of(conn, stage_visits.c.record_id, sorted(set(record_ids))),
            stage_visits.c.left_at.is_(None),
        )
        .values(left_at=utcnow(conn), left_by=actor_id)
    )


Entry = tuple[RecordEvent, Pipeline, Stage, str | None]
"""A record entering a stage: its event, pipeline, the stage, the stage it left (or None)."""


def _entries(
    conn: Connection, changes: Changes, form_pipelines: FormPipelines, events: Sequence[RecordEvent]
) -> list[Entry]:
    watched = form_pipelines.watched
    entries: list[Entry] = []
    missing = [e.record_id for e in events if e.record_id not in changes.rows]
    rows = dict(changes.rows)
    if missing:
        rows.update(_read_rows(conn, changes, missing))
    for event in events:
        row = rows.get(event.record_id)
        if row is None:
            continue
        stage_changes = (
            {k: v for k, v in event.changes.items() if k in watched}
            if isinstance(event, RecordUpdated)
            else {}
        )
        if isinstance(event, RecordUpdated) and not stage_changes:
            continue
        pipeline = form_pipelines.for_row(row)
        if pipeline is None:
            continue
        target = pipeline.stage(row.get(pipeline.stage_field))
        previous = None
        if isinstance(event, RecordUpdated):
            change = stage_changes.get(pipeline.stage_field)
            if change is None:
                continue  # the selector changed alone: the record keeps its stage
            previous = change[0]
        if target is None:
            if previous is not None:
                entries.append((event, pipeline, _NO_STAGE, previous))
            continue
        entries.append((event, pipeline, target, previous))
    return entries


_NO_STAGE = Stage(key="", label="", label_en="", position=-1, category="open")
"""The stage field was emptied (or set outside the pipeline): the open visit closes, none
opens."""


def _read_rows(
    conn: Connection, changes: Changes, ids: Sequence[int]
) -> dict[int, Mapping[Any, Any]]:
    table = compile_form(changes.form).main
    query = sa.select(table).where(one_of(conn, table.c.id, ids))
    return {row["id"]: row for row in conn.execute(query).mappings()}


_INSERT_ONE = stage_visits.insert().returning(stage_visits.c.id)
_INSERT_IN_ORDER = stage_visits.insert().returning(stage_visits.c.id, sort_by_parameter_order=True)
"""The visits' INSERTs, made once (SQLAlchemy keys a statement's compiled form by walking it,
once per statement object); one visit needs no order kept."""


def open_visits(
    conn: Connection,
    form: Form,
    entries: Sequence[Entry],
    intent: WriteIntent | None,
    rows: Mapping[int, Mapping[str, Any]] | None = None,
) -> None:
    """Close the open visits of the entries' records and open their new ones, set-based.

    ``rows``: the records as saved, when the writer had them, handed on with the stage events
    so their subscribers need not read them again. A record just created has no visit to
    close, so creations alone ask nothing."""
    form_key = form.key
    now = utcnow(conn)
    ids = [event.record_id for event, *_ in entries]
    created = all(isinstance(event, RecordCreated) for event, *_ in entries)
    closing = {
        row.record_id: row
        for row in (
            ()
            if created
            else conn.execute(
                sa.select(
                    stage_visits.c.record_id, stage_visits.c.stage_key, stage_visits.c.entered_at
                ).where(
                    stage_visits.c.form_key == form_key,
                    stage_visits.c.left_at.is_(None),
                    one_of(conn, stage_visits.c.record_id, ids),
                )
            )
        )
    }
    actor_id = entries[0][0].actor_id
    advancing = [] if created else _advancing(conn, entries)
    if closing or advancing:
        _close_and_advance(conn, form_key, ids, now, actor_id, advancing)
    overridden = _overridden(intent)
    new_rows = []
    opened: list[Entry] = []
    events: list[RecordEvent] = []
    for event, pipeline, stage, previous in entries:
        closed = closing.get(event.record_id)
        if closed is not None:
            dwell = int((now - closed.entered_at).total_seconds())
            events.append(
                StageLeft(
                    form_key, event.record_id, actor_id, event.version, closed.stage_key, dwell
                )
            )
        if stage is _NO_STAGE:
            continue
        source = pipeline.stage(previous)
        kind = classify(pipeline, source, stage)[0]
        warn_at, due_at = deadlines(conn, stage, now)
        passed = overridden.get(event.record_id, [])
        opened.append((event, pipeline, stage, previous))
        new_rows.append(
            {
                "form_key": form_key,
                "record_id": event.record_id,
                "pipeline_key": pipeline.key,
                "stage_key": stage.key,
                "category": stage.category,
                "entered_at": now,
                "entered_by": actor_id,
                "left_at": None,
                "left_by": None,
                "move": kind,
                "reason": _reason(intent) if kind in ("back", "reopen") else None,
                "override_by": actor_id if passed else None,
                "override_reason": intent.override if passed and intent else None,
                "overridden": [_summary(r) for r in passed] if passed else None,
                "warn_at": warn_at,
                "due_at": due_at,
                "warned_at": None,
                "breached_at": None,
            }
        )
        events.append(
            StageEntered(form_key, event.record_id, actor_id, event.version, stage.key, previous)
        )
        if passed:
            _audit_override(
                conn, form_key, event.record_id, actor_id, previous, stage, passed, intent
            )
    if new_rows:
        inserted = (
            conn.execute(_INSERT_ONE, new_rows[0])
            if len(new_rows) == 1
            else conn.execute(_INSERT_IN_ORDER, new_rows)
        )
        visit_ids = inserted.scalars()
        make_sop_tasks(conn, form, list(zip(visit_ids, opened, strict=True)))
    if events:
        saved = {i: rows[i] for i in ids if i in rows} if rows else {}
        announce(conn, form, events, saved)


def _advancing(conn: Connection, entries: Sequence[Entry]) -> list[sa.ColumnElement[bool]]:
    """Which earlier visits the entries make ``advanced``: of each record entering a stage
    that is not lost, its visits of the same pipeline to the stages before that one (the new
    visit is the latest: every earlier visit entered at or before it)."""
    groups: dict[tuple[str, tuple[str, ...]], list[int]] = {}
    for event, pipeline, stage, _previous in entries:
        if stage is _NO_STAGE or stage.category == "lost":
            continue
        before = tuple(s.key for s in pipeline.stages if s.position < stage.position)
        if before:
            groups.setdefault((pipeline.key, before), []).append(event.record_id)
    v = stage_visits.c
    return [
        sa.and_(
            one_of(conn, v.record_id, sorted(set(ids))),
            v.pipeline_key == pipeline_key,
            v.stage_key.in_(before),
        )
        for (pipeline_key, before), ids in groups.items()
    ]


def _close_and_advance(
    conn: Connection,
    form_key: str,
    ids: Sequence[int],
    now: Any,
    actor_id: int | None,
    advancing: Sequence[sa.ColumnElement[bool]],
) -> None:
    """One UPDATE: the records' open visits close and the visits they went on from are marked
    ``advanced`` (each SET reads the row as it was, so a visit both closed and advanced is
    told by its old ``left_at``)."""
    v = stage_visits.c
    was_open = v.left_at.is_(None)
    values: dict[str, Any] = {
        "left_at": sa.case((was_open, now), else_=v.left_at),
        "left_by": sa.case((was_open, actor_id), else_=v.left_by),
    }
    touched: sa.ColumnElement[bool] = was_open
    if advancing:
        went_on = sa.or_(*advancing)
        values["advanced"] = sa.case((went_on, sa.true()), else_=v.advanced)
        touched = sa.or_(was_open, sa.and_(went_on, v.advanced.is_(sa.false())))
    conn.execute(
        stage_visits.update()
        .where(v.form_key == form_key, one_of(conn, v.record_id, ids), touched)
        .values(values)
    )


def refresh_advanced(
    conn: Connection,
    form_key: str,
    *,
    record_ids: Sequence[int] | None = None,
    id_range: tuple[int, int] | None = None,
    pipeline_key: str | None = None,
) -> None:
    """Compute ``advanced`` again from the definition, set-based, for a form's visits (of some
    records, or of one pipeline): after history is written as it happened, or a pipeline's
    stages changed order. Reports never compute it; this is the one place that says it."""
    visit = stage_visits
    later = stage_visits.alias("av")
    pipeline = pipelines.alias("ap")
    here = stages.alias("hs")
    there = stages.alias("ts")
    went_on = sa.exists(
        sa.select(sa.literal(1))
        .select_from(
            later.join(
                pipeline,
                sa.and_(
                    pipeline.c.form_key == later.c.form_key,
                    pipeline.c.key == later.c.pipeline_key,
                ),
            )
            .join(
                here,
                sa.and_(here.c.pipeline_id == pipeline.c.id, here.c.key == visit.c.stage_key),
            )
            .join(
                there,
                sa.and_(there.c.pipeline_id == pipeline.c.id, there.c.key == later.c.stage_key),
            )
        )
        .where(
            later.c.form_key == visit.c.form_key,
            later.c.record_id == visit.c.record_id,
            later.c.pipeline_key == visit.c.pipeline_key,
            later.c.entered_at >= visit.c.entered_at,
            later.c.category != "lost",
            there.c.position > here.c.position,
        )
    )
    where = [visit.c.form_key == form_key]
    if record_ids is not None:
        if not record_ids:
            return
        where.append(one_of(conn, visit.c.record_id, sorted(set(record_ids))))
    if id_range is not None:  # the records whose ids lie in it (the answer is the same for any)
        where.append(visit.c.record_id.between(*id_range))
    if pipeline_key is not None:
        where.append(visit.c.pipeline_key == pipeline_key)
    conn.execute(visit.update().where(*where).values(advanced=went_on))


def make_sop_tasks(conn: Connection, form: Form, entered: Sequence[tuple[int, Entry]]) -> None:
    """The SOP tasks of the stages entered: one per ``sop_task`` criterion of the stage, for
    the record's owner, due by the criterion's ``due_in`` (business hours by default). Each is
    keyed by the visit, so a visit never gets the same task twice."""
    wanted = [
        (visit_id, event, stage, criterion)
        for visit_id, (event, _, stage, _) in entered
        for criterion in stage.criteria
        if criterion.kind == "sop_task"
    ]
    if not wanted:
        return
    now = utcnow(conn)
    form_key = form.key
    table = compile_form(form).main
    owners = dict(
        conn.execute(
            sa.select(table.c.id, table.c.owner_id).where(
                one_of(conn, table.c.id, sorted({e.record_id for _, e, _, _ in wanted}))
            )
        ).all()
    )
    due: dict[int, Any] = {}  # one deadline per criterion: every record entered at ``now``
    calendar = None
    for _, _, _, criterion in wanted:
        spec = criterion.config.get("due_in")
        if spec and criterion.id not in due:
            calendar = calendar or load_calendar(conn)
            clock = time_basis(calendar, spec.get("basis", "business"))
            add = clock.add_days if spec.get("unit") == "days" else clock.add_hours
            due[criterion.id] = add(now, spec["amount"])
    create_system_tasks(
        conn,
        [
            {
                "title": criterion.config["title"],
                "notes": criterion.config.get("notes", ""),
                "assignee_id": owners.get(event.record_id),
                "due_at": due.get(criterion.id),
                "form_key": form_key,
                "record_id": event.record_id,
                "source": "stage",
                "source_ref": SOP_REF.format(item=criterion.config["item"]),
                "source_key": f"stage-visit:{visit_id}:sop:{criterion.config['item']}",
            }
            for visit_id, event, _stage, criterion in wanted
        ],
    )


def _reason(intent: WriteIntent | None) -> str | None:
    if intent is None:
        return None
    return intent.reason or intent.override


def _overridden(intent: WriteIntent | None) -> dict[int, list[Refusal]]:
    found: dict[int, list[Refusal]] = {}
    for refusal in intent.overridden.get(GATE, []) if intent else []:
        found.setdefault(refusal.record_id, []).append(refusal)
    return found


def _summary(refusal: Refusal) -> dict[str, Any]:
    return {
        "criterion": refusal.criterion,
        "field": refusal.field,
        "message_en": refusal.detail.get("message_en", refusal.message),
        "message_zh": refusal.detail.get("message_zh", refusal.message),
    }


def _audit_override(
    conn: Connection,
    form_key: str,
    record_id: int,
    actor_id: int | None,
    previous: str | None,
    stage: Stage,
    passed: Sequence[Refusal],
    intent: WriteIntent | None,
) -> None:
    audit(
        conn,
        actor_id=actor_id,
        action="stage.override",
        object_type=form_key,
        object_id=record_id,
        detail={
            "from": previous,
            "to": stage.key,
            "reason": intent.override if intent else None,
            "overridden": [_summary(r) for r in passed],
        },
    )


IMPORT_REFRESH_BY_RECORD = 1000
"""Above this many records, an import computes ``advanced`` again for the records in the
range of their ids in one statement rather than naming every record."""


def import_visits(conn: Connection, form_key: str, visits: Sequence[Mapping[str, Any]]) -> None:
    """Write visits as they happened (sample data, a migration from another system): records
    without visits yet, each record's visits in order, the last one open. Nothing is announced
    and no SOP task is made: this is history, not a move."""
    defaults = {
        "form_key": form_key,
        "left_at": None,
        "left_by": None,
        "reason": None,
        "override_by": None,
        "override_reason": None,
        "overridden": None,
        "warn_at": None,
        "due_at": None,
        "warned_at": None,
        "breached_at": None,
    }
    if visits:
        conn.execute(stage_visits.insert(), [{**defaults, **visit} for visit in visits])
        records = {visit["record_id"] for visit in visits}
        if len(records) > IMPORT_REFRESH_BY_RECORD:  # by their id range: the whole form
            # again per batch made a batched history quadratic (the 1M demo never ended)
            refresh_advanced(conn, form_key, id_range=(min(records), max(records)))
        else:
            refresh_advanced(conn, form_key, record_ids=sorted(records))


def visits_of(conn: Connection, form_key: str, record_id: int) -> list[dict[str, Any]]:
    """A record's stage visits, oldest first."""
    rows = conn.execute(
        sa.select(stage_visits)
        .where(stage_visits.c.form_key == form_key, stage_visits.c.record_id == record_id)
        .order_by(stage_visits.c.entered_at, stage_visits.c.id)
    ).mappings()
    return [dict(row) for row in rows]


def open_visit(conn: Connection, form_key: str, record_id: int) -> dict[str, Any] | None:
    row = (
        conn.execute(
            sa.select(stage_visits).where(
                stage_visits.c.form_key == form_key,
                stage_visits.c.record_id == record_id,
                stage_visits.c.left_at.is_(None),
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None
