"""Sales analytics from the stage history and from related records match an independent Python
computation over generated data, on SQLite and PostgreSQL, for each caller's own rows
(issue 18): funnel with stage-to-stage conversion, time in stage, the sales cycle, the
weighted pipeline, the pipeline as of a past day, first-response time, LTV, ARPU, retention
and net revenue retention.

The history is generated with back-moves, losses and reopened deals (lost, then back to an
open stage) and written as the stages engine writes it (``flow_stage_visit``); the reports
only read it. The reference applies each caller's scope by itself (``Crm.rows_for``).
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from meridian.access.permissions import set_form_rules
from meridian.core.actor import Actor
from meridian.db.tables import stage_visits, tasks
from meridian.errors import ValidationFailed
from meridian.flows.stages.history import refresh_advanced
from meridian.flows.stages.pipelines import save_pipeline
from meridian.http.deps import Workspace
from meridian.records.bulk import create_records
from meridian.schema import changes
from meridian.schema.catalog import get_form
from meridian.schema.compile import compile_form
from meridian.schema.model import Form, parse_model
from tests.conftest import FakeClock, KeptDatabase, kept_fixtures
from tests.integration.test_reports import (  # noqa: F401 (the fixtures)
    TZ,
    Crm,
    build_crm,
    crm,
    kept_crm,
)

NOW = datetime(2027, 3, 1, 4, 0, 0, tzinfo=UTC)
POSITION = {"lead": 0, "interest": 1, "proposal": 2, "won": 3, "lost": 4}
PROBABILITY = {"lead": 10, "interest": 30, "proposal": 60, "won": 100, "lost": 0}
CATEGORY = {"won": "won", "lost": "lost"}
OPEN = ("lead", "interest", "proposal")
WHO = ["admin", "alice", "bob", "mike"]

PIPELINE = {
    "key": "sales",
    "label": "销售",
    "stage_field": "stage",
    "override_roles": [],
    "stages": [
        {"key": key, "label": key, "category": CATEGORY.get(key, "open"), "probability": p}
        for key, p in PROBABILITY.items()
    ],
}
NOTE = {
    "key": "note",
    "label": "跟进",
    "fields": [
        {"key": "deal", "label": "商机", "type": "link", "target": "deal"},
        {"key": "at", "label": "时间", "type": "datetime"},
    ],
}
PAYMENT = {
    "key": "payment",
    "label": "回款",
    "fields": [
        {"key": "customer", "label": "客户", "type": "link", "target": "customer"},
        {"key": "amount", "label": "金额", "type": "money"},
        {"key": "paid_on", "label": "日期", "type": "date"},
    ],
}


@dataclass
class Visit:
    deal: int
    stage: str
    entered: datetime
    left: datetime | None


@dataclass
class History:
    crm: Crm
    visits: list[Visit]
    notes: list[dict[str, Any]]
    done: list[tuple[int, datetime]]
    payments: list[dict[str, Any]]

    def deals_for(self, who: str) -> dict[int, dict[str, Any]]:
        return {row["id"]: row for row in self.crm.rows_for(who)}

    def visits_for(self, who: str) -> list[Visit]:
        deals = self.deals_for(who)
        return [v for v in self.visits if v.deal in deals]


def _secs(start: datetime, end: datetime) -> int:
    return int(end.timestamp()) - int(start.timestamp())


def _hundredths(seconds: int, unit: int) -> Decimal:
    return Decimal(seconds // (unit // 100)) / 100


def _avg(values: list[Decimal], places: int = 4) -> str | None:
    if not values:
        return None
    exact = sum(values, Decimal(0)) / len(values)
    return str(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def _ratio(top: Decimal, bottom: Decimal, places: int = 2) -> str | None:
    if bottom == 0:
        return None
    return str((top / bottom * 100).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def _build_history(workspace: Workspace) -> History:
    """The CRM with its deals' stage history, follow-ups, done tasks and payments; the
    workspace's clock stands at ``NOW`` from then on."""
    crm = build_crm(workspace)  # noqa: F811 (the name of the fixture imported above)
    rng = random.Random(1818)
    visits: list[Visit] = []
    with crm.workspace.transaction() as conn:
        deal_form = get_form(conn, "deal")
        save_pipeline(conn, actor=Actor.system(), form=deal_form, document=PIPELINE)
        conn.execute(stage_visits.delete())
        table = compile_form(deal_form).main
        # Rows gathered and written a statement each at the end, in the same order: a round
        # trip a row was most of the fixture's time on PostgreSQL.
        visit_rows: list[dict[str, Any]] = []
        finals: list[dict[str, Any]] = []
        for deal in crm.deals:
            at = deal["created_at"].replace(microsecond=0)
            stage, move = "lead", "start"
            walk = []
            for _ in range(rng.randint(0, 7)):
                walk.append((stage, move, at))
                at += timedelta(seconds=rng.randint(600, 20 * 86400))
                if stage == "lost":
                    stage, move = rng.choice(OPEN), "reopen"
                elif stage == "won":
                    break
                else:
                    roll = rng.random()
                    if roll < 0.55:
                        stage = ("interest", "proposal", "won")[POSITION[stage]]
                        move = "forward"
                    elif roll < 0.75 and POSITION[stage] > 0:
                        stage, move = OPEN[rng.randint(0, POSITION[stage] - 1)], "back"
                    else:
                        stage, move = "lost", "forward"
            else:
                walk.append((stage, move, at))
            for i, (key, how, entered) in enumerate(walk):
                left = walk[i + 1][2] if i + 1 < len(walk) else None
                if left is not None and left > NOW:
                    walk = walk[: i + 1]
                    left = None
                visits.append(Visit(deal["id"], key, entered, left))
                visit_rows.append(
                    {
                        "form_key": "deal",
                        "record_id": deal["id"],
                        "pipeline_key": "sales",
                        "stage_key": key,
                        "category": CATEGORY.get(key, "open"),
                        "entered_at": entered,
                        "left_at": left,
                        "move": how,
                        "reason": "why" if how in ("back", "reopen") else None,
                    }
                )
                if left is None:
                    break
            final = [v for v in visits if v.deal == deal["id"]][-1].stage
            finals.append({"deal_id": deal["id"], "final": final})
            deal["stage"] = final
        conn.execute(stage_visits.insert(), visit_rows)
        conn.execute(
            table.update()
            .where(table.c.id == sa.bindparam("deal_id"))
            .values(stage=sa.bindparam("final")),
            finals,
        )
        # Written as it happened, so what each visit went on to is computed as after an import.
        refresh_advanced(conn, "deal")
        # Follow-ups (read by the members' department scope) and done tasks: first responses.
        for definition in (NOTE, PAYMENT):
            changes.create_form(
                conn=conn,
                actor=Actor.system(),
                form=parse_model(Form, {"app_key": "sales", **definition}),
            )
        for key in ("note", "payment"):
            set_form_rules(
                conn, "member", get_form(conn, key), {"create": True, "read": "department"}
            )
        owners = list(crm.users.values())
        notes = []
        for deal in crm.deals:
            if deal["deleted"]:
                continue
            for _ in range(rng.choice([0, 0, 1, 2, 3])):
                notes.append(
                    {
                        "deal": deal["id"],
                        # Some before the deal existed: those answer nothing.
                        "at": deal["created_at"].replace(microsecond=0)
                        + timedelta(seconds=rng.randint(-2 * 86400, 9 * 86400)),
                        "owner_id": rng.choice(owners),
                    }
                )
        create_records(
            conn=conn,
            actor=Actor.system(),
            form=get_form(conn, "note"),
            items=[{**n, "at": n["at"].isoformat()} for n in notes],
        )
        done = []
        task_rows: list[dict[str, Any]] = []
        for deal in rng.sample(crm.deals, 60):
            closed = deal["created_at"].replace(microsecond=0) + timedelta(
                seconds=rng.randint(60, 9 * 86400)
            )
            done.append((deal["id"], closed))
            task_rows.append(
                {
                    "title": "call",
                    "state": rng.choice(["done", "done", "open"]) if len(done) % 3 else "cancelled",
                    "closed_at": closed,
                    "form_key": "deal",
                    "record_id": deal["id"],
                    "source": "person",
                    "created_at": closed,
                    "updated_at": closed,
                }
            )
        conn.execute(tasks.insert(), task_rows)
        done = [
            (row.record_id, row.closed_at)
            for row in conn.execute(
                sa.select(tasks.c.record_id, tasks.c.closed_at).where(tasks.c.state == "done")
            )
        ]
        payments = []
        for customer_id in crm.customers:
            for _ in range(rng.randint(0, 6)):
                payments.append(
                    {
                        "customer": customer_id,
                        "amount": f"{rng.randint(1, 90000)}.{rng.randint(0, 99):02d}",
                        "paid_on": (date(2025, 1, 1) + timedelta(rng.randint(0, 800))).isoformat(),
                        "owner_id": rng.choice(owners),
                    }
                )
        create_records(
            conn=conn, actor=Actor.system(), form=get_form(conn, "payment"), items=payments
        )
    assert isinstance(workspace.clock, FakeClock)
    workspace.clock.follow(lambda: NOW)
    return History(crm, visits, notes, done, payments)


