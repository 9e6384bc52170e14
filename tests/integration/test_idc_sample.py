"""The IDC demo's sample data tells one consistent story: no contract is 执行中 (active) past
its end date or before its start, and every quote's total is the sum of its lines less the
discount, computed by the quote's formula, not typed."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from meridian.cli.main import cli
from meridian.core.actor import Actor
from meridian.http.deps import Workspace
from meridian.records import listing, reads, service
from meridian.schema.catalog import get_form
from meridian.solutions import idc_crm
from meridian.solutions.idc_crm.backdate import backdate_samples
from meridian.solutions.idc_crm.sample import SampleBatch
from meridian.solutions.loader import install_solution, load_sample_data
from tests.forms import install_forms, lead_form
from tests.search_index import search_segments

UPCOMING = {"draft", "approving", "signed"}


@pytest.mark.parametrize("anchor", [date(2026, 1, 1), date(2026, 12, 6), date(2027, 7, 31)])
def test_every_generated_contract_status_fits_its_dates(anchor: date) -> None:
    contracts = [
        row
        for batch in idc_crm.generate(seed=7, scale=2000, anchor=anchor)
        if batch.form_key == "contract"
        for row in batch.rows
    ]
    statuses = {row["status"] for row in contracts}
    assert {"active", "expired"} <= statuses
    for row in contracts:
        start, end = date.fromisoformat(row["start_date"]), date.fromisoformat(row["end_date"])
        if row["status"] == "active":
            assert start <= anchor <= end, row
        elif row["status"] == "expired":
            assert end < anchor, row
        elif row["status"] in UPCOMING:
            assert start > anchor, row


def test_the_demo_has_no_contract_active_past_its_end(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MERIDIAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MERIDIAN_DATABASE_URL", database_url)
    monkeypatch.setenv("MERIDIAN_PASSWORD_HASHING", "argon2-minimal-for-tests")
    result = CliRunner().invoke(cli, ["demo", "--scale", "300", "--admin-email", "d@acme.test"])
    assert result.exit_code == 0, result.stderr
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT status, start_date, end_date FROM data_contract")
            ).all()
    finally:
        engine.dispose()
    # The demo runs on the system clock, in the workspace's zone (Asia/Shanghai by default).
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    active = [
        (date.fromisoformat(str(start)[:10]), date.fromisoformat(str(end)[:10]))
        for status, start, end in rows
        if status == "active"
    ]
    assert active, "the demo has contracts in progress"
    assert [(start, end) for start, end in active if not start <= today <= end] == []


def test_the_demo_backdates_its_records_by_index_lookups_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each record's past is found through an index, never by a scan per record: a customer's
    earliest deal through a UNION ALL of whole tables, and a quote's first 方案/报价 visit
    through the stage index (no statistics on the fresh visits), made ``meridian demo
    --scale 100000`` spend over twenty minutes there (5 s CPU now)."""
    data = tmp_path / "data"
    monkeypatch.setenv("MERIDIAN_DATA_DIR", str(data))
    monkeypatch.setenv("MERIDIAN_DATABASE_URL", "")
    monkeypatch.setenv("MERIDIAN_PASSWORD_HASHING", "argon2-minimal-for-tests")
    result = CliRunner().invoke(cli, ["demo", "--scale", "200", "--admin-email", "d@acme.test"])
    assert result.exit_code == 0, result.stderr
    engine = sa.create_engine(f"sqlite:///{data / 'meridian.db'}")
    plans: list[tuple[str, list[str]]] = []

    @sa.event.listens_for(engine, "before_cursor_execute", retval=True)
    def explain(
        _conn: object, cursor: Any, statement: str, parameters: Any, *_: object
    ) -> tuple[str, Any]:
        if statement.lstrip().upper().startswith("UPDATE"):
            rows = cursor.execute(f"EXPLAIN QUERY PLAN {statement}", parameters).fetchall()
            plans.append((statement, [str(row[-1]) for row in rows]))
            return "SELECT 1 WHERE 0", ()
        return statement, parameters

    try:
        backdate_samples(engine)
    finally:
        engine.dispose()
    assert len(plans) == 14  # seven forms, and their histories' creation entries
    for statement, plan in plans:
        inner = plan[1:]  # the first line is the updated table's own scan
        scans = [
            line
            for line in inner
            if (line.startswith("SCAN") and line != "SCAN CONSTANT ROW")
            or "AUTOMATIC" in line
            or "ix_flow_stage_visit_stage" in line
        ]
        assert scans == [], (statement, plan)


def test_every_sample_quote_total_is_its_lines_less_the_discount(workspace: Workspace) -> None:
    admin = Actor.system()
    app, forms = idc_crm.load_package()
    install_solution(workspace.engine, admin, app, forms)
    load_sample_data(workspace.engine, admin, idc_crm.generate(seed=7, scale=300), owners=[])
    with workspace.read() as conn:
        page = listing.list_records(
            conn=conn,
            actor=admin,
            form=get_form(conn, "quote"),
            query=listing.RecordQuery(limit=500),
        )
        quote_ids = [item["id"] for item in page.items]
        quotes = [
            reads.get_record(conn=conn, actor=admin, form=get_form(conn, "quote"), record_id=i)
            for i in quote_ids[:60]
        ]
    assert len(page.items) > 60
    for quote in quotes:
        lines = sum(
            line["quantity"] * Decimal(line["unit_price"]) * line["months"]
            for line in quote["items"]
        )
        off = 1 - Decimal(quote["discount"] or 0) / 100
        expected = (lines * off).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        assert Decimal(quote["total_amount"]) == expected, quote
    # A changed line changes the total: nobody retypes it.
    first = quotes[0]
    items = [{k: v for k, v in line.items() if k != "id"} for line in first["items"]]
    items[0]["quantity"] += 1
    with workspace.transaction() as conn:
        changed = service.update_record(
            conn=conn,
            actor=admin,
            form=get_form(conn, "quote"),
            record_id=first["id"],
            values={"items": items, "discount": "0"},
        )
    expected = sum(
        line["quantity"] * Decimal(line["unit_price"]) * line["months"] for line in items
    )
    assert Decimal(changed["total_amount"]) == expected


def test_a_sample_load_leaves_each_search_index_in_one_segment(workspace: Workspace) -> None:
    """Each batch's commit leaves a search-index segment; left so, later single writes merge
    them inside their own commits (every 64th write 50–550 ms at 1M opportunities)."""
    admin = Actor.system()
    with workspace.transaction() as conn:
        install_forms(conn, lead_form({"key": "name", "label": "名称", "type": "text"}))
    batches = [
        SampleBatch("lead", [{"name": f"华为云 {b}-{i}"} for i in range(20)]) for b in range(7)
    ]
    assert load_sample_data(workspace.engine, admin, batches, owners=[]) == {"lead": 140}
    with workspace.read() as conn:
        found = listing.list_records(
            conn=conn,
            actor=admin,
            form=get_form(conn, "lead"),
            query=listing.RecordQuery(search="hwy 3-1", limit=50),
        )
        assert sorted(item["name"] for item in found.items) == [
            "华为云 3-1",
            *(f"华为云 3-1{i}" for i in range(10)),
        ]
        if conn.dialect.name == "sqlite":
            assert search_segments(conn, "data_lead") == 1
