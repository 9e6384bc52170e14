"""``meridian import --on-duplicate merge|skip`` on the IDC customer form: a second file with
the same companies spelled otherwise, a USCC already stored and a repeated row; each row ends
merged, skipped (rejected with its reason) or created, the counts adding up, the pairs kept
for review under the import's id (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_import_run import customers_file, env, query, run, write_csv

__all__ = ["env"]


def _second_file(env: Path) -> Path:
    return write_csv(
        env / "客户2.csv",
        [
            "单位名称,统一社会信用代码,官网",
            "腾讯科技 (深圳) 有限公司,,https://www.tencent.com",  # the same name as stored
            "字节跳动(北京),91110108551385082Q,https://www.bytedance.com",  # the stored USCC
            "华东云数据中心运营服务有限公司,,",  # new
            "华东云数据中心运营服务有限责任公司,,https://hdy.example.com",  # the row above
        ],
    )


def test_duplicates_are_merged_into_stored_records(env: Path, database_url: str) -> None:
    code, _, err = run("import", str(customers_file(env)), "--form", "customer")
    assert code == 0, err
    code, out, err = run(
        "import", str(_second_file(env)), "--form", "customer", "--on-duplicate", "merge"
    )
    assert out.splitlines()[-1] == "created 1, updated 0, merged 3, rejected 0", out + err
    assert code == 0
    websites = dict(query(database_url, "SELECT name, website FROM data_customer"))
    by_start = {name[:2]: website for name, website in websites.items()}
    assert by_start["腾讯"] == "https://www.tencent.com"
    assert by_start["北京"] == "https://www.bytedance.com"
    # The last row repeats the one above it in the same batch: merged into its new record.
    assert websites["华东云数据中心运营服务有限公司"] == "https://hdy.example.com"
    assert len(websites) == 4
    pairs = query(
        database_url,
        "SELECT row, reason, record_id, other_row FROM sys_duplicate_candidate ORDER BY row",
    )
    assert [(row, reason) for row, reason, _, _ in pairs] == [
        (2, "same_name"),
        (3, "same_value"),
        (5, "same_name"),
    ]
    assert pairs[2][3] == 4


def test_duplicates_are_skipped_with_their_reason(env: Path, database_url: str) -> None:
    run("import", str(customers_file(env)), "--form", "customer")
    code, out, _ = run(
        "import", str(_second_file(env)), "--form", "customer", "--on-duplicate", "skip"
    )
    assert code == 1
    assert out.splitlines()[-1] == "created 1, updated 0, merged 0, rejected 3"
    assert "same 统一社会信用代码 as record" in out
    assert query(database_url, "SELECT count(*) FROM data_customer") == [(4,)]
    websites = query(database_url, "SELECT website FROM data_customer WHERE website IS NOT NULL")
    assert websites == []


def test_the_dry_run_is_the_run_writing_nothing(env: Path, database_url: str) -> None:
    """The dry run goes the run's way — deduplication, merging, the mapping given — so its
    rows and counts are the run's; before, it knew neither duplicates nor ``--mapping``."""
    run("import", str(customers_file(env)), "--form", "customer")
    mapping = env / "m.json"
    mapping.write_text(
        '{"columns": [{"header": "单位名称", "field": "name"},'
        ' {"header": "统一社会信用代码", "field": "uscc"}, {"header": "官网", "field": null}]}',
        encoding="utf-8",
    )
    ask = ("import", str(_second_file(env)), "--form", "customer", "--on-duplicate", "skip")
    code, dry, err = run(*ask, "--mapping", str(mapping), "--dry-run")
    assert code == 1, err
    assert "column '官网' -> (not imported)" in dry
    rows = [line for line in dry.splitlines() if line.startswith("row ")]
    assert dry.splitlines()[-1] == "created 1, updated 0, merged 0, rejected 3"
    assert query(database_url, "SELECT count(*) FROM data_customer") == [(3,)]
    assert query(database_url, "SELECT count(*) FROM sys_duplicate_candidate") == [(0,)]
    code, real, _ = run(*ask, "--mapping", str(mapping))
    assert real.splitlines()[-1] == dry.splitlines()[-1]
    assert [line for line in real.splitlines() if line.startswith("row ")] == rows
    assert query(database_url, "SELECT count(*) FROM data_customer") == [(4,)]