# Built once per dialect and test process (a second or more on PostgreSQL), put back before
# each test: the tests only read it.
kept, workspace = kept_fixtures(_build_history)


@pytest.fixture
def history(kept: KeptDatabase[History], workspace: Workspace) -> History:
    return kept.built


# ---- the funnel, time in stage, the cycle ---------------------------------------------------

FUNNEL = {
    "form": "deal",
    "source": "stage_visits",
    "dimensions": [{"field": "visit.stage"}],
    "measures": [
        {"key": "entered", "agg": "count_distinct", "field": "id"},
        {
            "key": "advanced",
            "agg": "count_distinct",
            "field": "id",
            "filter": {"field": "visit.advanced", "op": "eq", "value": True},
        },
        {"key": "visits", "agg": "count"},
        {"key": "hours", "agg": "avg", "field": "visit.hours"},
        {
            "key": "closed_days",
            "agg": "avg",
            "field": "visit.days",
            "filter": {"field": "visit.current", "op": "eq", "value": False},
        },
    ],
    "formulas": [{"key": "conversion", "expression": "advanced / entered * 100", "places": 2}],
    "chart": {"type": "funnel"},
}


@pytest.mark.parametrize("who", WHO)
def test_the_funnel_converts_stage_to_stage_and_times_each_stage(
    history: History, who: str
) -> None:
    result = history.crm.run(who, FUNNEL)
    visits = history.visits_for(who)
    got = {
        row["dimensions"]["visit.stage" if False else "visit_stage"]: row for row in result["rows"]
    }
    by_stage: dict[str, list[Visit]] = defaultdict(list)
    for visit in visits:
        by_stage[visit.stage].append(visit)
    assert [row["dimensions"]["visit_stage"] for row in result["rows"]] == [
        s for s in POSITION if s in by_stage
    ]
    for stage, group in by_stage.items():
        entered = {v.deal for v in group}
        advanced = {
            v.deal
            for v in group
            if any(
                w.deal == v.deal
                and POSITION[w.stage] > POSITION[v.stage]
                and w.stage != "lost"
                and w.entered >= v.entered
                for w in visits
            )
        }
        hours = [_hundredths(_secs(v.entered, v.left or NOW), 3600) for v in group]
        closed = [_hundredths(_secs(v.entered, v.left), 86400) for v in group if v.left]
        measures = got[stage]["measures"]
        assert measures == {
            "entered": len(entered),
            "advanced": len(advanced),
            "visits": len(group),
            "hours": _avg(hours),
            "closed_days": _avg(closed),
            "conversion": _ratio(Decimal(len(advanced)), Decimal(len(entered))),
        }, (who, stage)
        assert got[stage]["labels"]["visit_stage"] == stage.upper()
        assert got[stage]["drill"] is None
    # Someone moved back, lost and reopened: the history is not a straight line.
    assert any(v.stage == "lost" for v in visits)
    assert len(visits) > len({v.deal for v in visits}) + 50


