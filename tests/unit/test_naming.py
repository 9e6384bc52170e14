import pytest

from meridian.schema.model import FORM_KEY_MAX, KEY_PATTERN, RESERVED_KEYS
from meridian.schema.naming import form_key_from_label, key_from_label


@pytest.mark.parametrize(
    ("label", "key"),
    [
        ("客户名称", "kehu_mingcheng"),
        ("预计金额", "yuji_jine"),
        ("联系人", "lianxiren"),
        ("客户负责人", "kehu_fuzeren"),
        ("下次跟进日期", "xiaci_genjin_riqi"),
        ("统一社会信用代码", "tongyi_shehui_xinyong_daima"),
        ("所属行业", "suoshu_hangye"),
        ("重庆银行", "chongqing_yinhang"),
        ("绿色", "lvse"),
        ("区", "qu"),
    ],
)
def test_chinese_label_becomes_pinyin_words_of_two_characters(label: str, key: str) -> None:
    assert key_from_label(label) == key


@pytest.mark.parametrize(
    ("label", "key"),
    [
        ("Expected Amount", "expected_amount"),
        ("expected_amount", "expected_amount"),
        ("  Close   Date  ", "close_date"),
        ("Café Name", "cafe_name"),
        ("ＡＢＣ公司", "abc_gongsi"),
        ("IDC机房", "idc_jifang"),
        ("PUE要求", "pue_yaoqiu"),
        ("带宽 (Mbps)", "daikuan_mbps"),
        ("功率密度(kW/机柜)", "gonglv_midu_kw_jigui"),
        ("合同金额（元）", "hetong_jine_yuan"),
        ("第2联系人", "di_2_lianxiren"),
    ],
)
def test_letters_and_digits_are_kept_as_lower_case_words(label: str, key: str) -> None:
    assert key_from_label(label) == key


def test_key_that_would_start_with_a_digit_gets_a_prefix() -> None:
    assert key_from_label("2026年目标") == "f_2026_nianmubiao"
    assert key_from_label("3") == "f_3"


@pytest.mark.parametrize("label", ["", "   ", "!!!", "（）", "カタカナ", "—"])
def test_label_with_nothing_usable_becomes_field(label: str) -> None:
    assert key_from_label(label) == "field"


def test_clash_with_taken_keys_gets_the_next_free_number() -> None:
    assert key_from_label("客户名称", ["kehu_mingcheng"]) == "kehu_mingcheng_2"
    assert (
        key_from_label("客户名称", {"kehu_mingcheng", "kehu_mingcheng_2", "kehu_mingcheng_3"})
        == "kehu_mingcheng_4"
    )
    assert key_from_label("", ["field"]) == "field_2"


@pytest.mark.parametrize("label", ["ID", "Created At", "owner id", "Updated By", "deleted at"])
def test_system_column_names_are_never_generated(label: str) -> None:
    key = key_from_label(label)
    assert key not in RESERVED_KEYS
    assert key.endswith("_2")


def test_long_label_is_truncated_to_63_and_stays_unique() -> None:
    label = "客户" * 40
    first = key_from_label(label)
    second = key_from_label(label, [first])
    assert len(first) <= 63
    assert len(second) <= 63
    assert first != second
    assert not first.endswith("_")
    assert second.endswith("_2")


def test_truncation_never_leaves_a_trailing_underscore() -> None:
    key = key_from_label("a" * 62 + " b")
    assert key == "a" * 62


@pytest.mark.parametrize(
    "label",
    ["客户名称", "Expected Amount", "2026年目标", "", "ID", "客户" * 40, "a_b", "__x__"],
)
def test_every_generated_key_is_a_valid_identifier(label: str) -> None:
    taken: list[str] = []
    for _ in range(12):
        key = key_from_label(label, taken)
        assert KEY_PATTERN.match(key)
        assert key not in taken
        taken.append(key)


def test_form_key_uses_the_same_rules_within_its_shorter_limit() -> None:
    assert form_key_from_label("商机") == "shangji"
    assert form_key_from_label("跟进记录") == "genjin_jilu"
    assert form_key_from_label("商机", ["shangji"]) == "shangji_2"
    assert form_key_from_label("") == "form"
    long_key = form_key_from_label("客户" * 40)
    assert len(long_key) <= FORM_KEY_MAX
    assert len(form_key_from_label("客户" * 40, [long_key])) <= FORM_KEY_MAX
