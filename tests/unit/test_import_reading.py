"""Reading the files customers bring, generated here as their spreadsheets write them: a GBK
CSV from Excel on a Chinese Windows, an .xlsx with a merged title above the header and serial
dates, several sheets, a TSV; rows come out streamed with their row numbers."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from meridian.dataio.reading import (
    SourceRow,
    detect_encoding,
    find_header,
    read_sheet,
    read_sheets,
    sheet_names,
)
from meridian.errors import InvalidValue

ROWS = [
    ["腾讯科技（深圳）有限公司", "138 0013 8000", "2024年3月5日", "￥1,200万"],
    ["北京字节跳动科技有限公司", "+86 139-1234-5678", "20240306", "12.5万元"],
    ["阿里巴巴（中国）有限公司", "0571-85022088", "2024/3/7", "1.2亿"],
]


def _csv(path: Path, text: str, encoding: str) -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_a_gbk_csv_is_detected_and_read(tmp_path: Path) -> None:
    lines = ["公司名称,联系电话,签约日期,合同金额", *(",".join(f'"{c}"' for c in r) for r in ROWS)]
    path = _csv(tmp_path / "客户.csv", "\r\n".join(lines) + "\r\n", "gbk")
    sheet = read_sheet(path)
    assert sheet.encoding == "gb18030"
    assert sheet.name == "客户"
    assert sheet.header == ("公司名称", "联系电话", "签约日期", "合同金额")
    assert sheet.header_row == 1
    assert list(sheet.rows) == [SourceRow(n, tuple(r)) for n, r in enumerate(ROWS, start=2)]


def test_a_gb18030_only_character_decodes(tmp_path: Path) -> None:
    # 䶮 is outside GBK; a file saved as GB18030 holds it.
    path = _csv(tmp_path / "a.csv", "客户名称,备注\n刘䶮贸易有限公司,老客户\n" * 40, "gb18030")
    sheet = read_sheet(path)
    assert sheet.encoding == "gb18030"
    assert next(sheet.rows).cells == ("刘䶮贸易有限公司", "老客户")


def test_utf8_with_and_without_a_bom(tmp_path: Path) -> None:
    text = "客户名称,行业\n腾讯,互联网\n"
    with_bom = _csv(tmp_path / "bom.csv", "\ufeff" + text, "utf-8")
    plain = _csv(tmp_path / "plain.csv", text, "utf-8")
    assert read_sheet(with_bom).encoding == "utf-8-sig"
    assert read_sheet(with_bom).header == ("客户名称", "行业")
    assert read_sheet(plain).encoding == "utf-8"
    assert list(read_sheet(plain).rows) == [SourceRow(2, ("腾讯", "互联网"))]


def test_detect_encoding_tells_utf8_from_gbk() -> None:
    assert detect_encoding("客户名称".encode()) == "utf-8"
    assert detect_encoding("客户名称,联系人,电话号码\n".encode("gbk") * 20) == "gb18030"
    # a sample cut through the middle of a UTF-8 character is still UTF-8
    assert detect_encoding("客户名称".encode()[:-1]) == "utf-8"


def test_a_tsv_with_a_title_line_and_blank_lines(tmp_path: Path) -> None:
    text = "2024年客户清单\n\n客户名称\t电话\t备注\n腾讯\t13800138000\t\n\n\n阿里\t\t重点\n"
    sheet = read_sheet(_csv(tmp_path / "list.tsv", text, "utf-8"))
    assert sheet.header == ("客户名称", "电话", "备注")
    assert sheet.header_row == 3
    assert list(sheet.rows) == [
        SourceRow(4, ("腾讯", "13800138000", None)),
        SourceRow(7, ("阿里", None, "重点")),
    ]


def _workbook(path: Path) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "客户"
    sheet.append(["2024 年华东区客户清单（销售部）"])
    sheet.merge_cells("A1:E1")
    sheet.append(["公司名称", "联系电话", "签约日期", "合同金额", " 备注 "])
    sheet.append(["腾讯科技（深圳）有限公司", 13800138000, 45356, "1.2亿", None])
    date_cell = sheet.cell(row=3, column=3)
    assert date_cell.value == 45356  # a serial in a number-formatted cell
    sheet.append(
        ["阿里巴巴（中国）有限公司", "0571-85022088", datetime(2024, 3, 7), 1234.5, "重点"]
    )
    sheet.append([None, None, None, None, None])
    sheet.append(["  ", None, None, None, "只有备注"])
    second = book.create_sheet("联系人")
    second.append(["联系人", "手机", "所属公司"])
    second.append(["张三", "139 1234 5678", "腾讯"])
    book.create_sheet("空白")
    book.save(path)
    return path


def test_an_xlsx_with_a_merged_title_serial_dates_and_blank_rows(tmp_path: Path) -> None:
    sheet = read_sheet(_workbook(tmp_path / "客户.xlsx"))
    assert sheet.name == "客户"
    assert sheet.encoding is None
    assert sheet.header == ("公司名称", "联系电话", "签约日期", "合同金额", "备注")
    assert sheet.header_row == 2
    assert list(sheet.rows) == [
        SourceRow(3, ("腾讯科技（深圳）有限公司", 13800138000, 45356, "1.2亿", None)),
        SourceRow(
            4, ("阿里巴巴（中国）有限公司", "0571-85022088", date(2024, 3, 7), 1234.5, "重点")
        ),
        SourceRow(6, ("  ", None, None, None, "只有备注")),
    ]


def test_every_sheet_with_a_header_is_read_in_order(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "book.xlsx")
    assert sheet_names(path) == ["客户", "联系人", "空白"]
    sheets = [(s.name, s.header, [r.cells for r in s.rows]) for s in read_sheets(path)]
    assert [name for name, _, _ in sheets] == ["客户", "联系人"]
    assert sheets[1] == (
        "联系人",
        ("联系人", "手机", "所属公司"),
        [("张三", "139 1234 5678", "腾讯")],
    )
    assert read_sheet(path, "联系人").header_row == 1


def test_a_sheet_that_starts_lower_down_keeps_its_row_numbers(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet["B4"] = "客户名称"
    sheet["C4"] = "行业"
    sheet["B5"] = "腾讯"
    sheet["C5"] = "互联网"
    book.save(tmp_path / "low.xlsx")
    found = read_sheet(tmp_path / "low.xlsx")
    assert found.header_row == 4
    assert list(found.rows) == [SourceRow(5, ("腾讯", "互联网"))]


def test_rows_are_streamed_not_listed(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as file:
        file.write("客户名称,序号\n")
        for n in range(5000):
            file.write(f"客户{n},{n}\n")
    sheet = read_sheet(path)
    assert isinstance(sheet.rows, Iterator)
    assert inspect.isgenerator(sheet.rows)
    assert next(sheet.rows) == SourceRow(2, ("客户0", "0"))
    assert sum(1 for _ in sheet.rows) == 4999


def test_rows_wider_or_narrower_than_the_header_are_fitted(tmp_path: Path) -> None:
    text = "客户名称,电话\n腾讯\n阿里,0571,多出来的\n"
    rows = list(read_sheet(_csv(tmp_path / "ragged.csv", text, "utf-8")).rows)
    assert rows == [SourceRow(2, ("腾讯", None)), SourceRow(3, ("阿里", "0571"))]


def test_find_header_skips_titles_and_blank_rows() -> None:
    assert (
        find_header([("清单", None, None), (None, None, None), ("a", "b", "c"), ("x", 1, 2)]) == 2
    )
    assert find_header([("a", "b"), ("x", "y")]) == 0
    assert find_header([("only",), ("x",)]) == 0
    assert find_header([(None,), ("",)]) is None
    # a header with a blank cell still fills more than half of the widest row
    assert find_header([("title",), ("a", None, "c"), (1, 2, 3)]) == 1


def test_files_that_cannot_be_read_are_refused_with_the_name(tmp_path: Path) -> None:
    with pytest.raises(InvalidValue) as error:
        read_sheet(_csv(tmp_path / "notes.pdf", "x", "utf-8"))
    assert error.value.code == "unsupported_file"
    assert error.value.message == "'notes.pdf' is not an .xlsx, .xls, .csv or .tsv file"
    with pytest.raises(InvalidValue) as error:
        read_sheet(_csv(tmp_path / "broken.xlsx", "not a zip", "utf-8"))
    assert error.value.code == "unreadable_file"
    with pytest.raises(InvalidValue) as error:
        read_sheet(_csv(tmp_path / "empty.csv", "\n\n", "utf-8"))
    assert error.value.code == "empty_file"
    with pytest.raises(InvalidValue) as error:
        read_sheet(_workbook(tmp_path / "book.xlsx"), "订单")
    assert error.value.code == "no_sheet"
    assert error.value.message == "'book.xlsx' has no sheet '订单'"


def test_a_chosen_header_row_is_read_instead_of_the_one_found(tmp_path: Path) -> None:
    path = tmp_path / "noted.csv"
    path.write_text("填表说明,日期写作 2024-03-05\n公司名称,签约日期\n\nACME,2024-03-05\n", "utf-8")
    assert read_sheet(path).header_row == 1
    sheet = read_sheet(path, header_row=2)
    assert (sheet.header, sheet.header_row) == (("公司名称", "签约日期"), 2)
    assert [row.number for row in sheet.rows] == [4]
    for blank_or_past in (3, 9):
        with pytest.raises(InvalidValue) as refused:
            read_sheet(path, header_row=blank_or_past)
        assert refused.value.code == "blank_header_row"