CYCLE = {
    "form": "deal",
    "source": "stage_visits",
    "dimensions": [{"field": "owner_id"}],
    "measures": [
        {"key": "won", "agg": "count_distinct", "field": "id"},
        {"key": "cycle", "agg": "avg", "field": "visit.cycle_days"},
    ],
    "filter": {"field": "visit.category", "op": "eq", "value": "won"},
}


@pytest.mark.parametrize("who", WHO)
def test_the_sales_cycle_runs_from_entering_the_pipeline_to_won(history: History, who: str) -> None:
    result = history.crm.run(who, CYCLE)
    deals = history.deals_for(who)
    entry: dict[int, datetime] = {}
    for visit in history.visits:
        entry[visit.deal] = min(entry.get(visit.deal, visit.entered), visit.entered)
    expected: dict[int, list[Decimal]] = defaultdict(list)
    for visit in history.visits_for(who):
        if visit.stage == "won":
            expected[deals[visit.deal]["owner_id"]].append(
                _hundredths(_secs(entry[visit.deal], visit.entered), 86400)
            )
    got = {row["dimensions"]["owner_id"]: row["measures"] for row in result["rows"]}
    assert got == {
        owner: {"won": len(values), "cycle": _avg(values)} for owner, values in expected.items()
    }
    assert expected


