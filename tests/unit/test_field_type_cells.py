"""A field's value as one spreadsheet cell and back, as each field type reads and writes it
(``FieldType.import_cell`` / ``export_cell``): what an import or export engine asks the type."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from meridian.schema.fieldtypes import FieldType, ValueContext, field_type
from meridian.schema.model import Field

CTX = ValueContext(ZoneInfo("Asia/Shanghai"))
OPTIONS = [{"value": "idc", "label": "机柜"}, {"value": "cdn", "label": "CDN"}]


def _field(kind: str, **settings: Any) -> Field:
    return Field.model_validate({"key": "x", "label": "X", "type": kind, **settings})


@pytest.mark.parametrize(
    ("kind", "settings", "cell", "stored"),
    [
        ("text", {}, "  ACME-LEAD ", "ACME-LEAD"),
        ("text", {}, 12345.0, "12345"),
        ("integer", {}, 42.0, 42),
        ("money", {}, 128000.5, 12800050),
        ("decimal", {"scale": 2}, 0.1, 10),
        ("boolean", {}, "是", True),
        ("date", {}, datetime(2026, 12, 6), date(2026, 12, 6)),
        ("datetime", {}, datetime(2026, 12, 6, 9, 30), datetime(2026, 12, 6, 1, 30)),
        ("select", {"options": OPTIONS}, "机柜", "idc"),
        ("multi_select", {"options": OPTIONS}, "机柜、cdn", ["idc", "cdn"]),
        ("multi_select", {"options": OPTIONS}, "idc, CDN；", ["idc", "cdn"]),
        ("link", {"target": "customer", "many": True}, "3，5", [3, 5]),
        ("user", {}, 7.0, 7),
        ("text", {}, "   ", None),
    ],
)
def test_a_cell_is_read_by_the_field_type_then_parsed_like_any_input(
    kind: str, settings: dict[str, Any], cell: Any, stored: Any
) -> None:
    field = _field(kind, **settings)
    value = field_type(field).import_cell(field, cell)
    parsed = None if value is None else field_type(field).parse(field, value, CTX)
    if isinstance(parsed, datetime):
        parsed = parsed.replace(tzinfo=None)
    assert parsed == stored


@pytest.mark.parametrize(
    ("kind", "settings", "value"),
    [
        ("text", {}, "ACME-LEAD"),
        ("money", {}, "128000.50"),
        ("select", {"options": OPTIONS}, "cdn"),
        ("multi_select", {"options": OPTIONS}, ["idc", "cdn"]),
        ("link", {"target": "customer", "many": True}, [3, 5]),
        ("boolean", {}, False),
        (
            "child_table",
            {"fields": [{"key": "sku", "label": "SKU", "type": "text"}]},
            [{"sku": "A"}],
        ),
    ],
)
def test_an_exported_cell_reads_back_to_the_same_value(
    kind: str, settings: dict[str, Any], value: Any
) -> None:
    field = _field(kind, **settings)
    kind_of = field_type(field)
    cell = kind_of.export_cell(field, value)
    assert isinstance(cell, str | int | float | bool)
    again = kind_of.parse(field, kind_of.import_cell(field, cell), CTX)
    assert kind_of.dump(field, again) == kind_of.dump(field, kind_of.parse(field, value, CTX))


def test_a_type_that_says_nothing_of_cells_reads_and_writes_them_plainly() -> None:
    class Stars(FieldType):
        name = "stars"

    field = _field("text")
    assert Stars().import_cell(field, 4.0) == 4
    assert Stars().export_cell(field, {"id": 9, "title": "ACME"}) == 9
    assert Stars().export_cell(field, ["a", "b"]) == "a、b"
