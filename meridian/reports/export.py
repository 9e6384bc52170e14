"""A chart's data as an Excel workbook: the rows exactly as the chart shows them.

Decimals are written as numbers with their own number of places (never through a float: the
cell holds the exact value the report computed, as text Excel reads as a number).
"""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

from meridian.core.late_imports import IMPORTING

_TITLE_LIMIT = 31
"""Excel's longest sheet name."""
_FORBIDDEN = str.maketrans(dict.fromkeys("[]:*?/\\", " "))


def workbook(label: str, data: dict[str, Any], headers: dict[str, str]) -> bytes:
    """``data`` as ``GET /reports/{id}/data`` gives it → an .xlsx; ``headers`` names each
    column in the reader's language."""
    with IMPORTING:  # openpyxl where a workbook is written, not at start (core/late_imports)
        from openpyxl import Workbook
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = (label.translate(_FORBIDDEN).strip() or "report")[:_TITLE_LIMIT]
    columns = data["columns"]
    sheet.append([headers.get(c["key"]) or c.get("label") or c["key"] for c in columns])
    for row in data["rows"]:
        line: list[Any] = []
        for column in columns:
            key = column["key"]
            if column["role"] == "dimension":
                line.append(row["labels"].get(key, row["dimensions"].get(key)))
            else:
                line.append(_cell(row["measures"].get(key)))
        sheet.append(line)
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return Decimal(value)
        except ArithmeticError:
            return value
    return value
