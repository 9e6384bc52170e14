"""The hand-assembled .xlsx stream: every kind of cell an export writes lands where it belongs
and reads back the same through two independent readers (openpyxl and python-calamine, the
import's reader); text is escaped, control characters kept as Excel writes them, amounts a
double cannot hold kept exact as text, and the sheet's name made legal."""

from __future__ import annotations

import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from meridian.dataio import xlsx_stream
from meridian.dataio.xlsx_stream import MAX_TEXT, write_sheet

HEADER = ["ID", "客户名称", "金额", "签约日", "拜访时间", "完成", *(f"c{i}" for i in range(24))]
ROWS = [
    [
        1,
        'A&B <公司> "引号" ',
        Decimal("1200.50"),
        date(2026, 3, 5),
        datetime(2026, 3, 5, 10, 30),
        True,
        *range(24),
    ],
    [2, None, Decimal("12345678901234.56"), None, None, False, *([None] * 23), "last"],
    [3, "bell\x07 tab\there", 1.5, date(1900, 3, 1), None, None, "_x0041_ 编号"],
]


def test_every_cell_reads_back_where_it_was_written(tmp_path: Path) -> None:
    path = tmp_path / "deals.xlsx"
    progress: list[int] = []
    written = write_sheet(
        path, HEADER, iter(ROWS), sheet="商机[2026]:*?", progress=progress.append, progress_rows=2
    )
    assert written == 3 and progress == [2]
    book = openpyxl.load_workbook(path)
    sheet = book.active
    assert sheet.title == "商机_2026____"
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0] == HEADER
    assert sheet["A1"].font.b and not sheet["A2"].font.b
    assert values[1][:6] == [
        1,
        'A&B <公司> "引号" ',
        1200.5,
        datetime(2026, 3, 5),
        datetime(2026, 3, 5, 10, 30),
        True,
    ]
    assert values[1][6:] == list(range(24))
    assert values[2][:6] == [2, None, "12345678901234.56", None, None, False]
    assert sheet["AD3"].value == "last"
    assert values[3][1] == "bell_x0007_ tab\there"
    assert sheet["C4"].value == 1.5 and sheet["D4"].number_format == "yyyy-mm-dd"
    assert sheet["E2"].number_format == "yyyy-mm-dd hh:mm"

    read = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    assert read[0] == HEADER
    assert read[1][1] == 'A&B <公司> "引号" ' and read[1][2] == 1200.5
    assert read[2][2] == "12345678901234.56" and read[2][29] == "last"
    assert read[3][1] == "bell\x07 tab\there"  # the control character decoded again
    assert read[3][6] == "_x0041_ 编号"  # text that looks like an escape, as written


@pytest.mark.parametrize("length", [MAX_TEXT, MAX_TEXT + 10])
def test_a_cell_keeps_at_most_what_excel_keeps(tmp_path: Path, length: int) -> None:
    path = tmp_path / "long.xlsx"
    write_sheet(path, ["备注"], [["长" * length]])
    assert openpyxl.load_workbook(path).active["A2"].value == "长" * MAX_TEXT


def test_an_empty_export_is_its_header(tmp_path: Path) -> None:
    path = tmp_path / "empty.xlsx"
    assert write_sheet(path, ["ID", "名称"], []) == 0
    assert [[c.value for c in row] for row in openpyxl.load_workbook(path).active.iter_rows()] == [
        ["ID", "名称"]
    ]


def test_amounts_are_numbers_while_a_double_holds_them_else_exact_text(tmp_path: Path) -> None:
    amounts = [
        Decimal("1234.50"),
        Decimal("-0.01"),
        Decimal("1E+2"),
        Decimal("1.2E+8"),
        Decimal("0.000000000000000001"),
        Decimal("123456789012345"),
        Decimal("1234567890123456"),
        Decimal("-12345678901234.56"),
        Decimal("NaN"),
        Decimal("-Infinity"),
    ]
    path = tmp_path / "amounts.xlsx"
    write_sheet(path, ["金额"], [[amount] for amount in amounts])
    read = [row[0].value for row in openpyxl.load_workbook(path).active.iter_rows(min_row=2)]
    assert read == [
        1234.5,
        -0.01,
        100,
        120000000,
        1e-18,
        123456789012345,
        "1234567890123456",
        "-12345678901234.56",
        "NaN",
        "-Infinity",
    ]


def test_texts_repeated_or_not_read_back_past_what_a_column_remembers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xlsx_stream, "TEXTS_REMEMBERED", 8)
    rows = [[f"客户{n}", ["上海", "北京", " 深圳"][n % 3], f"阶段{n % 20}"] for n in range(100)]
    path = tmp_path / "texts.xlsx"
    write_sheet(path, ["客户", "城市", "阶段"], rows)
    sheet = openpyxl.load_workbook(path).active
    assert [[c.value for c in row] for row in sheet.iter_rows(min_row=2)] == rows


