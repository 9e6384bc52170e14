"""The pure parts of resolving: the spellings a company name is looked up by, option words,
reference cells."""

from __future__ import annotations

from meridian.dataio.cleansing import company_key
from meridian.dataio.resolving import OptionMatcher, Reference, _spellings, reference_of
from meridian.schema.model import Field, SelectOption


def test_the_spellings_of_a_company_name_share_its_key_and_reach_the_stored_forms() -> None:
    given = "腾讯科技 (深圳) 有限公司"
    spellings = _spellings(given)
    assert {company_key(s) for s in spellings} == {company_key(given)}
    assert "腾讯科技（深圳）有限责任公司" in spellings
    assert "腾讯科技(深圳)有限公司" in spellings
    assert "腾讯科技 (深圳) 有限公司" in spellings
    # 股份有限公司 is not 股份有限责任公司's other spelling.
    assert not any(s.endswith("股份有限责任公司") for s in _spellings("某某股份有限公司"))


def test_options_by_value_label_or_the_mappings_words() -> None:
    field = Field(
        key="role",
        label="角色",
        type="select",
        options=(
            SelectOption(value="decision_maker", label="决策者"),
            SelectOption(value="user", label="使用者"),
        ),
    )
    match = OptionMatcher(field, {"拍板人": "决策者", "老板": "decision_maker", "x": "nope"})
    assert match("决策者") == "decision_maker"
    assert match(" DECISION_MAKER ") == "decision_maker"
    assert match("拍板人") == "decision_maker"
    assert match("老板") == "decision_maker"
    assert match("路人") == "路人"  # left for the field type to refuse, naming the options
    assert match(3) == 3


def test_reference_cells() -> None:
    assert reference_of("customer", False, None) is None
    assert reference_of("customer", False, "  ") is None
    assert reference_of("customer", False, " ＡＣＭＥ  公司 ") == Reference(
        "customer", ("ACME 公司",), " ＡＣＭＥ  公司 "
    )
    assert reference_of("customer", False, 12.0) == Reference("customer", ("12",), 12)
    assert reference_of("tags", True, "甲、乙，丙") == Reference(
        "tags", ("甲", "乙", "丙"), "甲、乙，丙"
    )
