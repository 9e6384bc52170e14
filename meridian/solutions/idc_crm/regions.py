"""The administrative divisions the sample data uses: China's main data-center markets.

Each code is a real GB/T 2260 code (a district where the market is one district, else the
city), so generated ``region`` values pass the region field's check; ``city`` names companies
and ``site`` (with ``site_code``) names the machine rooms of the cabinet inventory.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    city: str
    site_code: str


REGIONS: tuple[Region, ...] = (
    Region("110105", "北京市朝阳区", "北京", "BJ"),
    Region("110108", "北京市海淀区", "北京", "BJ"),
    Region("110115", "北京市大兴区", "北京", "BJ"),
    Region("120116", "天津市滨海新区", "天津", "TJ"),
    Region("131000", "河北省廊坊市", "廊坊", "LF"),
    Region("130700", "河北省张家口市", "张家口", "ZJK"),
    Region("150900", "内蒙古自治区乌兰察布市", "乌兰察布", "WLCB"),
    Region("150100", "内蒙古自治区呼和浩特市", "呼和浩特", "HHHT"),
    Region("310115", "上海市浦东新区", "上海", "SH"),
    Region("310114", "上海市嘉定区", "上海", "SH"),
    Region("320500", "江苏省苏州市", "苏州", "SZH"),
    Region("320100", "江苏省南京市", "南京", "NJ"),
    Region("330100", "浙江省杭州市", "杭州", "HZ"),
    Region("340100", "安徽省合肥市", "合肥", "HF"),
    Region("420100", "湖北省武汉市", "武汉", "WH"),
    Region("440100", "广东省广州市", "广州", "GZ"),
    Region("440305", "广东省深圳市南山区", "深圳", "SZ"),
    Region("441900", "广东省东莞市", "东莞", "DG"),
    Region("500112", "重庆市渝北区", "重庆", "CQ"),
    Region("510100", "四川省成都市", "成都", "CD"),
    Region("520100", "贵州省贵阳市", "贵阳", "GY"),
    Region("610100", "陕西省西安市", "西安", "XA"),
    Region("621000", "甘肃省庆阳市", "庆阳", "QY"),
    Region("640500", "宁夏回族自治区中卫市", "中卫", "ZW"),
)

REGION_CODES: frozenset[str] = frozenset(region.code for region in REGIONS)


def _by_city() -> dict[str, tuple[Region, ...]]:
    cities: dict[str, list[Region]] = {}
    for region in REGIONS:
        cities.setdefault(region.city, []).append(region)
    return {city: tuple(regions) for city, regions in cities.items()}


CITY_REGIONS: tuple[tuple[Region, ...], ...] = tuple(_by_city().values())
"""The regions grouped by city: company names vary by city, so each city counts once."""

IDC_SITES: tuple[Region, ...] = tuple(regions[0] for regions in CITY_REGIONS)
"""One machine-room site per city, named by ``city`` and ``site_code``."""
