"""Stages benchmark: what a stage move costs next to a plain update, and what the SLA scan
costs over a large stage history.

    python bench/stages_bench.py --visits 5000000 --open 1000000
    python bench/stages_bench.py --postgres postgresql+psycopg://postgres@127.0.0.1/test

1. Moves. Records of a form with a pipeline (a required field on the way forward) are moved
   one stage forward through the records service, turn about with a plain single-field update
   of other records of the same form, in the same run. A move also runs the gate (criteria
   judged on the proposed row) and writes the stage history (closes a visit, opens the next,
   announces StageLeft/StageEntered). Printed: the median of each and their ratio (goal ≤ 1.5).
2. SLA scan. ``flow_stage_visit`` is filled with ``--visits`` rows, ``--open`` of them open,
   with deadlines spread over two months around now; all but ``--due`` of the past deadlines
   are already fired. The scan's own statement (``sla._fire``) is timed against the same SQL
   written by hand and run raw, each in a transaction rolled back (goal: ≤ 1.5× the raw SQL,
   under 100 ms on SQLite); the whole scan with its events is printed too.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from scratch import database_url

from meridian.app import create_workspace
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.flows.stages import sla
from meridian.flows.stages.pipelines import save_pipeline
from meridian.records import bulk, service
from meridian.schema import changes
from meridian.schema.catalog import get_form
from meridian.schema.model import App, Form, parse_model
from meridian.settings import Settings

STAGES = ["lead", "interest", "proposal", "negotiation", "won", "lost"]


def _form() -> dict[str, object]:
    return {
        "app_key": "bench",
        "key": "deal",
        "label": "商机",
        "fields": [
            {"key": "name", "label": "名称", "type": "text"},
            {"key": "amount", "label": "金额", "type": "money"},
            {"key": "note", "label": "备注", "type": "text"},
            {
                "key": "stage",
                "label": "阶段",
                "type": "select",
                "options": [{"value": s, "label": s} for s in STAGES],
            },
        ],
    }


def _pipeline() -> dict[str, object]:
    stages: list[dict[str, object]] = [{"key": s, "label": s, "category": "open"} for s in STAGES]
    stages[4]["category"] = "won"
    stages[5]["category"] = "lost"
    stages[0]["exit"] = [{"kind": "required_field", "config": {"field": "amount"}}]
    stages[1]["sla"] = {"amount": 48, "unit": "hours", "business": True, "warn_percent": 50}
    return {"key": "sales", "label": "销售", "stage_field": "stage", "stages": stages}


def moves(workspace, count: int) -> None:  # type: ignore[no-untyped-def]
    system = Actor.system()
    with workspace.transaction() as conn:
        changes.create_app(conn=conn, actor=system, app=App(key="bench", label="Bench"))
        form = changes.create_form(conn=conn, actor=system, form=parse_model(Form, _form()))
        save_pipeline(conn, actor=system, form=form, document=_pipeline())
        ids = bulk.create_records(
            conn=conn,
            actor=system,
            form=form,
            items=[
                {"name": f"d{i}", "amount": "1000.00", "stage": "lead"} for i in range(2 * count)
            ],
        )
    moved: list[float] = []
    plain: list[float] = []
    for index in range(count):
        for record_id, values, times in (
            (ids[2 * index], {"stage": "interest"}, moved),
            (ids[2 * index + 1], {"note": f"n{index}"}, plain),
        ):
            started = time.perf_counter()
            with workspace.transaction() as conn:
                service.update_record(
                    conn=conn,
                    actor=system,
                    form=get_form(conn, "deal"),
                    record_id=record_id,
                    values=values,
                )
            times.append(time.perf_counter() - started)
    move, update = statistics.median(moved), statistics.median(plain)
    print(
        f"move {move * 1000:.2f} ms, plain update {update * 1000:.2f} ms "
        f"(medians of {count}); ratio {move / update:.2f}"
    )


_FILL_SQLITE = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :visits)
INSERT INTO flow_stage_visit (form_key, record_id, pipeline_key, stage_key, category,
  entered_at, entered_by, left_at, left_by, move, warn_at, due_at, warned_at, breached_at)
SELECT 'deal', i + 10000000, 'sales', 'proposal', 'open',
  datetime(:now, '-' || (i % 90 + 10) || ' days'), 1,
  CASE WHEN i > :open THEN datetime(:now, '-' || (i % 9) || ' days') END, 1,
  'forward', NULL,
  datetime(:now, (((i * 7919) % 86400) - 43200) || ' minutes'),
  NULL,
  CASE WHEN i <= :open AND ((i * 7919) % 86400) - 43200 < 0 AND i > :due THEN :now END
FROM n
"""