# ---- the weighted pipeline, now and as of a past day --------------------------------------


WEIGHTED = {
    "form": "deal",
    "dimensions": [{"field": "stage"}],
    "measures": [
        {"key": "deals", "agg": "count"},
        {"key": "weighted", "agg": "weighted_sum", "field": "amount"},
    ],
}


@pytest.mark.parametrize("who", WHO)
def test_the_weighted_pipeline_takes_each_stage_s_probability(history: History, who: str) -> None:
    result = history.crm.run(who, WEIGHTED)
    expected: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for deal in history.deals_for(who).values():
        expected[deal["stage"]].append(deal)
    got = {row["dimensions"]["stage"]: row["measures"] for row in result["rows"]}
    assert got == {
        stage: {
            "deals": len(rows),
            "weighted": str(
                sum(
                    (r["amount"] * PROBABILITY[stage] / 100 for r in rows if r["amount"]),
                    Decimal(0),
                ).quantize(Decimal("0.0001"))
            ),
        }
        for stage, rows in expected.items()
    }


AS_OF = {
    "form": "deal",
    "source": "stage_as_of",
    "dimensions": [{"field": "visit.stage"}],
    "measures": [
        {"key": "deals", "agg": "count"},
        {"key": "amount", "agg": "sum", "field": "amount"},
        {"key": "weighted", "agg": "weighted_sum", "field": "amount"},
    ],
    "date_field": None,
}


@pytest.mark.parametrize("who", ["alice", "mike"])
@pytest.mark.parametrize("day", [date(2026, 5, 31), date(2026, 9, 30), date(2026, 12, 31)])
def test_the_pipeline_as_of_a_past_day(history: History, who: str, day: date) -> None:
    result = history.crm.run(who, AS_OF, as_of=day)
    end = datetime(day.year, day.month, day.day, tzinfo=TZ) + timedelta(days=1)
    deals = history.deals_for(who)
    expected: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for visit in history.visits_for(who):
        if visit.entered < end and (visit.left is None or visit.left >= end):
            expected[visit.stage].append(deals[visit.deal])
    got = {row["dimensions"]["visit_stage"]: row["measures"] for row in result["rows"]}
    amounts = {
        stage: [r["amount"] for r in rows if r["amount"] is not None]
        for stage, rows in expected.items()
    }
    assert got == {
        stage: {
            "deals": len(rows),
            "amount": str(sum(amounts[stage], Decimal(0)).quantize(Decimal("0.01"))),
            "weighted": str(
                (sum(amounts[stage], Decimal(0)) * PROBABILITY[stage] / 100).quantize(
                    Decimal("0.0001")
                )
            ),
        }
        for stage, rows in expected.items()
    }
    # Each deal stands in one stage at a time.
    assert sum(m["deals"] for m in got.values()) == len(
        {d["id"] for rows in expected.values() for d in rows}
    )


def test_the_day_comes_from_the_definition_or_the_dashboard(history: History) -> None:
    fixed = history.crm.run("mike", {**AS_OF, "as_of": "2026-05-31"})
    picked = history.crm.run("mike", AS_OF, as_of=date(2026, 5, 31))
    other = history.crm.run("mike", {**AS_OF, "as_of": "2026-01-31"}, as_of=date(2026, 5, 31))
    assert fixed["rows"] == picked["rows"] == other["rows"]
    assert history.crm.run("mike", AS_OF)["rows"] != fixed["rows"]


