"""The sample opportunities' stage history: how each came to the stage it is in.

Generated after the sample data and the pipeline are installed, from each opportunity's
stage and expected close date: the stages before its own in order, a loss from a random open
stage, and in about one in five a back-move (方案/报价 back to 意向 "客户需求变更，重新调研",
or 谈判 back to 方案/报价 "客户要求重新报价") and forward again. Visits are laid backward from
the last one, which stays open; deadlines that have already passed are marked fired, so the
first SLA scan does not alert on years of sample history at once.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from random import Random
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from meridian.core.clock import utcnow
from meridian.core.timezones import DEFAULT_TIME_ZONE
from meridian.db.statistics import analyze, vacuum
from meridian.db.tables import stage_visits
from meridian.flows.stages.history import import_visits
from meridian.flows.stages.model import Pipeline, load_pipelines
from meridian.flows.stages.sla import deadlines
from meridian.schema.catalog import get_form
from meridian.schema.compile import compile_form

FORWARD = ("lead", "interest", "proposal", "negotiation", "won", "delivery")
BACK_REASONS = {
    "interest": "客户需求变更，重新调研 / requirements changed, surveyed again",
    "proposal": "客户要求重新报价 / the customer asked for a new quote",
}
CHUNK = 5000


def seed_stage_history(engine: Engine, *, seed: int, form_key: str = "opportunity") -> int:
    """Write the visits of every opportunity that has none yet; returns how many."""
    written = 0
    after = 0
    while True:
        with engine.begin() as conn:
            form = get_form(conn, form_key)
            table = compile_form(form).main
            [pipeline] = load_pipelines(conn, form_key).pipelines
            rows = conn.execute(
                sa.select(table.c.id, table.c.stage, table.c.owner_id, table.c.expected_close_date)
                .where(table.c.id > after, table.c.deleted_at.is_(None))
                .order_by(table.c.id)
                .limit(CHUNK)
            ).all()
            if not rows:
                # Fresh statistics for what was written: without them SQLite read a quote's
                # first visit to 方案/报价 through the stage index (every such visit, per quote)
                # instead of the record's own visits, and the backdating that follows took
                # most of the demo's time.
                analyze(conn, [stage_visits.name])
                break
            now = utcnow(conn)
            visits = [
                visit
                for row in rows
                for visit in _visits(conn, pipeline, row, Random(seed * 1_000_003 + row.id), now)
            ]
            import_visits(conn, form_key, visits)
            written += len(visits)
            after = rows[-1].id
    vacuum(engine, [stage_visits.name])  # PostgreSQL's visibility map (db.statistics)
    return written


def _path(stage: str, chance: Random) -> list[tuple[str, str | None]]:
    """The stages an opportunity now in ``stage`` went through, with each back-move's reason."""
    if stage == "lost":
        steps = list(FORWARD[: chance.randint(1, 4)])
    else:
        steps = list(FORWARD[: FORWARD.index(stage) + 1]) if stage in FORWARD else [stage]
    path: list[tuple[str, str | None]] = [(s, None) for s in steps]
    if "proposal" in steps and chance.random() < 0.2:
        at = steps.index("proposal") + 1
        path[at:at] = [("interest", BACK_REASONS["interest"]), ("proposal", None)]
    elif "negotiation" in steps and chance.random() < 0.1:
        at = len(path) - path[::-1].index(("negotiation", None))
        path[at:at] = [("proposal", BACK_REASONS["proposal"]), ("negotiation", None)]
    if stage == "lost":
        path.append(("lost", None))
    return path


def _visits(
    conn: Connection, pipeline: Pipeline, row: Any, chance: Random, now: datetime
) -> list[dict[str, Any]]:
    path = _path(row.stage, chance)
    closed = row.stage in ("won", "delivery", "lost")
    close = row.expected_close_date
    if closed and close is not None:
        last = datetime.combine(close, time(10), DEFAULT_TIME_ZONE).astimezone(UTC)
        last = min(last, now - timedelta(hours=1))
    else:
        last = now - timedelta(hours=chance.uniform(2, 24 * 12))
    moments = [last]
    for _ in path[:-1]:
        moments.append(moments[-1] - timedelta(hours=chance.uniform(4, 24 * 20)))
    moments.reverse()
    visits = []
    for index, ((key, reason), entered) in enumerate(zip(path, moments, strict=True)):
        stage = pipeline.stage(key)
        assert stage is not None, f"the pipeline has no stage {key!r}"
        left = moments[index + 1] if index + 1 < len(path) else None
        previous = path[index - 1][0] if index else None
        if index == 0:
            move = "start"
        elif key == "lost":
            move = "lose"
        elif reason is not None or FORWARD.index(key) < FORWARD.index(previous or key):
            move = "back"
        else:
            move = "forward"
        warn_at, due_at = deadlines(conn, stage, entered) if left is None else (None, None)
        visits.append(
            {
                "record_id": row.id,
                "pipeline_key": pipeline.key,
                "stage_key": key,
                "category": stage.category,
                "entered_at": entered,
                "entered_by": row.owner_id,
                "left_at": left,
                "left_by": row.owner_id if left else None,
                "move": move,
                "reason": reason,
                "warn_at": warn_at,
                "due_at": due_at,
                "warned_at": now if warn_at and warn_at <= now else None,
                "breached_at": now if due_at and due_at <= now else None,
            }
        )
    return visits