_FILL_POSTGRES = """
INSERT INTO flow_stage_visit (form_key, record_id, pipeline_key, stage_key, category,
  entered_at, entered_by, left_at, left_by, move, warn_at, due_at, warned_at, breached_at)
SELECT 'deal', i + 10000000, 'sales', 'proposal', 'open',
  CAST(:now AS timestamptz) - ((i % 90 + 10) * interval '1 day'), 1,
  CASE WHEN i > :open THEN CAST(:now AS timestamptz) - ((i % 9) * interval '1 day') END, 1,
  'forward', NULL,
  CAST(:now AS timestamptz) + ((((i::bigint * 7919) % 86400) - 43200) * interval '1 minute'),
  NULL,
  CASE WHEN i <= :open AND ((i::bigint * 7919) % 86400) - 43200 < 0 AND i > :due
       THEN CAST(:now AS timestamptz) END
FROM generate_series(1, :visits) AS i
"""

_RAW = """
UPDATE flow_stage_visit SET breached_at = :now
WHERE id IN (SELECT id FROM flow_stage_visit
             WHERE due_at <= :now AND left_at IS NULL AND breached_at IS NULL
             ORDER BY due_at LIMIT 5000)
  AND breached_at IS NULL
RETURNING id, form_key, record_id, stage_key, due_at
"""


def scan(workspace, visits: int, open_visits: int, due: int, runs: int) -> None:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    engine = workspace.engine
    with workspace.transaction() as conn:
        now = utcnow(conn)
        postgres = conn.dialect.name == "postgresql"
        stamp = now if postgres else now.strftime("%Y-%m-%d %H:%M:%S")
        started = time.perf_counter()
        conn.execute(
            sa.text(_FILL_POSTGRES if postgres else _FILL_SQLITE),
            {"visits": visits, "open": open_visits, "due": due, "now": stamp},
        )
        filled = time.perf_counter() - started
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
        counts = conn.execute(
            sa.text(
                "SELECT count(*), sum(CASE WHEN left_at IS NULL THEN 1 ELSE 0 END),"
                " sum(CASE WHEN left_at IS NULL AND breached_at IS NULL AND due_at <= :now"
                " THEN 1 ELSE 0 END) FROM flow_stage_visit"
            ),
            {"now": stamp},
        ).one()
    print(
        f"stage history: {counts[0]} visits, {counts[1]} open, {counts[2]} due and unfired "
        f"(filled in {filled:.1f} s)"
    )
    ours: list[float] = []
    raw: list[float] = []
    whole: list[float] = []
    for _ in range(runs):
        for kind in ("ours", "raw", "whole"):
            conn = engine.connect()
            transaction = conn.begin()
            started = time.perf_counter()
            if kind == "ours":
                fired = len(sla._fire(conn, "due_at", "breached_at", now, 5000))
            elif kind == "raw":
                fired = len(conn.execute(sa.text(_RAW), {"now": stamp}).all())
            else:
                fired = sum(sla.scan_slas(conn))
            elapsed = time.perf_counter() - started
            transaction.rollback()
            conn.close()
            {"ours": ours, "raw": raw, "whole": whole}[kind].append(elapsed)
            # The whole scan reads the clock, which has moved on since the fill: a few more
            # deadlines have passed by then.
            assert fired == counts[2] or (kind == "whole" and fired >= counts[2]), (kind, fired)
    o, r, w = (statistics.median(x) * 1000 for x in (ours, raw, whole))
    print(
        f"SLA scan statement {o:.1f} ms, raw SQL {r:.1f} ms (ratio {o / r:.2f}); "
        f"whole scan with its breach events {w:.1f} ms (medians of {runs})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--moves", type=int, default=300)
    parser.add_argument("--visits", type=int, default=5_000_000)
    parser.add_argument("--open", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=200)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--postgres", default="")
    args = parser.parse_args()
    with database_url(args.postgres) as url:
        settings = Settings(
            data_dir=Path(tempfile.mkdtemp(prefix="meridian-bench-")), database_url=url
        )
        workspace = create_workspace(settings)
        print(f"[{workspace.engine.dialect.name}]")
        moves(workspace, args.moves)
        scan(workspace, args.visits, args.open, args.due, args.runs)
        workspace.engine.dispose()


if __name__ == "__main__":
    main()