# ---- first response ------------------------------------------------------------------------

RESPONSE = {
    "form": "deal",
    "related": [
        {
            "key": "touch",
            "parts": [{"form": "note", "link": "deal", "at": "at"}, {"tasks": True}],
        }
    ],
    "dimensions": [{"field": "owner_id"}],
    "measures": [
        {"key": "deals", "agg": "count"},
        {"key": "answered", "agg": "count", "field": "touch.first_at"},
        {"key": "hours", "agg": "avg", "field": "touch.first_hours"},
        {"key": "touches", "agg": "sum", "field": "touch.count"},
        {
            "key": "slow",
            "agg": "count",
            "filter": {"field": "touch.first_hours", "op": "gt", "value": "48"},
        },
    ],
}


@pytest.mark.parametrize("who", WHO)
def test_first_response_time_reads_follow_ups_as_the_viewer_may(history: History, who: str) -> None:
    the = history.crm
    owners = the.readable_owners(who)
    deals = history.deals_for(who)
    touches: dict[int, list[datetime]] = defaultdict(list)
    for note in history.notes:
        if owners is None or note["owner_id"] in owners:
            touches[note["deal"]].append(note["at"])
    for deal_id, closed in history.done:
        touches[deal_id].append(closed)
    expected: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for deal in deals.values():
        expected[deal["owner_id"]].append(deal)
    got = {row["dimensions"]["owner_id"]: row["measures"] for row in the.run(who, RESPONSE)["rows"]}
    want = {}
    for owner, rows in expected.items():
        firsts = [
            (r, min(t for t in touches[r["id"]] if t >= r["created_at"]))
            for r in rows
            if any(t >= r["created_at"] for t in touches[r["id"]])
        ]
        hours = [_hundredths(_secs(r["created_at"], first), 3600) for r, first in firsts]
        want[owner] = {
            "deals": len(rows),
            "answered": len(hours),
            "hours": _avg(hours),
            "touches": sum(len(touches[r["id"]]) for r in rows),
            "slow": sum(1 for h in hours if h > 48),
        }
    assert got == want


# ---- the value of the customer base --------------------------------------------------------

