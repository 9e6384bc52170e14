"""An import checks each distinct cell once for the whole file and hands the write path the
stored values (``BatchRow.stored``); the write path takes them as they are
(``RecordParser.parse(checked=…)``) and checks only the rest. The result is the result of
checking every record's API values alone: the same stored values, defaults only where nothing
was given, the required rule, and every refused cell reported with its field and cell."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from meridian.core.actor import Actor
from meridian.dataio.mappings import ColumnMapping, ImportMapping
from meridian.dataio.reading import SourceRow
from meridian.dataio.resolving import Resolver
from meridian.dataio.run_rows import MEMO_TRIAL, BatchConverter
from meridian.errors import ErrorCollector
from meridian.records.values import RecordParser
from meridian.schema.fieldtypes import ValueContext
from meridian.schema.model import Field, Form, SelectOption

TZ = ZoneInfo("Asia/Shanghai")
FORM = Form(
    key="deal",
    app_key="crm",
    label="商机",
    fields=(
        Field(key="name", label="名称", type="text", required=True),
        Field(
            key="stage",
            label="阶段",
            type="select",
            required=True,
            default="new",
            options=(
                SelectOption(value="new", label="新建"),
                SelectOption(value="won", label="赢单"),
            ),
        ),
        Field(key="day", label="日期", type="date"),
        Field(key="amount", label="金额", type="money"),
        Field(key="email", label="邮箱", type="email"),
        Field(
            key="tags",
            label="标签",
            type="multi_select",
            options=(SelectOption(value="vip", label="重点"),),
        ),
    ),
)


def _parse(
    values: dict[str, Any], checked: dict[str, Any] | None = None
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    errors = ErrorCollector()
    parsed = RecordParser(FORM).parse(
        values, ValueContext(TZ), errors, creating=True, checked=checked
    )
    return parsed.columns, [(e.field, e.code) for e in errors.errors]


def test_checked_values_are_taken_as_given_and_only_the_rest_is_checked() -> None:
    given = {"name": "华为", "stage": "won", "day": "2024-03-05", "amount": "12.5"}
    alone = _parse(given)
    checked = {"stage": "won", "day": date(2024, 3, 5), "amount": 1250}  # money in cents
    assert _parse({"name": "华为"}, checked) == alone
    assert alone[0]["stage"] == "won"  # a checked value is never replaced by the default
    # The default fills a field neither given nor checked; the required rule sees both.
    columns, errors = _parse({}, {"day": date(2024, 3, 5)})
    assert columns["stage"] == "new"
    assert errors == [("name", "required")]
    assert _parse({}, {"name": "华为"})[1] == []


def _converter(conn: sa.Connection) -> BatchConverter:
    headers = ("名称", "阶段", "日期", "金额", "邮箱", "标签")
    keys = ("name", "stage", "day", "amount", "email", "tags")
    mapping = ImportMapping(
        "deal",
        tuple(
            ColumnMapping(i, header, key)
            for i, (header, key) in enumerate(zip(headers, keys, strict=True))
        ),
    )
    resolver = Resolver(conn, Actor(user_id=1, is_admin=True), FORM, {}, TZ)
    return BatchConverter(FORM, mapping, resolver, ValueContext(TZ))


def test_the_converter_checks_cells_once_for_the_file_and_reports_what_parse_refuses() -> None:
    engine = sa.create_engine("sqlite://")
    with engine.connect() as conn:
        converter = _converter(conn)
        first = converter.convert(
            conn,
            [
                SourceRow(2, ("华为", "赢单", "2024年3月5日", "1.2万", "a@b.cn", "重点")),
                SourceRow(3, ("小米", "赢单", "2024年3月5日", "1.2万", "a@", "重点")),
            ],
        )
        second = converter.convert(
            conn, [SourceRow(4, ("华为", "新建", "2024年3月5日", "1.2万", "c@d.cn", "重点"))]
        )
    good, bad = first
    (later,) = second
    assert good.values["day"] == "2024-03-05" and good.stored["day"] == date(2024, 3, 5)
    for row in (good, later):
        columns, errors = _parse(row.values)  # every API value checked by the write path
        assert errors == []
        assert set(row.stored) <= set(row.values)
        assert {k: columns[k] for k in row.stored} == row.stored
        rest = {k: v for k, v in row.values.items() if k not in row.stored}
        assert _parse(rest, row.stored) == (columns, [])
    # The address the e-mail type refuses is refused on conversion, naming field and cell.
    assert [(r.field, r.refusal, r.cell) for r in bad.refusals] == [
        ("email", "invalid_email", "a@")
    ]
    # A distinct cell is checked once for the file: the next batch gets the same stored value.
    assert later.stored["amount"] is good.stored["amount"]
    # A stored text equal to the API value is that very object (pickled once when handed on).
    assert good.stored["email"] is good.values["email"]
    assert good.stored["name"] is good.values["name"]
    # A list is never shared between rows.
    assert good.values["tags"] == ["vip"] and later.values["tags"] == ["vip"]
    if "tags" in good.stored:
        assert good.stored["tags"] is not later.stored["tags"]


def test_a_column_whose_cells_hardly_repeat_stops_remembering_them() -> None:
    engine = sa.create_engine("sqlite://")
    with engine.connect() as conn:
        converter = _converter(conn)
        rows = [
            SourceRow(n, (f"客户{n}", "赢单", "2024年3月5日", "1.2万", f"c{n}@d.cn", "重点"))
            for n in range(2, 2 + MEMO_TRIAL + 1000)
        ]
        converted = [
            row
            for start in range(0, len(rows), 1000)
            for row in converter.convert(conn, rows[start : start + 1000])
        ]
    memos = {column.key: column.memo for column in converter.columns}
    # Names and e-mails never repeat: their memos are gone; the repeating columns keep theirs.
    assert memos["name"] is None and memos["email"] is None
    assert memos["stage"] is not None and len(memos["stage"]) == 1
    assert memos["day"] is not None and len(memos["day"]) == 1
    # Converted alike before and after: every row's values as checking them alone gives.
    for row in (converted[0], converted[-1]):
        assert row.refusals == []
        assert (
            _parse(row.values)[0]
            == _parse({k: v for k, v in row.values.items() if k not in row.stored}, row.stored)[0]
        )
        assert row.stored["email"] == row.values["email"]
