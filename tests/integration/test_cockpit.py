"""The IDC solution's management cockpit and a rep's dashboard (issue 18, section 5): installed
with the app, the homes of managers and members, and each number what an independent Python
computation over the generated sample data says — for an administrator, a manager and a rep.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access import manage, organisation
from meridian.access.actors import load_actor
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.db.tables import stage_visits
from meridian.http.deps import Workspace
from meridian.reports import store
from meridian.reports.service import report_data
from meridian.schema.catalog import get_form
from meridian.schema.compile import compile_form
from meridian.solutions import idc_crm
from meridian.solutions.idc_crm.backdate import backdate_samples
from meridian.solutions.idc_crm.stage_history import seed_stage_history
from meridian.solutions.loader import (
    install_approvals,
    install_pipelines,
    install_solution,
    load_sample_data,
)
from tests.conftest import KeptDatabase, kept_fixtures


def _install_idc(workspace: Workspace) -> dict[str, Any]:
    """The IDC app with its reports, sample data spread over two reps and a manager."""
    people: dict[str, int] = {}
    with workspace.transaction() as conn:
        hq = organisation.create_department(conn=conn, name="总部")
        organisation.create_department(conn=conn, name="华东销售", parent_id=hq)
        for person, role, department in (
            ("rep1", "member", "华东销售"),
            ("rep2", "member", "华东销售"),
            ("boss", "manager", "总部"),
        ):
            people[person] = manage.add_user(
                conn,
                Actor.system(),
                email=f"{person}@idc.test",
                name=person,
                password="Passw0rd-long",
                passwords=workspace.passwords,
                roles=[role],
                department=department,
                must_change_password=False,
            )["id"]
    app, forms = idc_crm.load_package()
    assert install_solution(
        workspace.engine, Actor.system(), app, forms, reports=idc_crm.load_reports()
    )
    # As ``meridian demo`` loads it: the sample's "today" is today, its past backdated.
    with workspace.read() as conn:
        today = utcnow(conn).astimezone(workspace.tz).date()
    load_sample_data(
        workspace.engine,
        Actor.system(),
        idc_crm.generate(seed=3, scale=60, anchor=today),
        owners=list(people.values()),
    )
    install_approvals(workspace.engine, Actor.system(), idc_crm.load_approvals())
    install_pipelines(workspace.engine, Actor.system(), idc_crm.load_pipelines())
    seed_stage_history(workspace.engine, seed=3)
    backdate_samples(workspace.engine)
    with workspace.read() as conn:
        reports = {
            r["label"]: r["id"]
            for r in store.listing(conn=conn, actor=Actor.system(), kind="report")
        }
    return {"people": people, "reports": reports}


# The IDC solution is installed once per dialect and test process (seconds on PostgreSQL)
# and put back before each test: the tests only read, but a test that wrote would not be
# seen by the next.
kept, workspace = kept_fixtures(_install_idc)


@pytest.fixture
def idc(kept: KeptDatabase[dict[str, Any]], workspace: Workspace) -> dict[str, Any]:
    return kept.built


def _rows(conn: Connection, form_key: str) -> list[dict[str, Any]]:
    table = compile_form(get_form(conn, form_key)).main
    return [
        dict(r._mapping) for r in conn.execute(sa.select(table).where(table.c.deleted_at.is_(None)))
    ]


def _run(workspace: Workspace, actor: Actor, report_id: int) -> dict[str, Any]:
    with workspace.read() as conn:
        return report_data(conn=conn, actor=actor, report_id=report_id, tz=workspace.tz)


def test_the_cockpit_and_the_reps_dashboard_are_the_homes(
    workspace: Workspace, idc: dict[str, Any]
) -> None:
    with workspace.read() as conn:
        boss = load_actor(conn, idc["people"]["boss"])
        rep = load_actor(conn, idc["people"]["rep1"])
        assert (
            store.home_dashboard(conn=conn, actor=boss, app_key="idc_crm")["label"] == "管理驾驶舱"
        )
        assert (
            store.home_dashboard(conn=conn, actor=rep, app_key="idc_crm")["label"] == "我的工作台"
        )
        cockpit = store.home_dashboard(conn=conn, actor=Actor.system(), app_key="idc_crm")
        assert cockpit is not None and len(cockpit["definition"]["cards"]) == 21
        # Every card of both dashboards draws, for each of them.
        for actor in (Actor.system(), boss, rep):
            home = store.home_dashboard(conn=conn, actor=actor, app_key="idc_crm")
            assert home is not None
            for card in home["definition"]["cards"]:
                data = report_data(
                    conn=conn, actor=actor, report_id=card["report_id"], tz=workspace.tz
                )
                assert data["rows"] is not None


def test_funnel_win_rate_and_arpu_match_the_records(
    workspace: Workspace, idc: dict[str, Any]
) -> None:
    reports = idc["reports"]
    with workspace.read() as conn:
        deals = _rows(conn, "opportunity")
        contracts = _rows(conn, "contract")
    funnel = _run(workspace, Actor.system(), reports["销售漏斗"])
    stages = ["lead", "interest", "proposal", "negotiation", "won"]
    counts = Counter(d["stage"] for d in deals if d["stage"] != "lost")
    assert [(r["dimensions"]["stage"], r["measures"]["deals"]) for r in funnel["rows"]] == [
        (s, counts[s]) for s in [*stages, None] if counts[s]
    ]
    won = sum(1 for d in deals if d["stage"] == "won")
    closed = sum(1 for d in deals if d["stage"] in ("won", "lost"))
    rate = _run(workspace, Actor.system(), reports["赢单率（%）"])["rows"][0]["measures"]
    expected = (Decimal(won) / closed * 100).quantize(Decimal("0.1")) if closed else None
    assert rate["win_rate"] == (str(expected) if expected is not None else None)
    active = [c for c in contracts if c["status"] in ("signed", "active")]
    total = sum((Decimal(c["amount"] or 0) / 100 for c in active), Decimal(0))
    customers = len({c["customer"] for c in active if c["customer"] is not None})
    arpu = _run(workspace, Actor.system(), reports["客户平均合同额（ARPU）"])["rows"][0]["measures"]
    assert Decimal(arpu["amount"]) == total
    assert arpu["arpu"] == (
        str((total / customers).quantize(Decimal("0.01"))) if customers else None
    )


def test_power_use_and_idle_cabinets_match_the_inventory(
    workspace: Workspace, idc: dict[str, Any]
) -> None:
    reports = idc["reports"]
    with workspace.read() as conn:
        cabinets = _rows(conn, "cabinet")
    idle = _run(workspace, Actor.system(), reports["可售机柜"])["rows"][0]["measures"]["idle"]
    assert idle == sum(1 for c in cabinets if c["status"] == "idle")
    power = _run(workspace, Actor.system(), reports["电力容量使用率（%）"])["rows"][0]["measures"]
    used = sum(
        c["power_capacity_kw"] or 0 for c in cabinets if c["status"] in ("in_use", "reserved")
    )
    whole = sum(c["power_capacity_kw"] or 0 for c in cabinets)
    assert power["use"] == (
        str((Decimal(used) / whole * 100).quantize(Decimal("0.1"))) if whole else None
    )


def test_a_rep_sees_only_their_own_numbers_and_the_manager_everyones(
    workspace: Workspace, idc: dict[str, Any]
) -> None:
    people, reports = idc["people"], idc["reports"]
    with workspace.read() as conn:
        deals = _rows(conn, "opportunity")
        rep = load_actor(conn, people["rep1"])
        boss = load_actor(conn, people["boss"])
    mine = defaultdict(int)
    for deal in deals:
        if deal["owner_id"] == people["rep1"] and deal["stage"] != "lost":
            mine[deal["stage"]] += 1
    funnel = _run(workspace, rep, reports["我的商机漏斗"])
    assert {r["dimensions"]["stage"]: r["measures"]["deals"] for r in funnel["rows"]} == dict(mine)
    everyone = _run(workspace, boss, reports["销售漏斗"])
    assert sum(r["measures"]["deals"] for r in everyone["rows"]) == sum(
        1 for d in deals if d["stage"] != "lost"
    )
    # The cockpit is not shared with members: for them it does not exist.
    with workspace.read() as conn, pytest.raises(Exception) as hidden:
        report_data(conn=conn, actor=rep, report_id=reports["销售漏斗"], tz=workspace.tz)
    assert getattr(hidden.value, "status", None) == 404


def test_the_stage_history_cards_match_the_visits(
    workspace: Workspace, idc: dict[str, Any]
) -> None:
    """Conversion from the history (of the deals that entered a stage, those that went on to
    a later one) and the pipeline as of today (each deal's open visit)."""
    reports = idc["reports"]
    with workspace.read() as conn:
        live = {d["id"]: d for d in _rows(conn, "opportunity")}
        visits = [
            dict(r._mapping)
            for r in conn.execute(
                sa.select(stage_visits).where(stage_visits.c.form_key == "opportunity")
            )
            if r.record_id in live
        ]
    order = ["lead", "interest", "proposal", "negotiation", "won", "delivery", "lost"]
    conversion = _run(workspace, Actor.system(), reports["阶段转化漏斗"])
    got = {r["dimensions"]["visit_stage"]: r["measures"] for r in conversion["rows"]}
    for stage in {v["stage_key"] for v in visits if v["category"] == "open"}:
        entered = {v["record_id"] for v in visits if v["stage_key"] == stage}
        went_on = {
            v["record_id"]
            for v in visits
            if v["stage_key"] == stage
            and any(
                w["record_id"] == v["record_id"]
                and order.index(w["stage_key"]) > order.index(stage)
                and w["category"] != "lost"
                and w["entered_at"] >= v["entered_at"]
                for w in visits
            )
        }
        assert (got[stage]["entered"], got[stage]["advanced"]) == (len(entered), len(went_on))
    assert got and all(len(m) == 3 for m in got.values())
    today = _run(workspace, Actor.system(), reports["历史时点商机（按阶段）"])
    now_open: dict[str, Decimal] = defaultdict(Decimal)
    for visit in visits:
        if visit["left_at"] is None and visit["category"] == "open":
            amount = live[visit["record_id"]]["expected_amount"] or 0
            now_open[visit["stage_key"]] += Decimal(amount) / 100
    assert {
        r["dimensions"]["visit_stage"]: Decimal(r["measures"]["amount"]) for r in today["rows"]
    } == dict(now_open)


def test_the_demo_lies_in_its_own_past_and_its_cards_show_it(
    workspace: Workspace, idc: dict[str, Any]
) -> None:
    """The sample is created at load time but happened before: each deal was created when it
    entered the pipeline, so the follow-ups after that answer it (first response), a
    customer exists before its deals, and the customer-value card counts renewals."""
    reports = idc["reports"]
    with workspace.read() as conn:
        now = utcnow(conn)
        today = now.astimezone(workspace.tz).date()
        deals = {d["id"]: d for d in _rows(conn, "opportunity")}
        customers = {c["id"]: c for c in _rows(conn, "customer")}
        followups = _rows(conn, "followup")
        contracts = _rows(conn, "contract")
        first_visit: dict[int, Any] = {}
        for visit in conn.execute(
            sa.select(stage_visits).where(stage_visits.c.form_key == "opportunity")
        ):
            at = visit.entered_at
            first_visit[visit.record_id] = min(first_visit.get(visit.record_id, at), at)
    assert all(d["created_at"] == first_visit[i] for i, d in deals.items())
    assert all(d["created_at"] <= now for d in deals.values())
    for deal in deals.values():
        assert customers[deal["customer"]]["created_at"] <= deal["created_at"]
    # First response: per owner, the average of each deal's first follow-up at or after its
    # creation (hours, cut to hundredths), and the deals nobody followed up.
    hours: dict[int, list[int]] = defaultdict(list)
    unanswered: Counter[int] = Counter()
    for deal_id, deal in deals.items():
        times = [f["occurred_at"] for f in followups if f["opportunity"] == deal_id]
        after = [t for t in times if t >= deal["created_at"]]
        if not times:
            unanswered[deal["owner_id"]] += 1
        if after:
            seconds = int(min(after).timestamp()) - int(deal["created_at"].timestamp())
            hours[deal["owner_id"]].append(seconds // 36)
    assert hours, "the sample has follow-ups after their deals were created"
    card = _run(workspace, Actor.system(), reports["新商机首次响应（小时）"])
    got = {r["dimensions"]["owner_id"]: r["measures"] for r in card["rows"]}
    for owner, values in hours.items():
        expected = Decimal(sum(values)) / len(values) / 100
        assert abs(Decimal(got[owner]["hours"]) - expected) < Decimal("0.0001")
    assert {o: m["unanswered"] for o, m in got.items() if m["unanswered"]} == dict(unanswered)
    # Renewal rate over the last 365 days: of the customers with a contract ending in them,
    # those with one starting in them too.
    low = today - timedelta(days=364)

    def within(day: date | None) -> bool:
        return day is not None and low <= day <= today

    ending = {c["customer"] for c in contracts if within(c["end_date"])}
    renewed = {c["customer"] for c in contracts if within(c["start_date"])} & ending
    value = _run(workspace, Actor.system(), reports["客户价值（LTV / ARPU / 续约率 / NRR）"])
    measures = value["rows"][0]["measures"]
    assert (measures["expiring"], measures["renewing"]) == (len(ending), len(renewed))
    if renewed:
        assert Decimal(measures["renewal_rate"]) > 0
