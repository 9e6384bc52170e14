"""A messy sheet read, mapped and converted row by row against the IDC solution's forms: the
field type picks each cell's converter, its ``parse`` checks the result, and every refused cell
names its field, reason and value — no row is dropped and no amount passes through a float."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from meridian.dataio.cleansing import (
    AMOUNT_SYMBOLS,
    AMOUNT_UNIT,
    DATE_REWRITTEN,
    EXCEL_SERIAL,
    HALF_WIDTH,
    PHONE_NORMALISED,
    TRIMMED,
)
from meridian.dataio.converting import CellReport, convert_cell, convert_row
from meridian.dataio.mapping import suggest_mapping
from meridian.dataio.reading import SourceRow, read_sheet
from meridian.schema.fieldtypes import FieldType, ValueContext, field_type
from meridian.schema.model import Field, Form

PACKAGE = Path(__file__).resolve().parents[2] / "meridian/solutions/idc_crm/package.json"
CTX = ValueContext(ZoneInfo("Asia/Shanghai"))


@pytest.fixture(scope="module")
def forms() -> dict[str, Form]:
    package = json.loads(PACKAGE.read_text(encoding="utf-8"))
    return {spec["key"]: Form.model_validate(spec) for spec in package["forms"]}


def _field(form: Form, key: str) -> Field:
    return next(f for f in form.fields if f.key == key)


def test_a_messy_contract_sheet_converts_row_by_row(forms: dict[str, Form], tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["2024 年合同台账"])
    sheet.merge_cells("A1:E1")
    sheet.append(["开始日期", "结束日", "合同总金额", "付款周期", "备注"])
    sheet.append([45356, "2025年3月4日", "¥1,200万", "月付", "老客户"])
    sheet.append([datetime(2024, 3, 6), "2025/3/5", "12.5万元", "季付", None])
    sheet.append(["2024-02-30", "20250306", 1234.5, "季付", None])
    sheet.append(["明天", None, "十万", "每两年", None])
    book.save(tmp_path / "合同.xlsx")

    contract = forms["contract"]
    source = read_sheet(tmp_path / "合同.xlsx")
    mapping = suggest_mapping(source.header, contract)
    assert [s.field for s in mapping] == ["start_date", "end_date", "amount", "payment_cycle", None]
    columns = [_field(contract, s.field) if s.field else None for s in mapping]
    reports = [convert_row(row, columns, CTX) for row in source.rows]

    assert [r.number for r in reports] == [3, 4, 5, 6]
    assert [r.rejected for r in reports] == [False, False, True, True]
    assert reports[0].values == {
        "start_date": "2024-03-05",
        "end_date": "2025-03-04",
        "amount": "12000000.00",
        "payment_cycle": "monthly",
    }
    assert [c.steps for c in reports[0].cells] == [
        (EXCEL_SERIAL,),
        (DATE_REWRITTEN,),
        (AMOUNT_SYMBOLS, AMOUNT_UNIT),
        (),
    ]
    assert reports[1].values == {
        "start_date": "2024-03-06",
        "end_date": "2025-03-05",
        "amount": "125000.00",
        "payment_cycle": "quarterly",
    }
    assert reports[2].values == {
        "end_date": "2025-03-06",
        "amount": "1234.50",
        "payment_cycle": "quarterly",
    }
    [bad_day] = reports[2].refusals
    assert (bad_day.field, bad_day.cell, bad_day.refusal) == (
        "start_date",
        "2024-02-30",
        "invalid_date",
    )
    assert bad_day.reason == "'2024-02-30' is not a day in the calendar"
    assert [(c.field, c.refusal) for c in reports[3].refusals] == [
        ("start_date", "invalid_date"),
        ("amount", "invalid_amount"),
        ("payment_cycle", "invalid_option"),
    ]
    assert reports[3].refusals[2].reason is not None
    assert "每两年" in reports[3].refusals[2].reason


def test_the_field_type_names_the_converter(forms: dict[str, Form]) -> None:
    contact, opportunity = forms["contact"], forms["opportunity"]
    phone = convert_cell(_field(contact, "phone"), "+86 138-0013-8000", CTX)
    assert phone == CellReport("phone", "+86 138-0013-8000", "+8613800138000", (PHONE_NORMALISED,))
    name = convert_cell(_field(contact, "name"), " 张　三 ", CTX)
    assert (name.value, name.steps) == ("张 三", (HALF_WIDTH, TRIMMED))
    cabinets = convert_cell(_field(opportunity, "cabinets"), "1.2万", CTX)
    assert (cabinets.value, cabinets.steps) == (12000, (AMOUNT_UNIT,))
    money = convert_cell(_field(opportunity, "expected_amount"), "0.35万", CTX)
    assert money.value == "3500.00"
    stored = field_type(_field(opportunity, "expected_amount")).parse(
        _field(opportunity, "expected_amount"), money.value, CTX
    )
    assert stored == 350000  # cents, exact


def test_a_value_the_type_refuses_after_cleansing_is_reported(forms: dict[str, Form]) -> None:
    opportunity = forms["opportunity"]
    half = convert_cell(_field(opportunity, "cabinets"), "2.5", CTX)
    assert (half.refusal, half.value) == ("not_integer", None)
    assert half.reason == "'2.5' is not a whole number"
    phone = convert_cell(_field(forms["contact"], "phone"), "12345", CTX)
    assert phone.refusal == "invalid_phone"
    amount = convert_cell(_field(opportunity, "expected_amount"), "1.234", CTX)
    assert amount.refusal is not None and amount.value is None


def test_blank_cells_give_no_value_and_no_refusal(forms: dict[str, Form]) -> None:
    contract = forms["contract"]
    columns = [_field(contract, "start_date"), None, _field(contract, "amount")]
    report = convert_row(SourceRow(9, ("  ", "ignored", None)), columns, CTX)
    assert report.values == {}
    assert not report.rejected
    assert [c.field for c in report.cells] == ["start_date", "amount"]


def test_a_plugin_type_without_a_converter_of_its_own_gets_tidy_text() -> None:
    class Stars(FieldType):
        name = "stars"

    assert Stars.import_cleanser == "tidy_text"
