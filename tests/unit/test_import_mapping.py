"""Suggested mappings from a file's headers to the IDC solution's real forms: by key or label,
by Chinese synonyms, by rapidfuzz similarity; one column per field, best pairs first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meridian.dataio.mapping import Suggestion, header_key, importable_fields, suggest_mapping
from meridian.schema.model import Form

PACKAGE = Path(__file__).resolve().parents[2] / "meridian/solutions/idc_crm/package.json"


@pytest.fixture(scope="module")
def forms() -> dict[str, Form]:
    package = json.loads(PACKAGE.read_text(encoding="utf-8"))
    return {spec["key"]: Form.model_validate(spec) for spec in package["forms"]}


def _fields(suggestions: list[Suggestion]) -> list[str | None]:
    return [s.field for s in suggestions]


@pytest.mark.parametrize("header", ["公司名称", "客户名称", "单位名称", "企业名称", "客户全称"])
def test_every_name_for_a_company_maps_to_the_customers_name(
    forms: dict[str, Form], header: str
) -> None:
    [suggestion] = suggest_mapping([header], forms["customer"])
    assert suggestion.field == "name"
    assert suggestion.basis == ("label" if header == "客户名称" else "synonym")
    assert suggestion.score == (100.0 if header == "客户名称" else 95.0)


def test_a_reps_sheet_maps_column_by_column(forms: dict[str, Form]) -> None:
    headers = ["序号", "单位名称 ", "信用代码", "所属行业", "人员规模*", "网站", "Remarks", ""]
    suggestions = suggest_mapping(headers, forms["customer"])
    assert _fields(suggestions) == [
        None,
        "name",
        "uscc",
        "industry",
        "scale",
        "website",
        None,
        None,
    ]
    assert suggestions[1] == Suggestion(1, "单位名称 ", "name", 95.0, "synonym")
    assert suggestions[4].basis == "label"
    assert suggestions[0] == Suggestion(0, "序号")


def test_keys_match_as_well_as_labels(forms: dict[str, Form]) -> None:
    suggestions = suggest_mapping(["Name", "USCC", "website"], forms["customer"])
    assert _fields(suggestions) == ["name", "uscc", "website"]
    assert {s.basis for s in suggestions} == {"key"}


def test_near_spellings_match_by_similarity(forms: dict[str, Form]) -> None:
    suggestions = suggest_mapping(["合同总金额", "开始日", "合同编码"], forms["contract"])
    assert _fields(suggestions) == ["amount", "start_date", None]
    assert suggestions[0].basis == "fuzzy"
    assert 80 <= suggestions[0].score < 95
    # 合同编号 is an auto number: a file never fills it
    assert "number" not in [f.key for f in importable_fields(forms["contract"])]


def test_a_field_takes_one_column_the_best_one(forms: dict[str, Form]) -> None:
    suggestions = suggest_mapping(["公司名称", "客户名称", "客户名"], forms["customer"])
    assert _fields(suggestions) == [None, "name", None]


def test_contacts_headers_map_to_the_contact_form(forms: dict[str, Form]) -> None:
    headers = ["联系人姓名", "联系电话", "电子邮箱", "所属公司", "主联系人"]
    assert _fields(suggest_mapping(headers, forms["contact"])) == [
        "name",
        "phone",
        "email",
        "customer",
        "is_primary",
    ]


def test_headers_are_compared_without_width_case_spaces_or_marks() -> None:
    assert header_key(" 客户名称（全称）* ") == "客户名称全称"
    assert header_key("Ｅ－ｍａｉｌ") == "email"
    assert header_key("Company_Name:") == "companyname"


def test_computed_and_column_less_fields_are_never_suggested(forms: dict[str, Form]) -> None:
    keys = [f.key for f in importable_fields(forms["quote"])]
    assert "total_amount" not in keys  # a formula
    assert "items" not in keys  # a child table
    assert "number" not in keys  # an auto number
    assert _fields(suggest_mapping(["报价总额", "报价明细"], forms["quote"])) == [None, None]