VALUE = {
    "form": "customer",
    "related": [
        {
            "key": "life",
            "parts": [{"form": "payment", "link": "customer", "at": "paid_on", "amount": "amount"}],
        },
        {
            "key": "paid",
            "parts": [{"form": "payment", "link": "customer", "at": "paid_on", "amount": "amount"}],
            "period": True,
        },
    ],
    "measures": [
        {"key": "lifetime", "agg": "sum", "field": "life.sum"},
        {
            "key": "paying",
            "agg": "count",
            "filter": {"field": "life.count", "op": "gt", "value": 0},
        },
        {"key": "revenue", "agg": "sum", "field": "paid.sum"},
        {
            "key": "active",
            "agg": "count",
            "filter": {"field": "paid.count", "op": "gt", "value": 0},
        },
        {"key": "before", "agg": "sum", "field": "paid.previous_sum"},
        {
            "key": "kept_revenue",
            "agg": "sum",
            "field": "paid.sum",
            "filter": {"field": "paid.previous_count", "op": "gt", "value": 0},
        },
        {
            "key": "had",
            "agg": "count",
            "filter": {"field": "paid.previous_count", "op": "gt", "value": 0},
        },
        {
            "key": "kept",
            "agg": "count",
            "filter": {
                "and": [
                    {"field": "paid.previous_count", "op": "gt", "value": 0},
                    {"field": "paid.count", "op": "gt", "value": 0},
                ]
            },
        },
    ],
    "formulas": [
        {"key": "ltv", "expression": "lifetime / paying", "places": 2},
        {"key": "arpu", "expression": "revenue / active", "places": 2},
        {"key": "retention", "expression": "kept / had * 100", "places": 2},
        {"key": "nrr", "expression": "kept_revenue / before * 100", "places": 2},
    ],
    "date_field": None,
}


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("period", [(date(2026, 1, 1), date(2026, 6, 30)), None])
def test_ltv_arpu_retention_and_nrr_from_payments(
    history: History, who: str, period: tuple[date, date] | None
) -> None:
    the = history.crm
    owners = the.readable_owners(who)
    low, high = period or (
        NOW.astimezone(TZ).date() - timedelta(days=364),
        NOW.astimezone(TZ).date(),
    )
    length = (high - low).days + 1
    before_low, before_high = low - timedelta(days=length), low - timedelta(days=1)
    customers = [c for c in the.customers.values() if owners is None or c["owner_id"] in owners]
    life: dict[int, list[Decimal]] = defaultdict(list)
    now_: dict[int, list[Decimal]] = defaultdict(list)
    then: dict[int, list[Decimal]] = defaultdict(list)
    for payment in history.payments:
        if owners is not None and payment["owner_id"] not in owners:
            continue
        amount, day = Decimal(payment["amount"]), date.fromisoformat(payment["paid_on"])
        life[payment["customer"]].append(amount)
        if low <= day <= high:
            now_[payment["customer"]].append(amount)
        if before_low <= day <= before_high:
            then[payment["customer"]].append(amount)
    ids = [c["id"] for c in customers]
    lifetime = sum((sum(life[i]) for i in ids), Decimal(0))
    paying = sum(1 for i in ids if life[i])
    revenue = sum((sum(now_[i]) for i in ids), Decimal(0))
    active = sum(1 for i in ids if now_[i])
    before = sum((sum(then[i]) for i in ids), Decimal(0))
    had = [i for i in ids if then[i]]
    kept_revenue = sum((sum(now_[i]) for i in had), Decimal(0))
    kept = sum(1 for i in had if now_[i])
    filters = {"date_from": period[0], "date_to": period[1]} if period else {}
    [row] = the.run(who, VALUE, **filters)["rows"]

    def cents(value: Decimal) -> str:
        return str(Decimal(value).quantize(Decimal("0.01")))

    def per(top: Decimal, bottom: int) -> str | None:
        if not bottom:
            return None
        return str((top / bottom).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))

    assert row["measures"] == {
        "lifetime": cents(lifetime),
        "paying": paying,
        "revenue": cents(revenue),
        "active": active,
        "before": cents(before),
        "kept_revenue": cents(kept_revenue),
        "had": len(had),
        "kept": kept,
        "ltv": per(lifetime, paying),
        "arpu": per(revenue, active),
        "retention": _ratio(Decimal(kept), Decimal(len(had))),
        "nrr": _ratio(kept_revenue, before),
    }
    if who in ("admin", "mike"):
        assert paying and had and kept < len(had)


