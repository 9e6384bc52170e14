"""``meridian import FILE --form KEY --dry-run`` on the IDC solution's customer form: a GBK CSV
and an .xlsx with a merged title, every row reported created or rejected with its reasons, the
counts adding up to the rows read, and nothing written to the database."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from meridian.cli.main import cli

PACKAGE = Path(__file__).resolve().parents[2] / "meridian/solutions/idc_crm/package.json"


@pytest.fixture
def env(tmp_path: Path, database_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The IDC solution's forms, installed by the command line on a copy of the migrated
    template (``engine``): ``init`` finds the tables there, as on a second start; running the
    migrations themselves is ``test_migrations``' and ``test_cli``'s."""
    monkeypatch.setenv("MERIDIAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MERIDIAN_DATABASE_URL", database_url)
    monkeypatch.setenv("MERIDIAN_PASSWORD_HASHING", "argon2-minimal-for-tests")
    assert run("init")[0] == 0
    code, _, err = run("app", "import", str(PACKAGE))
    assert code == 0, err
    return tmp_path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def _customers(database_url: str) -> int:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM data_customer")).scalar_one())
    finally:
        engine.dispose()


def test_a_gbk_csv_dry_run_reports_every_row_and_writes_nothing(
    env: Path, database_url: str
) -> None:
    lines = [
        "单位名称,统一社会信用代码,所属行业,官网,备注",
        "腾讯科技（深圳）有限公司,91440300708461136T,互联网,https://www.tencent.com,老客户",
        "北京字节跳动科技有限公司,91110108551385082Q,互联网,,",
        ",91110000100017643K,金融,,缺名称",
        "坏代码公司,12345,游戏,,",
        "某某物流,,快递,,",
    ]
    path = env / "客户.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))
    code, out, err = run("import", str(path), "--form", "customer", "--dry-run")
    assert code == 1, err
    output = out.splitlines()
    assert output[0] == "sheet '客户', header on row 1, read as gb18030"
    assert output[1:6] == [
        "column '单位名称' -> name (synonym 95)",
        "column '统一社会信用代码' -> uscc (label 100)",
        "column '所属行业' -> industry (synonym 95)",
        "column '官网' -> website (label 100)",
        "column '备注' -> (not imported)",
    ]
    rejected = [line for line in output if line.startswith("row ")]
    assert rejected[0] == "row 4: rejected: name: 客户名称 is required"
    assert rejected[1].startswith("row 5: rejected: uscc: ")
    assert rejected[2].startswith("row 6: rejected: industry: ")
    assert "快递" in rejected[2]
    assert len(rejected) == 3
    assert output[-2:] == [
        "dry run: nothing was written",
        "created 2, updated 0, merged 0, rejected 3",
    ]
    assert _customers(database_url) == 0


def test_an_xlsx_dry_run_on_a_sample_with_steps(env: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "华东"
    sheet.append(["2024 年华东区客户"])
    sheet.merge_cells("A1:C1")
    sheet.append(["客户名称", "行业", "客户等级"])
    sheet.append(["ＡＣＭＥ（中国）有限公司 ", "金融", None])
    sheet.append(["  云帆科技  ", "云服务", None])
    sheet.append(["第三行", "不存在的行业", None])
    book.save(env / "华东.xlsx")
    code, out, err = run(
        "import",
        str(env / "华东.xlsx"),
        "--form",
        "customer",
        "--dry-run",
        "--sample",
        "2",
        "--verbose",
    )
    assert code == 0, err
    output = out.splitlines()
    assert output[0] == "sheet '华东', header on row 2"
    assert "row 3: created (full-width characters made half-width, spaces trimmed)" in output
    assert "row 4: created (spaces trimmed)" in output
    assert output[-1] == "created 2, updated 0, merged 0, rejected 0"


def test_a_file_or_form_that_cannot_be_used_is_refused(env: Path) -> None:
    (env / "notes.pdf").write_bytes(b"%PDF")
    code, _, err = run("import", str(env / "notes.pdf"), "--form", "customer", "--dry-run")
    assert code == 2
    assert "'notes.pdf' is not an .xlsx, .xls, .csv or .tsv file" in err
    (env / "a.csv").write_text("客户名称\nACME\n", encoding="utf-8")
    code, _, err = run("import", str(env / "a.csv"), "--form", "nope", "--dry-run")
    assert code == 1
    assert "form 'nope' does not exist" in err
    code, _, err = run("import", str(env / "a.csv"), "--form", "customer", "--on-duplicate", "x")
    assert code == 2
    assert "--on-duplicate is one of keep, merge, skip" in err


def test_the_header_row_is_chosen_with_header_row(env: Path, database_url: str) -> None:
    """A notes row above the header is all text, so it is found as the header; ``--header-row
    2`` reads the header below it, the suggested mapping follows, and the data starts on row
    3. A row that cannot be the header is refused with exit 2, naming it."""
    lines = [
        "填表说明,代码写作 18 位,官网可空",
        "单位名称,统一社会信用代码,官网",
        "腾讯科技（深圳）有限公司,91440300708461136T,https://www.tencent.com",
    ]
    path = env / "带说明.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out, err = run("import", str(path), "--form", "customer", "--dry-run")
    assert "header on row 1" in out.splitlines()[0]
    code, out, err = run(
        "import", str(path), "--form", "customer", "--header-row", "2", "--dry-run"
    )
    assert code == 0, out + err
    output = out.splitlines()
    assert output[0] == "sheet '带说明', header on row 2, read as utf-8"
    assert any(line.startswith("column '单位名称' -> name") for line in output), output
    assert output[-1] == "created 1, updated 0, merged 0, rejected 0"
    code, _, err = run("import", str(path), "--form", "customer", "--header-row", "7", "--dry-run")
    assert code == 2
    assert "row 7 of sheet '带说明' cannot be the header" in err
    assert _customers(database_url) == 0