def test_a_cut_text_keeps_its_escapes_whole(tmp_path: Path) -> None:
    text = "长" * (MAX_TEXT - 2) + "&<\x07x"
    path = tmp_path / "cut.xlsx"
    write_sheet(path, ["备注"], [[text]])
    assert openpyxl.load_workbook(path).active["A2"].value == "长" * (MAX_TEXT - 2) + "&<"
    assert b"xml:space" not in _sheet_xml(path)
    write_sheet(path, ["备注"], [[" 前后有空格 "]])
    assert b'<t xml:space="preserve"> ' in _sheet_xml(path)


def _sheet_xml(path: Path) -> bytes:
    with zipfile.ZipFile(path) as book:
        return book.read("xl/worksheets/sheet1.xml")


AMOUNTS = [
    (Decimal("1234.56"), 1234.56),
    (Decimal("-0.05"), -0.05),
    (Decimal("-123456789012.345"), -123456789012.345),  # 15 digits: a number
    (Decimal("1E+3"), 1000.0),  # an exponent: through a double
    (Decimal("1.5E-7"), 1.5e-7),
    (Decimal("0"), 0),
    (Decimal("-1234567890123.456"), "-1234567890123.456"),  # 16 digits: text, exact
    (Decimal("NaN"), "NaN"),
    (Decimal("-Infinity"), "-Infinity"),
]


def test_an_amount_is_a_number_when_a_double_holds_it_and_exact_text_otherwise(
    tmp_path: Path,
) -> None:
    path = tmp_path / "amounts.xlsx"
    write_sheet(path, ["金额"], [[amount] for amount, _ in AMOUNTS])
    read = [row[0].value for row in openpyxl.load_workbook(path).active.iter_rows(min_row=2)]
    assert read == [expected for _, expected in AMOUNTS]
    by_calamine = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()[1:]
    assert [row[0] for row in by_calamine] == [expected for _, expected in AMOUNTS]


def test_dates_repeated_down_and_across_columns_read_back_past_what_is_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xlsx_stream, "TEXTS_REMEMBERED", 8)
    rows = [
        [date(2026, 1 + n % 12, 1 + n % 28), None, date(2026, 1 + n % 3, 5), f"商机{n}"]
        for n in range(60)
    ]
    path = tmp_path / "dates.xlsx"
    write_sheet(path, ["签约日", "空", "到期日", "名称"], rows)
    sheet = openpyxl.load_workbook(path).active
    read = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    assert read == [
        [datetime(d.year, d.month, d.day) if d else d for d in row[:3]] + row[3:] for row in rows
    ]
    assert all(sheet.cell(r, 3).number_format == "yyyy-mm-dd" for r in range(2, 62))
    by_calamine = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()[1:]
    assert [[row[0], row[2], row[3]] for row in by_calamine] == [
        [row[0], row[2], row[3]] for row in rows
    ]


def test_the_sheet_is_deflated_by_isal_where_zipfile_lets_its_deflater_be_given(
    tmp_path: Path,
) -> None:
    """The sheet's entry gets ISA-L's deflater in place of zlib's through zipfile's private
    ``_compressor``: a Python whose zipfile lost it would quietly deflate with zlib, slower."""
    assert xlsx_stream.deflating.__name__ == "isal.isal_zlib", "isal is pinned: make install"
    with zipfile.ZipFile(tmp_path / "probe.zip", "w", compression=zipfile.ZIP_DEFLATED) as book:
        with book.open("probe", "w") as part:
            assert hasattr(part, "_compressor")
    rows = [[n, f"客户{n % 7}", Decimal(n) / 100, date(2026, 3, 5)] for n in range(5000)]
    path = tmp_path / "deflated.xlsx"
    write_sheet(path, ["ID", "客户", "金额", "日期"], rows)
    read = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()[1:]
    assert [row[1] for row in read] == [row[1] for row in rows]
    assert [row[2] for row in read] == [float(row[2]) for row in rows]


def test_progress_and_chunks_fall_where_each_is_due(tmp_path: Path) -> None:
    """Progress every 700 rows while chunks go every :data:`CHUNK_ROWS` rows: each is told
    at its own rows, and every row lands once, in order."""
    rows = [[n, f"客户{n}"] for n in range(2 * xlsx_stream.CHUNK_ROWS + 500)]
    path = tmp_path / "chunks.xlsx"
    progress: list[int] = []
    written = write_sheet(
        path, ["ID", "客户"], iter(rows), progress=progress.append, progress_rows=700
    )
    assert written == len(rows)
    assert progress == list(range(700, len(rows) + 1, 700))
    read = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()[1:]
    assert [[int(row[0]), row[1]] for row in read] == rows