# ---- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"dimensions": [{"field": "visit.nope"}]}, "dimensions.0.field"),
        ({"filter": {"field": "visit.hours", "op": "gt", "value": "many"}}, "filter.value"),
        ({"filter": {"field": "visit.advanced", "op": "gt", "value": True}}, "filter"),
        ({"source": "records"}, "dimensions.0.field"),
    ],
)
def test_bad_history_references_are_refused_naming_the_part(
    history: History, change: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        history.crm.run("mike", {**FUNNEL, "formulas": [], **change})
    assert caught.value.errors[0].field == field


def test_a_form_without_a_pipeline_has_no_stage_history(history: History) -> None:
    # Saved before its pipeline (a solution installs reports first), it counts nothing yet.
    result = history.crm.run(
        "mike",
        {
            "form": "customer",
            "source": "stage_visits",
            "dimensions": [{"field": "visit.stage"}],
            "measures": [{"key": "n", "agg": "count"}],
        },
    )
    assert result["rows"] == []


def test_related_rows_of_a_hidden_or_foreign_link_are_refused(history: History) -> None:
    bad = {
        **RESPONSE,
        "related": [{"key": "touch", "parts": [{"form": "payment", "link": "customer"}]}],
    }
    with pytest.raises(ValidationFailed) as caught:
        history.crm.run("mike", bad)
    assert caught.value.errors[0].field == "related.0.parts.0.link"


# ---- expression filters --------------------------------------------------------------------


@pytest.mark.parametrize("who", ["alice", "mike"])
def test_expression_filters_on_the_report_and_on_a_measure(crm: Crm, who: str) -> None:  # noqa: F811
    definition = {
        "form": "deal",
        "dimensions": [{"field": "stage"}],
        "measures": [
            {"key": "deals", "agg": "count"},
            {"key": "big", "agg": "count", "where": "amount >= 300000"},
            {"key": "big_sum", "agg": "sum", "field": "amount", "where": "amount >= 300000"},
        ],
        "formulas": [{"key": "big_share", "expression": "big / deals * 100", "places": 2}],
        "where": 'stage != "lost" and cabinets > 5',
    }
    result = crm.run(who, definition)
    expected: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in crm.rows_for(who):
        if row["stage"] is not None and row["stage"] != "lost" and (row["cabinets"] or 0) > 5:
            expected[row["stage"]].append(row)
    got = {row["dimensions"]["stage"]: row["measures"] for row in result["rows"]}
    want = {}
    for stage, rows in expected.items():
        big = [r for r in rows if r["amount"] is not None and r["amount"] >= 300000]
        want[stage] = {
            "deals": len(rows),
            "big": len(big),
            "big_sum": str(sum((r["amount"] for r in big), Decimal(0)).quantize(Decimal("0.01"))),
            "big_share": _ratio(Decimal(len(big)), Decimal(len(rows))),
        }
    assert got == want
    # The grid takes structured filters only: no drill-down that would list more.
    assert all(row["drill"] is None for row in result["rows"])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"where": "margin > 0"}, "where"),  # hidden from members
        ({"where": "amount +"}, "where"),
        ({"where": "amount"}, "where"),
        (
            {"measures": [{"key": "n", "agg": "count", "where": "nope = 1"}]},
            "measures.0.where",
        ),
    ],
)
def test_a_bad_expression_filter_is_refused_naming_it(
    crm: Crm,  # noqa: F811
    change: dict[str, Any],
    field: str,
) -> None:
    definition = {"form": "deal", "measures": [{"key": "n", "agg": "count"}], **change}
    with pytest.raises(ValidationFailed) as caught:
        crm.run("alice", definition)
    assert caught.value.errors[0].field == field


# ---- drilling into the records behind a bar --------------------------------------------------


def _saved(history: History, definition: dict[str, Any]) -> int:
    from meridian.reports import store

    document = {
        "app_key": "sales",
        "label": "drill",
        "roles": ["member", "manager"],
        "definition": definition,
    }
    with history.crm.workspace.transaction() as conn:
        saved = store.save(conn=conn, actor=Actor.system(), kind="report", document=document, tz=TZ)
    return int(saved["id"])


def _drilled(history: History, who: str, address: str) -> set[int]:
    """Follow a row's drill address as ``who``: the grid's filter, then the grid's rows."""
    from urllib.parse import parse_qs, urlsplit

    from meridian.core import strict_json
    from meridian.records.listing import RecordQuery, list_records
    from meridian.reports.compiler import dashboard_filters
    from meridian.reports.service import records_address

    the = history.crm
    parts = urlsplit(address)
    report_id = int(parts.path.split("/")[2])
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert parts.path == f"/reports/{report_id}/records"
    row = query.pop("row")
    with the.workspace.read() as conn:
        grid = records_address(
            conn=conn,
            actor=the.actor(who),
            report_id=report_id,
            tz=TZ,
            filters=dashboard_filters(**{k: int(v) for k, v in query.items()}),
            row=row,
        )
        assert urlsplit(grid).path == "/forms/deal"
        tree = strict_json.loads(parse_qs(urlsplit(grid).query)["filter"][0])
        page = list_records(
            conn=conn,
            actor=the.actor(who),
            form=get_form(conn, "deal"),
            query=RecordQuery(filter=tree, limit=500),
            tz=TZ,
        )
    return {item["id"] for item in page.items}


@pytest.mark.parametrize("who", ["alice", "mike"])
def test_a_stage_history_bar_drills_to_the_deals_that_entered_the_stage(
    history: History, who: str
) -> None:
    from meridian.reports.service import report_data

    report_id = _saved(history, FUNNEL)
    the = history.crm
    with the.workspace.read() as conn:
        data = report_data(conn=conn, actor=the.actor(who), report_id=report_id, tz=TZ)
    visits = history.visits_for(who)
    assert data["rows"]
    for row in data["rows"]:
        stage = row["dimensions"]["visit_stage"]
        expected = {v.deal for v in visits if v.stage == stage}
        assert _drilled(history, who, row["drill"]) == expected, (who, stage)
        assert len(expected) == row["measures"]["entered"]


