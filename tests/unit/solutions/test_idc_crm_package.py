"""The IDC CRM package is valid metadata that the form engine would accept as it is."""

from __future__ import annotations

import pytest

from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Field, Form
from meridian.schema.packages import PACKAGE_FORMAT
from meridian.solutions.idc_crm import load_package, read_package

FORM_KEYS = [
    "customer",
    "contact",
    "opportunity",
    "quote",
    "contract",
    "payment",
    "followup",
    "ticket",
    "cabinet",
]
APP, FORMS = load_package()


def _fields(form: Form) -> list[Field]:
    return [*form.fields, *(line for field in form.fields for line in field.fields)]


def test_package_is_the_idc_crm_app_in_the_export_format() -> None:
    assert read_package()["format"] == PACKAGE_FORMAT
    assert (APP.key, APP.label) == ("idc_crm", "IDC 客户管理")
    assert [form.key for form in FORMS] == FORM_KEYS
    assert {form.app_key for form in FORMS} == {"idc_crm"}


@pytest.mark.parametrize("form", FORMS, ids=lambda form: form.key)
def test_every_field_passes_its_type_definition_check(form: Form) -> None:
    for field in form.fields:
        assert field_type(field).check_definition(field, form) == [], field.key
        for line in field.fields:
            assert field_type(line).check_definition(line, form) == [], line.key
    assert len({field.key for field in form.fields}) == len(form.fields)


@pytest.mark.parametrize("form", FORMS, ids=lambda form: form.key)
def test_every_form_and_field_is_labelled_in_chinese(form: Form) -> None:
    def chinese(text: str) -> bool:
        return any("\u4e00" <= char <= "\u9fff" for char in text)

    assert chinese(form.label)
    for field in _fields(form):
        assert chinese(field.label), field.key
        for option in field.options:
            assert option.value.isascii(), option
            assert option.color.startswith("#"), option


@pytest.mark.parametrize("form", FORMS, ids=lambda form: form.key)
def test_title_field_is_a_required_field_of_the_form_or_its_number(form: Form) -> None:
    title = form.get_field(form.title_field or "")
    assert title is not None
    assert title.required or title.type == "auto_number"


def test_link_targets_precede_the_forms_linking_to_them() -> None:
    placed: set[str] = set()
    for form in FORMS:
        for field in _fields(form):
            if field.type == "link":
                assert field.target in placed, f"{form.key}.{field.key} → {field.target}"
        placed.add(form.key)


@pytest.mark.parametrize("form", FORMS, ids=lambda form: form.key)
def test_select_defaults_are_options(form: Form) -> None:
    for field in _fields(form):
        if field.type in ("select", "multi_select") and field.default is not None:
            assert field.default in field.option_values(), field.key


def test_owner_is_left_to_the_system_column() -> None:
    assert all(form.get_field("owner") is None for form in FORMS)


def test_documents_are_numbered_by_the_server() -> None:
    patterns = {
        form.key: field.auto_pattern
        for form in FORMS
        for field in form.fields
        if field.type == "auto_number"
    }
    assert patterns == {
        "quote": "BJ-{YYYY}{MM}-{0000}",
        "contract": "HT-{YYYY}-{0000}",
        "payment": "HK-{YYYY}{MM}-{0000}",
    }
