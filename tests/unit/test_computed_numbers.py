"""A computed number says how it is shown: the IDC quote total, a formula over its lines, is
money on the record page and in the print-template editor (with its 人民币大写 placeholder),
as it was while the total was a typed money field."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import meridian.solutions.idc_crm as idc
from meridian.documents.placeholders import placeholders
from meridian.schema.model import Field, Form
from meridian.web.display import Presenter

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _quote() -> Form:
    package = json.loads((Path(idc.__file__).parent / "package.json").read_text("utf-8"))
    return next(Form.model_validate(s) for s in package["forms"] if s["key"] == "quote")


def _formula(shown_as: str | None) -> Field:
    return Field.model_validate(
        {
            "key": "total",
            "label": "合计",
            "type": "formula",
            "expression": "1",
            "shown_as": shown_as,
        }
    )


@pytest.mark.parametrize(
    ("shown_as", "zh", "en"),
    [
        (None, "775,205.7", "775,205.7"),
        ("currency", "¥775,205.70", "CN¥775,205.70"),
        ("percent", "775,205.7%", "775,205.7%"),
    ],
)
def test_a_formula_number_is_shown_as_it_says(shown_as: str | None, zh: str, en: str) -> None:
    field = _formula(shown_as)
    assert Presenter("zh-CN", SHANGHAI, {}).text(field, Decimal("775205.70")) == zh
    assert Presenter("en", SHANGHAI, {}).text(field, Decimal("775205.70")) == en


def test_the_idc_quote_total_is_money_on_pages_and_in_the_template_editor() -> None:
    quote = _quote()
    total = next(f for f in quote.fields if f.key == "total_amount")
    assert total.type == "formula"
    assert Presenter("zh-CN", SHANGHAI, {}).text(total, Decimal("775205.70")) == "¥775,205.70"
    offered = {p.label: p.snippet for p in placeholders(quote, lambda key: None)}
    assert offered["报价总额"] == "{{ record.total_amount | money }}"
    assert offered["报价总额（大写）"] == "{{ record.total_amount | rmb_upper }}"


def test_a_shown_as_outside_money_and_percent_is_refused() -> None:
    with pytest.raises(ValueError, match="shown_as"):
        _formula("dollars")
