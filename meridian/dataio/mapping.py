"""Suggesting which form field each column of a file fills, from the column's header.

Every rep names columns their own way: 公司名称, 客户名称 and 单位名称 all mean the customer's
name. A header matches a field by the field's key or label, by a group of Chinese and English
synonyms that holds the field's label or key, or failing those by rapidfuzz similarity to a
label or synonym. Each field takes at most one column and each column at most one field, the
best-scoring pairs first. A suggestion only proposes; the user confirms or changes the mapping.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz

from meridian.dataio.cleansing import to_half_width
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Field, Form

FUZZY_THRESHOLD = 80.0
"""The least rapidfuzz score (0–100) a fuzzy match needs to be suggested."""

SYNONYMS: tuple[frozenset[str], ...] = tuple(
    frozenset(group.split("|"))
    for group in (
        "公司名称|客户名称|单位名称|企业名称|客户|公司|单位|企业|客户全称|公司全称|所属客户"
        "|所属公司|company|customer|companyname|customername",
        "统一社会信用代码|社会信用代码|信用代码|uscc|税号|纳税人识别号|统一代码",
        "联系人|联系人姓名|姓名|contact|contactname",
        "手机|手机号|手机号码|移动电话|电话|联系电话|电话号码|座机|固定电话|联系方式|mobile"
        "|cellphone|phone|tel|telephone",
        "邮箱|电子邮箱|邮件|电子邮件|email|e-mail|mail",
        "地址|详细地址|公司地址|办公地址|注册地址|address",
        "行业|所属行业|行业类别|industry",
        "负责人|客户经理|销售|销售代表|业务员|跟进人|归属人|owner|salesrep",
        "来源|客户来源|线索来源|渠道|source",
        "备注|说明|附注|remark|remarks|note|notes|comment",
        "省份|省|所在省份|province",
        "城市|市|所在城市|city",
        "网址|网站|官网|website|url",
        "人员规模|公司规模|规模|员工人数|scale|size",
        "金额|合同金额|签约金额|总金额|amount|total",
        "签约日期|签订日期|合同日期|signdate|signedon",
        "成立日期|成立时间|注册日期|founded",
    )
)
"""Groups of header names that mean one thing, written as :func:`header_key` leaves them."""

_PUNCTUATION = re.compile(r"[\s_:*：＊()（）\[\]【】\-/]+")


@dataclass(frozen=True)
class Suggestion:
    """What one column of the file is suggested to fill.

    :ivar column: the column's 0-based index in the file.
    :ivar header: its header text.
    :ivar field: the suggested field's key, or None (the column is left out).
    :ivar score: 100 for a key or label, 95 for a synonym, rapidfuzz's score for a fuzzy match.
    :ivar basis: ``key``, ``label``, ``synonym`` or ``fuzzy`` (None without a field).
    """

    column: int
    header: str
    field: str | None = None
    score: float = 0.0
    basis: str | None = None


def header_key(text: str) -> str:
    """A header or label as it is compared: half-width, lower-case, without spaces,
    underscores, colons, asterisks (a required-column mark) or brackets."""
    return _PUNCTUATION.sub("", to_half_width(text).value.lower())


def importable_fields(form: Form) -> list[Field]:
    """The fields a cell can fill: not computed by the server, not lines or files."""
    return [
        field
        for field in form.fields
        if not (kind := field_type(field)).computed
        and not kind.holds_lines
        and not kind.holds_files
    ]


def suggest_mapping(headers: Sequence[str], form: Form) -> list[Suggestion]:
    """A suggestion for every column, in column order (``field`` None where nothing fits)."""
    fields = importable_fields(form)
    candidates: list[tuple[float, int, int, str]] = []
    for column, header in enumerate(headers):
        key = header_key(header)
        if not key:
            continue
        for position, field in enumerate(fields):
            match = _match(key, field)
            if match is not None:
                candidates.append((match[0], column, position, match[1]))
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    chosen: dict[int, Suggestion] = {}
    taken: set[int] = set()
    for score, column, position, basis in candidates:
        if column in chosen or position in taken:
            continue
        taken.add(position)
        chosen[column] = Suggestion(column, headers[column], fields[position].key, score, basis)
    return [chosen.get(column, Suggestion(column, header)) for column, header in enumerate(headers)]


def _match(key: str, field: Field) -> tuple[float, str] | None:
    label = header_key(field.label)
    if key == header_key(field.key):
        return 100.0, "key"
    if key == label:
        return 100.0, "label"
    names = {label, header_key(field.key)}
    group = _group_of(label) or _group_of(header_key(field.key))
    if key in group:
        return 95.0, "synonym"
    score = max(fuzz.ratio(key, name) for name in names | group)
    return (round(score, 1), "fuzzy") if score >= FUZZY_THRESHOLD else None


def _group_of(name: str) -> frozenset[str]:
    """The synonyms of a field's label (or key), empty when it is in no group."""
    return next((group for group in SYNONYMS if name in group), frozenset())
