"""A batch checked by one ``RecordParser`` remembers what each distinct value became; the
result is the same as checking every record alone: equal-looking values of other types are
told apart, refusals are reported on every record that holds them, lists are never shared."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from meridian.errors import ErrorCollector
from meridian.records.values import RecordParser
from meridian.schema.fieldtypes import ValueContext
from meridian.schema.model import Field, Form, SelectOption

FORM = Form(
    key="deal",
    app_key="crm",
    label="商机",
    fields=(
        Field(key="qty", label="数量", type="integer"),
        Field(
            key="stage",
            label="阶段",
            type="select",
            options=(SelectOption(value="won", label="赢单"),),
        ),
        Field(
            key="tags",
            label="标签",
            type="multi_select",
            options=(SelectOption(value="vip", label="重点"),),
        ),
    ),
)


def _alone(values: dict[str, object]) -> tuple[dict[str, object], list[tuple[str, str]]]:
    errors = ErrorCollector()
    parsed = RecordParser(FORM).parse(
        values, ValueContext(ZoneInfo("Asia/Shanghai")), errors, creating=True
    )
    return parsed.columns, [(e.field, e.code) for e in errors.errors]


def test_a_batch_checks_as_each_record_alone() -> None:
    batch = [
        {"qty": 1, "stage": "won"},
        {"qty": True, "stage": "won"},
        {"qty": 1.0, "stage": "lost"},
        {"qty": 1, "stage": "lost"},
        {"qty": "1", "tags": ["vip"]},
        {"qty": 1, "tags": ["vip"]},
    ]
    parser = RecordParser(FORM)
    ctx = ValueContext(ZoneInfo("Asia/Shanghai"))
    errors = ErrorCollector()
    together = []
    for index, values in enumerate(batch):
        parsed = parser.parse(values, ctx, errors, prefix=f"{index}.", creating=True)
        together.append(parsed.columns)
    for index, values in enumerate(batch):
        columns, alone_errors = _alone(values)
        assert together[index] == columns, values
        mine = [
            (e.field.partition(".")[2], e.code)
            for e in errors.errors
            if e.field.startswith(f"{index}.")
        ]
        assert mine == alone_errors, values
    assert together[4]["tags"] is not together[5]["tags"]
    assert sum(e.field.endswith("stage") for e in errors.errors) == 2
