"""``meridian import FILE --form KEY``: the real run on the IDC solution's forms — links found by
a customer's name (spelling variants alike) or 统一社会信用代码, owners by name or e-mail,
options by label or synonym; every row created or rejected with its reason, the counts adding
up, each imported record traceable to its import, the report listing every row, a saved
mapping reused, and the whole import rolled back. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


def query(database_url: str, sql: str, **params: object) -> list[tuple[object, ...]]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql), params)]
    finally:
        engine.dispose()


def write_csv(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def customers_file(env: Path) -> Path:
    return write_csv(
        env / "客户.csv",
        [
            "单位名称,统一社会信用代码,所属行业,客户状态",
            "腾讯科技（深圳）有限责任公司,91440300708461136T,互联网,活跃",
            "北京字节跳动科技有限公司,91110108551385082Q,互联网,潜在",
            "阿里云计算有限公司,,云服务,active",
        ],
        "gbk",
    )


def _report_table(report: Path) -> list[list[Any]]:
    """The report's first sheet as rows of values; the workbook is closed (read-only openpyxl
    keeps its file open until then, and an unclosed file fails a later test)."""
    book = openpyxl.load_workbook(report, read_only=True)
    try:
        return [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]
    finally:
        book.close()


def test_customers_then_contacts_linked_by_name_and_by_code(env: Path, database_url: str) -> None:
    code, out, err = run(
        "user",
        "create",
        "--email",
        "zhang.wei@example.com",
        "--password",
        "Secret-Pass-2026!",
        "--name",
        "张伟",
    )
    assert code == 0, err
    code, out, err = run("import", str(customers_file(env)), "--form", "customer")
    assert code == 0, out + err
    lines = out.splitlines()
    assert "mapping (suggested; --write-mapping M.json keeps it to edit):" in lines
    assert "column '单位名称' -> name" in lines
    assert lines[-1] == "created 3, updated 0, merged 0, rejected 0"
    tencent = query(database_url, "SELECT id FROM data_customer WHERE uscc = '91440300708461136T'")
    assert len(tencent) == 1

    contacts = write_csv(
        env / "联系人.csv",
        [
            "所属客户,姓名,手机,负责人,决策角色",
            "腾讯科技 (深圳) 有限公司,马化腾,138 0013 8000,张伟,决策者",
            "北京字节跳动科技有限公司,张一鸣,,zhang.wei@example.com,",
            "阿里云计算有限公司,王坚,,zhang.wei,拍板人",
            "不存在的公司,李四,,,",
            "北京字节跳动科技有限公司,赵六,,王五,",
            "北京字节跳动科技有限公司,,,,",
            "阿里云计算有限公司,钱七,12345,,",
        ],
    )
    mapping = env / "contacts.json"
    mapping.write_text(
        json.dumps(
            {
                "form": "contact",
                "columns": [
                    {"header": "所属客户", "field": "customer", "key": "name"},
                    {"header": "姓名", "field": "name"},
                    {"header": "手机", "field": "phone"},
                    {"header": "负责人", "field": "owner_id"},
                    {
                        "header": "决策角色",
                        "field": "decision_role",
                        "options": {"拍板人": "决策者"},
                    },
                ],
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    report = env / "report.xlsx"
    code, out, err = run(
        "import",
        str(contacts),
        "--form",
        "contact",
        "--mapping",
        str(mapping),
        "--report",
        str(report),
        "--save-mapping",
        "标准联系人",
    )
    assert code == 1, out + err
    lines = out.splitlines()
    assert lines[-1] == "created 3, updated 0, merged 0, rejected 4"
    rejected = {line.split(":")[0]: line for line in lines if line.startswith("row ")}
    assert "customer: no 客户 has 客户名称 '不存在的公司'" in rejected["row 5"]
    assert "owner_id: no user is named '王五'" in rejected["row 6"]
    assert "name: 姓名 is required" in rejected["row 7"]
    assert "phone:" in rejected["row 8"]
    rows = query(
        database_url,
        "SELECT c.name, c.customer, c.owner_id, c.decision_role, c.phone, k.name"
        " FROM data_contact c JOIN data_customer k ON k.id = c.customer ORDER BY c.id",
    )
    zhang = query(database_url, "SELECT id FROM sys_user WHERE email = 'zhang.wei@example.com'")
    assert [(r[0], r[5], r[2], r[3], r[4]) for r in rows] == [
        ("马化腾", "腾讯科技(深圳)有限责任公司", zhang[0][0], "decision_maker", "+8613800138000"),
        ("张一鸣", "北京字节跳动科技有限公司", zhang[0][0], None, None),
        ("王坚", "阿里云计算有限公司", zhang[0][0], "decision_maker", None),
    ]
    # Every created record carries its import; history and search text as any bulk create.
    (import_id,) = query(database_url, "SELECT id FROM sys_import WHERE form_key = 'contact'")[0]
    outcomes = query(
        database_url,
        "SELECT row_number, outcome, record_id FROM sys_import_row WHERE import_id = :i"
        " ORDER BY row_number",
        i=import_id,
    )
    assert [(r[0], r[1]) for r in outcomes] == [
        (2, "created"),
        (3, "created"),
        (4, "created"),
        (5, "rejected"),
        (6, "rejected"),
        (7, "rejected"),
        (8, "rejected"),
    ]
    created = sorted(r[2] for r in outcomes if r[1] == "created")
    history = query(
        database_url,
        "SELECT record_id FROM sys_record_history WHERE form_key = 'contact' AND action = 'create'",
    )
    assert sorted(r[0] for r in history) == created
    # The report: every row, its cells, outcome and reason.
    table = _report_table(report)
    assert table[0] == [
        "Row",
        "所属客户",
        "姓名",
        "手机",
        "负责人",
        "决策角色",
        "Outcome",
        "Record id",
        "Reason",
    ]
    assert [row[0] for row in table[1:]] == [2, 3, 4, 5, 6, 7, 8]
    assert [row[6] for row in table[1:]] == ["created"] * 3 + ["not imported"] * 4
    assert table[4][8] == "customer: no 客户 has 客户名称 '不存在的公司'"
    # The saved mapping is reused by name.
    code, out, err = run(
        "import",
        str(contacts),
        "--form",
        "contact",
        "--saved-mapping",
        "标准联系人",
        "--lang",
        "zh-CN",
    )
    assert out.splitlines()[-1] == "created 3, updated 0, merged 0, rejected 4", out + err


def test_a_link_by_uscc_an_ambiguous_name_and_the_rollback(env: Path, database_url: str) -> None:
    assert run("import", str(customers_file(env)), "--form", "customer")[0] == 0
    tickets = write_csv(
        env / "工单.csv",
        [
            "客户,标题,工单类型,优先级,状态",
            *[f"91440300708461136T,机柜断电{i},故障,P1,open" for i in range(5)],
            "91110000100017643K,找不到的客户,fault,p2,open",
        ],
    )
    mapping = env / "tickets.json"
    mapping.write_text(
        json.dumps(
            {
                "columns": [
                    {"header": "客户", "field": "customer", "key": "uscc"},
                    {"header": "标题", "field": "title"},
                    {"header": "工单类型", "field": "type", "options": {"故障": "fault"}},
                    {"header": "优先级", "field": "priority"},
                    {"header": "状态", "field": "status"},
                ]
            }
        ),
        encoding="utf-8",
    )
    code, out, err = run("import", str(tickets), "--form", "ticket", "--mapping", str(mapping))
    assert code == 1, out + err
    assert out.splitlines()[-1] == "created 5, updated 0, merged 0, rejected 1"
    assert "customer: no 客户 has 统一社会信用代码 '91110000100017643K'" in out
    (import_id,) = query(database_url, "SELECT id FROM sys_import WHERE form_key = 'ticket'")[0]
    code, out, err = run("import-rollback", str(import_id))
    assert code == 0, out + err
    assert "5 records moved to the trash" in out
    live = query(database_url, "SELECT count(*) FROM data_ticket WHERE deleted_at IS NULL")
    assert live == [(0,)]
    state = query(database_url, "SELECT state FROM sys_import WHERE id = :i", i=import_id)
    assert state == [("rolled_back",)]
    code, out, err = run("import-rollback", str(import_id))
    assert code == 1 and "already rolled back" in err


def test_an_unknown_mapping_column_or_field_is_refused_naming_it(env: Path) -> None:
    mapping = env / "bad.json"
    mapping.write_text(
        json.dumps(
            {
                "columns": [
                    {"header": "不存在的列", "field": "name"},
                    {"header": "单位名称", "field": "nope"},
                    {"header": "所属行业", "field": "industry", "key": "name"},
                ]
            }
        ),
        encoding="utf-8",
    )
    code, out, err = run(
        "import", str(customers_file(env)), "--form", "customer", "--mapping", str(mapping)
    )
    assert code == 2, out + err
    assert "the file has no column '不存在的列'" in err
    assert "form 'customer' has no field 'nope' a file can fill" in err
    assert "only a link column is looked up by a key" in err


def test_importing_needs_the_roles_import_permission(env: Path, database_url: str) -> None:
    for email, role in (("member@example.com", "member"), ("manager@example.com", "manager")):
        code, _, err = run(
            "user", "create", "--email", email, "--password", "Secret-Pass-2026!", "--role", role
        )
        assert code == 0, err
    path = customers_file(env)
    code, out, err = run("import", str(path), "--form", "customer", "--user", "member@example.com")
    assert code == 2, out + err
    assert "you may not import records of form 'customer'" in err
    assert query(database_url, "SELECT count(*) FROM data_customer") == [(0,)]
    assert query(database_url, "SELECT count(*) FROM sys_import") == [(0,)]
    code, out, err = run("import", str(path), "--form", "customer", "--user", "manager@example.com")
    assert code == 0, out + err
    owners = query(database_url, "SELECT DISTINCT owner_id FROM data_customer")
    manager = query(database_url, "SELECT id FROM sys_user WHERE email = 'manager@example.com'")
    assert owners == manager


def test_duplicates_merged_into_existing_records_and_earlier_rows_or_skipped(
    env: Path, database_url: str
) -> None:
    assert run("import", str(customers_file(env)), "--form", "customer")[0] == 0
    again = write_csv(
        env / "又一批.csv",
        [
            "客户名称,统一社会信用代码,官网,客户状态",
            "腾讯科技(深圳)有限公司,91440300708461136T,https://www.tencent.com,active",
            "云帆数据有限公司,913100001234567883,,prospect",
            "云帆数据有限责任公司,913100001234567883,https://yunfan.example.com,prospect",
            "全新客户有限公司,,,prospect",
        ],
    )
    code, out, err = run("import", str(again), "--form", "customer", "--on-duplicate", "merge")
    assert code == 0, out + err
    assert out.splitlines()[-1] == "created 2, updated 0, merged 2, rejected 0"
    # Row 4 repeats row 3 of the same batch: merged into the record row 3 made, its website
    # filling that record's blank one.
    rows = query(
        database_url,
        "SELECT name, website FROM data_customer WHERE uscc IN"
        " ('91440300708461136T', '913100001234567883') ORDER BY name",
    )
    assert rows == [
        ("云帆数据有限公司", "https://yunfan.example.com"),
        ("腾讯科技(深圳)有限责任公司", "https://www.tencent.com"),
    ]
    outcomes = query(
        database_url,
        "SELECT r.row_number, r.outcome FROM sys_import_row r JOIN sys_import i"
        " ON i.id = r.import_id WHERE i.file_name = '又一批.csv' ORDER BY r.row_number",
    )
    assert outcomes == [(2, "merged"), (3, "created"), (4, "merged"), (5, "created")]
    merged_into = query(
        database_url,
        "SELECT r.record_id FROM sys_import_row r JOIN sys_import i ON i.id = r.import_id"
        " WHERE i.file_name = '又一批.csv' AND r.row_number IN (3, 4) ORDER BY r.row_number",
    )
    assert merged_into[0] == merged_into[1]
    # Rolled back: the two new records to the trash, the merge put back.
    (merge_import,) = query(
        database_url, "SELECT id FROM sys_import WHERE file_name = '又一批.csv'"
    )[0]
    code, out, err = run("import-rollback", str(merge_import))
    assert code == 0, out + err
    assert "2 records moved to the trash, 1 updates put back, 0 kept" in out
    tencent = query(
        database_url, "SELECT website FROM data_customer WHERE uscc = '91440300708461136T'"
    )
    assert tencent == [(None,)]
    assert query(database_url, "SELECT count(*) FROM data_customer WHERE deleted_at IS NULL") == [
        (3,)
    ]
    code, out, err = run("import", str(again), "--form", "customer", "--on-duplicate", "merge")
    assert out.splitlines()[-1] == "created 2, updated 0, merged 2, rejected 0", out + err
    # The same file once more, skipping duplicates: every row is one now.
    code, out, err = run("import", str(again), "--form", "customer", "--on-duplicate", "skip")
    assert code == 1, out + err
    assert out.splitlines()[-1] == "created 0, updated 0, merged 0, rejected 4"
    assert "same 统一社会信用代码 as record" in out
    live = "SELECT count(*) FROM data_customer WHERE deleted_at IS NULL"
    assert query(database_url, live) == [(5,)]


def test_a_messy_workbook_every_row_created_or_rejected_with_its_reason(
    env: Path, database_url: str
) -> None:
    """Contracts from an .xlsx with a merged title, Excel serial dates and date cells, 万/亿
    amounts, and one bad row of each kind; nothing is dropped, amounts are exact."""
    assert run("import", str(customers_file(env)), "--form", "customer")[0] == 0
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["2025 年合同台账（华南）"])
    sheet.merge_cells("A1:G1")
    sheet.append(["客户", "SLA等级", "开始日期", "结束日期", "合同金额", "付款周期", "合同状态"])
    good = [
        ["腾讯科技（深圳）有限公司", "99.9", 45658, "2026年1月1日", "¥1,200万", "月付", "signed"],
        ["北京字节跳动科技有限公司", "99.99", "2025/3/5", 46000, "12.5万元", "季付", "active"],
        ["阿里云计算有限公司", "99.95", "20250101", "2025.12.31", "1.2亿", "年付", "draft"],
    ]
    bad = [
        ["阿里云计算有限公司", "99.9", "2025-02-30", "2025-12-31", "100", "月付", "draft"],
        ["阿里云计算有限公司", "99.9", "2025-01-01", "2025-12-31", "十万", "月付", "draft"],
        ["阿里云计算有限公司", "99.999", "2025-01-01", "2025-12-31", "100", "月付", "draft"],
        ["不存在的公司", "99.9", "2025-01-01", "2025-12-31", "100", "月付", "draft"],
        ["阿里云计算有限公司", "99.9", None, "2025-12-31", "100", "月付", "draft"],
    ]
    for row in good + bad:
        sheet.append(row)
    sheet.append([None] * 7)  # a blank line is not a record
    path = env / "合同.xlsx"
    book.save(path)
    mapping = env / "contracts.json"
    mapping.write_text(
        json.dumps(
            {
                "columns": [
                    {"header": "客户", "field": "customer"},
                    {"header": "SLA等级", "field": "sla_level"},
                    {"header": "开始日期", "field": "start_date"},
                    {"header": "结束日期", "field": "end_date"},
                    {"header": "合同金额", "field": "amount"},
                    {
                        "header": "付款周期",
                        "field": "payment_cycle",
                        "options": {"月付": "monthly", "季付": "quarterly", "年付": "annual"},
                    },
                    {"header": "合同状态", "field": "status"},
                ]
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    report = env / "合同报告.xlsx"
    code, out, err = run(
        "import",
        str(path),
        "--form",
        "contract",
        "--mapping",
        str(mapping),
        "--report",
        str(report),
        "--lang",
        "zh-CN",
    )
    assert code == 1, out + err
    assert out.splitlines()[-1] == "created 3, updated 0, merged 0, rejected 5"
    rejected = {line.split(":")[0]: line for line in out.splitlines() if line.startswith("row ")}
    assert set(rejected) == {f"row {n}" for n in range(6, 11)}
    assert "start_date:" in rejected["row 6"] and "2025-02-30" in rejected["row 6"]
    assert "amount:" in rejected["row 7"] and "十万" in rejected["row 7"]
    assert "sla_level:" in rejected["row 8"]
    assert "customer: 没有客户名称为 '不存在的公司' 的客户" in rejected["row 9"]  # --lang zh-CN
    assert "start_date:" in rejected["row 10"]
    rows = query(
        database_url,
        "SELECT start_date, end_date, amount, payment_cycle FROM data_contract ORDER BY id",
    )
    as_text = [(str(r[0])[:10], str(r[1])[:10], r[2], r[3]) for r in rows]
    assert as_text == [
        ("2025-01-01", "2026-01-01", 1_200_000_000, "monthly"),
        ("2025-03-05", "2025-12-09", 12_500_000, "quarterly"),
        ("2025-01-01", "2025-12-31", 12_000_000_000, "annual"),
    ]
    table = _report_table(report)
    assert table[0][0] == "行号" and table[0][-3:] == ["结果", "记录 ID", "原因"]
    assert [r[0] for r in table[1:]] == list(range(3, 11))
    assert [r[-3] for r in table[1:4]] == ["已新建"] * 3
    # A rejected row is 未导入 (not imported), the import's own word, not approvals' 驳回.
    assert all(r[-3] == "未导入" and r[-1] for r in table[4:])
    assert "没有客户名称为 '不存在的公司' 的客户" in table[7][-1]
