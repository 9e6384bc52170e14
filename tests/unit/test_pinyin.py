import json
import random
from importlib.resources import files

import pytest
from pypinyin import lazy_pinyin

from meridian.core.pinyin import full_pinyin, initials, search_text, syllables

CRM_NAMES = [
    "华为云",
    "深圳市腾讯计算机系统有限公司",
    "北京百度网讯科技有限公司",
    "阿里云计算有限公司",
    "上海世纪互联数据中心有限公司",
    "中国电信股份有限公司北京分公司",
    "万国数据服务有限公司",
    "重庆银行股份有限公司",
    "长沙银行行长办公室",
    "招商银行",
    "中国移动通信集团",
    "乐视网信息技术",
    "机柜扩容商机",
    "季度续约回款",
    "绿色数据中心",
    "朝阳区",
    "单县",
    "蚌埠",
]


@pytest.mark.parametrize("text", CRM_NAMES)
def test_readings_are_pypinyins_default_readings(text: str) -> None:
    assert list(syllables(text)) == lazy_pinyin(text)


def test_readings_match_pypinyin_for_every_division_name() -> None:
    names = json.loads(files("meridian.schema.values").joinpath("regions.json").read_text("utf-8"))
    for name in names.values():
        assert full_pinyin(name) == "".join(lazy_pinyin(name)), name


def test_readings_match_pypinyin_for_random_character_strings() -> None:
    rng = random.Random(7)
    common = "".join(CRM_NAMES) + "的一是了我不人在他有这个上们来到时大地为子中你说生国年着就那和要"
    for _ in range(3000):
        text = "".join(rng.choice(common) for _ in range(rng.randint(1, 12)))
        assert list(syllables(text)) == lazy_pinyin(text), text


def test_search_text_finds_a_company_by_name_pinyin_and_initials() -> None:
    text = search_text("华为云")
    assert "华为云" in text
    assert "huaweiyun" in text
    assert "hwy" in text
    assert "huawei" in text
    assert "hw" in text


def test_search_text_uses_the_phrase_reading_of_heteronyms() -> None:
    text = search_text("重庆银行")
    assert "chongqingyinhang" in text
    assert "cqyh" in text
    assert "zhong" not in text


def test_search_text_keeps_ascii_as_typed_but_lower_cased() -> None:
    text = search_text("ACME 华为 Cloud")
    assert "acme 华为 cloud" in text
    assert "acme huawei cloud" in text
    assert "acme hw cloud" in text
    assert "ACME" not in text


def test_search_text_of_plain_ascii_is_just_the_value_lower_cased() -> None:
    assert search_text("ACME-LEAD", "+8613800138000") == "acme-lead +8613800138000"


def test_search_text_joins_every_value_and_skips_empty_ones() -> None:
    text = search_text("深圳市腾讯计算机系统有限公司", "", "Q3-RENEWAL")
    assert "szstxjsjxtyxgs" in text
    assert "shenzhenshitengxun" in text
    assert text.endswith(" q3-renewal")
    assert "  " not in text
    assert search_text() == ""


def test_search_text_of_long_values_is_computed_without_the_cache() -> None:
    note = "客户要求机柜扩容" * 30
    text = search_text(note)
    assert text.startswith(note)
    assert "kehuyaoqiujiguikuorong" in text


def test_umlaut_u_is_written_v_as_in_pypinyin() -> None:
    assert full_pinyin("绿色") == "lvse"
    assert initials("绿色") == "ls"


def test_helpers_replace_only_han_characters() -> None:
    assert full_pinyin("IDC机房-A区") == "IDCjifang-Aqu"
    assert initials("IDC机房-A区") == "IDCjf-Aq"
    assert full_pinyin("") == ""


def test_character_without_a_known_reading_stands_for_itself() -> None:
    assert syllables("兙云") == ("兙", "yun")
    assert search_text("兙云") == "兙云 兙yun 兙y"


@pytest.mark.parametrize(
    "value",
    [
        "ACME华为(深圳)云Cloud科技",
        "北京云帆星河科技123有限公司",
        "（华为）",
        "Q3-续约-华东区",
        "区A区B区",
    ],
)
def test_search_text_of_mixed_text_is_the_value_its_pinyin_and_its_initials(value: str) -> None:
    expected = f"{value} {full_pinyin(value)} {initials(value)}".lower()
    assert search_text(value) == expected
    tail = "x" * 100  # past the cached length: the uncached way, the same text
    long = value + tail
    assert search_text(long) == f"{long} {full_pinyin(long)} {initials(long)}".lower()
