"""The field types' parsers refuse what no column holds, whatever path the value came by (a
web form, an import, the API): NUL, lone surrogates, numbers beyond any field, ids beyond 64
bits (issue 13)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest

from meridian.errors import InvalidValue
from meridian.schema.fieldtypes import ValueContext, field_type
from meridian.schema.model import Field

CTX = ValueContext(ZoneInfo("Asia/Shanghai"))

REFUSED = {
    "NUL in text": ({"type": "text"}, "ACME\x00LEAD", "invalid_character"),
    "NUL in long text": ({"type": "long_text"}, "a\x00b", "invalid_character"),
    "lone surrogate in text": ({"type": "text"}, "ACME-\ud800", "invalid_character"),
    "NUL in an email": ({"type": "email"}, "sales\x00@acme.test", "invalid_character"),
    "money 1e999999999": ({"type": "money"}, "1e999999999", "out_of_range"),
    "money 1e-999999999": ({"type": "money"}, "1e-999999999", "out_of_range"),
    "money of 5,000 digits": ({"type": "money"}, "9" * 5000, "out_of_range"),
    "integer 1e999999999": ({"type": "integer"}, "1e999999999", "out_of_range"),
    "integer beyond 2**160": ({"type": "integer"}, 2**170, "out_of_range"),
    "link id of 65 bits": ({"type": "link", "target": "customer"}, 2**64, "invalid_reference"),
    "link id of 5,000 digits": (
        {"type": "link", "target": "customer"},
        "9" * 5000,
        "invalid_reference",
    ),
    "user id 0": ({"type": "user"}, 0, "invalid_reference"),
}


@pytest.mark.parametrize("case", REFUSED.values(), ids=REFUSED.keys())
def test_a_field_type_refuses_what_no_column_holds(case: tuple[dict[str, Any], Any, str]) -> None:
    settings, value, code = case
    field = Field.model_validate({"key": "x", "label": "X", **settings})
    with pytest.raises(InvalidValue) as refused:
        field_type(field).parse(field, value, CTX)
    assert refused.value.code == code


def test_zero_with_a_huge_exponent_is_zero() -> None:
    field = Field.model_validate({"key": "amount", "label": "金额", "type": "money"})
    assert field_type(field).parse(field, "0e999999999", CTX) == 0
