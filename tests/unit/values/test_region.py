import json
from importlib.resources import files

import pytest

from meridian.errors import InvalidValue
from meridian.schema.values.region import (
    Division,
    children,
    normalize_region,
    region_label,
    region_path,
)

NANSHAN = "440305"
CHAOYANG_BEIJING = "110105"


@pytest.mark.parametrize(
    "typed",
    [
        "440305",
        " 440305 ",
        "广东省/深圳市/南山区",
        "广东省 / 深圳市 / 南山区",
        "广东 深圳 南山",
        "广东省深圳市南山区",
        "广东深圳南山",
        "广东,深圳,南山",
        "广东、深圳、南山区",
        "中国 广东省 深圳市 南山区",
        "中国广东省深圳市南山区",
        "中华人民共和国/广东省/深圳市/南山区",
        "深圳市/南山区",
        "深圳 南山",
    ],
)
def test_code_or_name_path_resolves_to_the_district_code(typed: str) -> None:
    assert normalize_region(typed) == NANSHAN


@pytest.mark.parametrize(
    "typed",
    ["北京市/朝阳区", "北京 朝阳", "北京/市辖区/朝阳区", "北京市 北京市 朝阳区", "北京市朝阳区"],
)
def test_municipality_district_resolves_with_or_without_the_city_level(typed: str) -> None:
    assert normalize_region(typed) == CHAOYANG_BEIJING


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("广东省", "440000"),
        ("广东", "440000"),
        ("440000", "440000"),
        ("广东/深圳", "440300"),
        ("440300", "440300"),
        ("北京", "110000"),
        ("内蒙古", "150000"),
        ("内蒙古 呼和浩特", "150100"),
        ("新疆维吾尔自治区", "650000"),
        ("广西 南宁", "450100"),
        ("上海 浦东", "310115"),
        ("重庆 万州", "500101"),
        ("重庆市/县/城口县", "500229"),
        ("河南 济源", "419001"),
        ("河南省/省直辖县级行政区划/济源市", "419001"),
        ("湖北 仙桃", "429004"),
        ("东莞", "441900"),
        ("吉林", "220000"),
        ("吉林 吉林", "220200"),
        ("吉林省吉林市", "220200"),
        ("辽宁 朝阳", "211300"),
        ("苏州工业园区", "320576"),
        ("香港", "810000"),
        ("台湾省", "710000"),
    ],
)
def test_provinces_and_cities_alone_and_special_divisions_resolve(typed: str, code: str) -> None:
    assert normalize_region(typed) == code


@pytest.mark.parametrize(
    ("typed", "among"),
    [
        ("南山区", ["鹤岗市 / 南山区", "深圳市 / 南山区"]),
        ("朝阳区", ["北京市 / 朝阳区", "长春市 / 朝阳区"]),
        ("长安", ["石家庄市 / 长安区", "西安市 / 长安区"]),
    ],
)
def test_name_found_in_several_provinces_is_refused_listing_them(
    typed: str, among: list[str]
) -> None:
    with pytest.raises(InvalidValue) as error:
        normalize_region(typed)
    assert error.value.code == "invalid_region"
    assert "more than one region" in error.value.message
    for label in among:
        assert label in error.value.message


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "  /  ",
        "火星",
        "广东/火星",
        "广东/深圳/朝阳",
        "北京/深圳",
        "440399",
        "999999",
        "44030",
        "4403050",
    ],
)
def test_unknown_region_is_refused(typed: str) -> None:
    with pytest.raises(InvalidValue) as error:
        normalize_region(typed)
    assert error.value.code == "invalid_region"


def test_prefix_shared_by_two_districts_is_ambiguous() -> None:
    with pytest.raises(InvalidValue, match="more than one region"):
        normalize_region("深圳/龙")  # 龙岗区, 龙华区


def test_path_and_label_run_from_province_down() -> None:
    assert region_path(NANSHAN) == ("广东省", "深圳市", "南山区")
    assert region_label(NANSHAN) == "广东省 / 深圳市 / 南山区"
    assert region_path("440300") == ("广东省", "深圳市")
    assert region_path("440000") == ("广东省",)


def test_municipality_path_has_no_placeholder_level() -> None:
    assert region_label(CHAOYANG_BEIJING) == "北京市 / 朝阳区"
    assert region_label("419001") == "河南省 / 济源市"


def test_path_of_unknown_code_is_refused() -> None:
    with pytest.raises(InvalidValue) as error:
        region_path("440399")
    assert error.value.code == "invalid_region"
    assert "'440399'" in error.value.message


def test_children_of_nothing_are_the_provinces() -> None:
    provinces = children()
    assert len(provinces) == 34
    assert provinces[0] == Division("110000", "北京市")
    assert Division("440000", "广东省") in provinces


def test_children_list_a_picker_level_in_code_order() -> None:
    districts = children("440300")
    assert Division("440305", "南山区") in districts
    assert [d.code for d in districts] == sorted(d.code for d in districts)
    assert "市辖区" not in {d.name for d in children("110000")}
    assert children(NANSHAN) == ()
    assert children("441900") == ()


def test_children_of_unknown_code_is_refused() -> None:
    with pytest.raises(InvalidValue):
        children("999999")


def test_every_shipped_code_resolves_to_itself_by_its_label_and_by_its_glued_names() -> None:
    names = json.loads(files("meridian.schema.values").joinpath("regions.json").read_text("utf-8"))
    assert len(names) > 3000
    for code, name in names.items():
        assert normalize_region(code) == code
        assert region_path(code)[-1] == name
        assert normalize_region(region_label(code)) == code
        assert normalize_region("".join(region_path(code))) == code
