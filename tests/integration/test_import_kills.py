"""An import survives being killed: a real ``meridian import`` process is SIGKILLed mid-run,
again and again, then run once more to the end — every row of the file is imported exactly
once (no record twice, none lost) and the counts add up. SQLite and PostgreSQL.

The customer's name is unique, so a row written twice would come back as a second outcome or
as a rejection "already taken"; the test counts both ways.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from meridian.cli.main import cli
from tests.worker_processes import start_meridian

PACKAGE = Path(__file__).resolve().parents[2] / "meridian/solutions/idc_crm/package.json"
ROWS = 6000  # enough batches that a fast machine is still mid-file at the third kill
BATCH = 50
BAD_EVERY = 97  # an unknown 行业: rejected with its reason
KILLS = 3


@pytest.fixture
def env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    variables = {
        "MERIDIAN_DATA_DIR": str(tmp_path / "data"),
        "MERIDIAN_DATABASE_URL": database_url,
        "MERIDIAN_PASSWORD_HASHING": "argon2-minimal-for-tests",
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    assert runner.invoke(cli, ["init"]).exit_code == 0
    result = runner.invoke(cli, ["app", "import", str(PACKAGE)])
    assert result.exit_code == 0, result.stderr
    return {**os.environ, **variables}


def _file(folder: Path) -> tuple[Path, int]:
    lines = ["客户名称,所属行业,官网"]
    bad = 0
    for i in range(ROWS):
        industry = (
            "不存在的行业" if i % BAD_EVERY == 0 else random.choice(["互联网", "金融", "游戏"])
        )
        bad += i % BAD_EVERY == 0
        lines.append(f"测试客户{i:05d}有限公司,{industry},https://c{i}.example.com")
    path = folder / "客户.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, bad


def _run_until_killed(command: list[str], env: dict[str, str], log: Path, batches: int) -> str:
    """Start the import (forked from the warm fork server: a process of its own), let it
    commit ``batches`` batches (its progress lines on stderr), then SIGKILL it a moment later
    — in the middle of the next batch, or between two."""
    process = start_meridian(command, env, log, stdout=log.with_suffix(".out"))
    try:
        while log.read_text(encoding="utf-8").count(" rows/s") < batches and process.is_alive():
            time.sleep(0.01)
        time.sleep(random.uniform(0, 0.3))
    finally:
        assert process.pid is not None
        children = _children(process.pid)
        process.kill()
        process.join()
    seen = log.read_text(encoding="utf-8")
    assert process.exitcode == -signal.SIGKILL, seen
    # The process converting ahead (run_ahead) ends once orphaned: nothing is left running.
    assert children, "meridian import converts the next batches in a second process"
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{child}").exists() for child in children):
        assert time.monotonic() < deadline, f"{children} still running after the import died"
        time.sleep(0.1)
    return seen


def _children(pid: int) -> list[int]:
    listed = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in listed.split()]


@pytest.mark.long
def test_a_killed_import_goes_on_and_imports_each_row_once(
    env: dict[str, str], tmp_path: Path, database_url: str
) -> None:
    path, bad = _file(tmp_path)
    command = ["import", str(path), "--form", "customer", "--batch", str(BATCH)]
    engine = sa.create_engine(database_url)
    try:
        progress = []
        for kill in range(KILLS):
            _run_until_killed(command, env, tmp_path / f"killed-{kill}.log", batches=2 + kill)
            with engine.connect() as conn:
                progress.append(conn.scalar(sa.text("SELECT rows_done FROM sys_import")))
        assert progress[0] > 0 and progress[-1] < ROWS, progress
        assert progress == sorted(progress), progress
        log = tmp_path / "finished.log"
        finished = start_meridian(command, env, log, stdout=tmp_path / "finished.out")
        finished.join(timeout=900)
        if finished.is_alive():
            finished.kill()
            finished.join()
        output = (tmp_path / "finished.out").read_text(encoding="utf-8")
        assert finished.exitcode == 1, output + log.read_text(encoding="utf-8")
        out = output.splitlines()
        assert any(line.startswith("import 1: resuming after ") for line in out), out[:3]
        assert out[-1] == f"created {ROWS - bad}, updated 0, merged 0, rejected {bad}"
        with engine.connect() as conn:
            imports = conn.execute(sa.text("SELECT id, state, rows_done FROM sys_import")).all()
            assert [tuple(i) for i in imports] == [(1, "finished", ROWS)]
            outcomes = conn.execute(
                sa.text(
                    "SELECT outcome, count(*), count(DISTINCT row_number) FROM sys_import_row"
                    " GROUP BY outcome ORDER BY outcome"
                )
            ).all()
            assert [tuple(o) for o in outcomes] == [
                ("created", ROWS - bad, ROWS - bad),
                ("rejected", bad, bad),
            ]
            reasons = conn.scalars(
                sa.text("SELECT detail FROM sys_import_row WHERE outcome = 'rejected'")
            ).all()
            details = [json.loads(r) if isinstance(r, str) else r for r in reasons]
            assert all(
                d[0]["field"] == "industry" and d[0]["value"] == "不存在的行业" for d in details
            )
            names = conn.execute(
                sa.text("SELECT count(*), count(DISTINCT name) FROM data_customer")
            )
            assert tuple(names.one()) == (ROWS - bad, ROWS - bad)
            linked = conn.scalar(
                sa.text(
                    "SELECT count(*) FROM data_customer c JOIN sys_import_row r"
                    " ON r.record_id = c.id AND r.outcome = 'created'"
                )
            )
            assert linked == ROWS - bad
            history = conn.scalar(
                sa.text("SELECT count(*) FROM sys_record_history WHERE form_key = 'customer'")
            )
            assert history == ROWS - bad
    finally:
        engine.dispose()
