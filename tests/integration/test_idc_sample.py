"""The IDC demo's sample data tells one consistent story about its "today": no contract is
执行中 (active) past its end date or before its start."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from meridian.cli.main import cli
from meridian.solutions import idc_crm

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
