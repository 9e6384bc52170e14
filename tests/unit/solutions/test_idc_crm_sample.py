"""The IDC CRM sample data: deterministic, consistent, and valid against its own package.

Every generated value is run through the field type that the package declares for it, so
the generator and the metadata cannot drift apart unnoticed.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import date
from decimal import Decimal
from itertools import takewhile
from typing import Any

import pytest

from meridian.core.timezones import DEFAULT_TIME_ZONE
from meridian.schema.fieldtypes import ValueContext, field_type
from meridian.schema.model import Field, Form
from meridian.schema.values.uscc import normalize_uscc
from meridian.solutions.idc_crm import generate, load_package
from meridian.solutions.idc_crm.regions import REGION_CODES
from meridian.solutions.idc_crm.sample import BATCH_SIZE

SCALE = 400
_, FORMS = load_package()
FORMS_BY_KEY = {form.key: form for form in FORMS}
CONTEXT = ValueContext(tz=DEFAULT_TIME_ZONE)
MONEY = re.compile(r"^\d+\.\d{2}$")
Rows = dict[str, list[dict[str, Any]]]


def _collect(**kwargs: Any) -> Rows:
    rows: Rows = defaultdict(list)
    for batch in generate(**kwargs):
        rows[batch.form_key].extend(batch.rows)
    return dict(rows)


@pytest.fixture(scope="module")
def sample() -> Rows:
    return _collect(seed=7, scale=SCALE)


def _input_fields(form: Form) -> list[Field]:
    return [field for field in form.active_fields if not field_type(field).computed]


def test_same_seed_and_scale_give_identical_batches() -> None:
    first = [(b.form_key, b.rows) for b in generate(seed=3, scale=60)]
    assert first == [(b.form_key, b.rows) for b in generate(seed=3, scale=60)]
    assert first != [(b.form_key, b.rows) for b in generate(seed=4, scale=60)]


def test_output_depends_on_the_anchor_not_on_the_clock() -> None:
    early = _collect(seed=3, scale=30, anchor=date(2020, 1, 1))
    late = _collect(seed=3, scale=30, anchor=date(2020, 1, 11))
    shifted = date.fromisoformat(early["contract"][0]["start_date"]).toordinal() + 10
    assert date.fromisoformat(late["contract"][0]["start_date"]).toordinal() == shifted
    assert early["customer"] == late["customer"]


def test_exactly_scale_opportunities(sample: Rows) -> None:
    assert len(sample["opportunity"]) == SCALE
    assert len(_collect(seed=1, scale=1)["opportunity"]) == 1


def test_counts_follow_the_documented_ratios(sample: Rows) -> None:
    counts = {key: len(rows) for key, rows in sample.items()}
    assert counts["customer"] == SCALE // 5
    assert counts["cabinet"] == 40
    assert 1.5 <= counts["contact"] / counts["customer"] <= 2.5
    assert 0.5 <= counts["quote"] / SCALE <= 0.8
    assert 0.2 <= counts["contract"] / SCALE <= 0.45
    assert 1.2 <= counts["followup"] / SCALE <= 2.0


def test_batches_come_in_package_order_and_fit_the_bulk_limit() -> None:
    batches = list(generate(seed=5, scale=2500))
    assert all(0 < len(batch.rows) <= BATCH_SIZE for batch in batches)
    order = list(dict.fromkeys(batch.form_key for batch in batches))
    assert order == [form.key for form in FORMS]
    assert Counter(b.form_key for b in batches)["opportunity"] == 3


@pytest.mark.parametrize("scale", [0, -5])
def test_scale_below_one_is_refused_at_the_call(scale: int) -> None:
    with pytest.raises(ValueError, match="scale"):
        generate(seed=1, scale=scale)


def test_rows_carry_every_input_field_and_no_other(sample: Rows) -> None:
    for key, rows in sample.items():
        expected = {field.key for field in _input_fields(FORMS_BY_KEY[key])}
        assert all(row.keys() == expected for row in rows), key


def test_every_value_passes_its_field_type(sample: Rows) -> None:
    for key, rows in sample.items():
        for field in _input_fields(FORMS_BY_KEY[key]):
            kind = field_type(field)
            for row in rows:
                value = row[field.key]
                if value is None:
                    assert not field.required, f"{key}.{field.key} is required"
                    continue
                kind.parse(field, value, CONTEXT)
                for line in value if field.type == "child_table" else []:
                    assert line.keys() == {line_field.key for line_field in field.fields}
                    for line_field in field.fields:
                        field_type(line_field).parse(line_field, line[line_field.key], CONTEXT)


def test_unique_fields_are_unique(sample: Rows) -> None:
    for key, rows in sample.items():
        for field in _input_fields(FORMS_BY_KEY[key]):
            if field.unique:
                values = [row[field.key] for row in rows if row[field.key] is not None]
                assert len(values) == len(set(values)), f"{key}.{field.key}"


def test_company_names_and_codes_stay_unique_at_scale() -> None:
    # Generation is lazy: taking the customers alone costs nothing for the other forms.
    batches = takewhile(lambda b: b.form_key == "customer", generate(seed=11, scale=200_000))
    rows = [row for batch in batches for row in batch.rows]
    assert len({row["name"] for row in rows}) == len(rows) == 40_000
    codes = [row["uscc"] for row in rows if row["uscc"]]
    assert len(set(codes)) == len(codes)


def test_link_ordinals_point_at_generated_records(sample: Rows) -> None:
    for key, rows in sample.items():
        for field in _input_fields(FORMS_BY_KEY[key]):
            if field.type != "link":
                continue
            count = len(sample[field.target or ""])
            for row in rows:
                ordinal = row[field.key]
                assert ordinal is None or 1 <= ordinal <= count, f"{key}.{field.key}"


def test_select_values_are_option_values(sample: Rows) -> None:
    for key, rows in sample.items():
        for field in _input_fields(FORMS_BY_KEY[key]):
            allowed = set(field.option_values())
            for row in rows:
                value = row[field.key]
                if field.type == "select" and value is not None:
                    assert value in allowed, f"{key}.{field.key}={value}"
                if field.type == "multi_select" and value is not None:
                    assert value and set(value) <= allowed, f"{key}.{field.key}={value}"


def test_codes_regions_and_numbers_are_well_formed(sample: Rows) -> None:
    for row in sample["customer"]:
        assert row["region"] in REGION_CODES
        if row["uscc"] is not None:
            assert normalize_uscc(row["uscc"]) == row["uscc"]
            assert row["uscc"][2:8] == row["region"]
    for key, rows in sample.items():
        for field in _input_fields(FORMS_BY_KEY[key]):
            values = [row[field.key] for row in rows if row[field.key] is not None]
            if field.type == "money":
                assert all(MONEY.match(value) for value in values), field.key
            if field.type in ("decimal", "percent"):
                # Exactly the field's decimals: what the API returns, so values round-trip.
                assert all(len(value.split(".")[1]) == field.scale for value in values), field.key


def test_records_agree_with_the_records_they_link_to(sample: Rows) -> None:
    opportunities, contracts = sample["opportunity"], sample["contract"]
    for quote in sample["quote"]:
        assert quote["customer"] == opportunities[quote["opportunity"] - 1]["customer"]
    for contract in contracts:
        deal = opportunities[contract["opportunity"] - 1]
        assert (deal["stage"], deal["customer"]) == ("won", contract["customer"])
        assert contract["start_date"] <= contract["end_date"]
    paid: Counter[int] = Counter()
    for payment in sample["payment"]:
        assert payment["customer"] == contracts[payment["contract"] - 1]["customer"]
        assert payment["paid_on"] <= "2026-01-01"
        paid[payment["contract"]] += int(Decimal(payment["amount"]) * 100)
    for ordinal, total in paid.items():
        assert total <= int(Decimal(contracts[ordinal - 1]["amount"]) * 100)
    for followup in sample["followup"]:
        if followup["opportunity"] is not None:
            deal = opportunities[followup["opportunity"] - 1]
            assert followup["customer"] == deal["customer"]
        assert followup["occurred_at"].endswith("+08:00")


def test_quote_totals_are_left_to_the_quotes_formula(sample: Rows) -> None:
    # The total is the quote form's formula over its lines (tests/integration/
    # test_idc_sample.py checks the loaded totals); the generator types none.
    for quote in sample["quote"]:
        assert "total_amount" not in quote
        assert 0 <= Decimal(quote["discount"]) < 100
        assert 1 <= len(quote["items"]) <= 5
        assert quote["items"][0]["product"] == "cabinet"