def test_a_related_report_drills_with_the_dashboard_filters_as_the_viewer(
    history: History,
) -> None:
    from meridian.reports.compiler import dashboard_filters
    from meridian.reports.service import report_data

    report_id = _saved(history, RESPONSE)
    the = history.crm
    department = the.departments["华东销售"]
    for who in ("alice", "mike"):
        with the.workspace.read() as conn:
            data = report_data(
                conn=conn,
                actor=the.actor(who),
                report_id=report_id,
                tz=TZ,
                filters=dashboard_filters(department=department),
            )
        assert data["rows"]
        deals = history.deals_for(who)
        east = {the.users["alice"], the.users["amy"]}
        for row in data["rows"]:
            owner = row["dimensions"]["owner_id"]
            assert "department=" in row["drill"]
            expected = {i for i, d in deals.items() if d["owner_id"] == owner and owner in east}
            assert _drilled(history, who, row["drill"]) == expected, (who, owner)
            assert len(expected) == row["measures"]["deals"]


def test_a_drill_row_that_is_not_the_report_s_is_refused_naming_it(history: History) -> None:
    from meridian.errors import NotFound
    from meridian.reports.service import records_address

    report_id = _saved(history, FUNNEL)
    the = history.crm
    for row in ('{"stage": "lead"}', "[1]", "not json", '{"visit_stage": ["lead"]}'):
        with the.workspace.read() as conn, pytest.raises(ValidationFailed) as refused:
            records_address(
                conn=conn,
                actor=the.actor("alice"),
                report_id=report_id,
                tz=TZ,
                filters=dashboard_filters_none(),
                row=row,
            )
        assert refused.value.errors[0].field == "row", row
    with the.workspace.read() as conn, pytest.raises(NotFound):
        records_address(
            conn=conn,
            actor=the.actor("alice"),
            report_id=report_id + 1000,
            tz=TZ,
            filters=dashboard_filters_none(),
            row="{}",
        )


def dashboard_filters_none() -> Any:
    from meridian.reports.compiler import NO_FILTERS

    return NO_FILTERS


def test_every_history_and_related_field_the_builder_offers_makes_a_report(
    history: History,
) -> None:
    """The palette's ``visit.*`` columns and related aggregates are what a report reads: each
    one dropped into a report (with the spec it carries) is accepted and computed."""
    from meridian.reports.palette import report_fields

    the = history.crm
    with the.workspace.read() as conn:
        offered = report_fields(conn=conn, actor=the.actor("alice"), form_key="deal", tz=TZ)
    visits = [f for f in offered if f.get("source") == "history"]
    related = [f for f in offered if f.get("related")]
    assert {f["ref"] for f in visits} >= {"visit.stage", "visit.days", "visit.advanced"}
    assert {f["ref"] for f in related} >= {"note_deal.count", "note_deal.first_hours"}
    for field in visits:
        as_dimension = field["kind"] not in ("number", "datetime")
        definition = {
            "form": "deal",
            "source": "stage_visits",
            "dimensions": [{"field": field["ref"]}] if as_dimension else [],
            "measures": [
                {"key": "m", "agg": "count"}
                if as_dimension
                else {"key": "m", "agg": "max", "field": field["ref"]}
            ],
        }
        assert the.run("alice", definition)["rows"], field["ref"]
    deals = history.deals_for("alice")
    for field in related:
        definition = {
            "form": "deal",
            "related": [field["related"]],
            "measures": [{"key": "m", "agg": "sum", "field": field["ref"]}],
        }
        result = the.run("alice", definition)
        assert len(result["rows"]) == 1, field["ref"]
    readers = the.readable_owners("alice") or set()
    notes = sum(1 for n in history.notes if n["deal"] in deals and n["owner_id"] in readers)
    counted = the.run(
        "alice",
        {
            "form": "deal",
            "related": [next(f["related"] for f in related if f["ref"] == "note_deal.count")],
            "measures": [{"key": "m", "agg": "sum", "field": "note_deal.count"}],
        },
    )
    assert counted["rows"][0]["measures"]["m"] == notes
