"""The list page's per-value shortcuts give exactly what the slow, obvious way gives."""

from __future__ import annotations

import json
import random
from decimal import Decimal

import pytest

from meridian.schema.fieldtypes.choices import MultiSelectType
from meridian.schema.fieldtypes.scalars import scaled_integer_text
from meridian.schema.model import Field


@pytest.mark.parametrize("scale", range(10))
def test_scaled_integers_read_as_decimal_writes_them(scale: int) -> None:
    text = scaled_integer_text(scale)
    rng = random.Random(scale)
    edges = [0, 1, -1, 9, -9, 10, -10, 99, -99, 100, -100, 2**63 - 1, -(2**63)]
    spread = [
        rng.randint(-(10 ** rng.randint(0, 19)), 10 ** rng.randint(0, 19)) for _ in range(5000)
    ]
    for stored in edges + spread:
        assert text(stored) == str(Decimal(stored).scaleb(-scale))


def test_each_multi_select_value_is_a_list_of_its_own() -> None:
    field = Field(key="carriers", label="Carriers", type="multi_select")
    read = MultiSelectType().text_reader(field, "sqlite")
    assert read is not None
    first, second = read('["ct", "cbn"]'), read('["ct", "cbn"]')
    assert first == second == ["ct", "cbn"]
    first.append("intl")
    assert read('["ct", "cbn"]') == ["ct", "cbn"] and second == ["ct", "cbn"]
    assert read(json.dumps({"odd": []})) == {"odd": []}
