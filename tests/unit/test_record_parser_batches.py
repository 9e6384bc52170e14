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


NEW = Form(
    key="lead",
    app_key="crm",
    label="线索",
    fields=(
        Field(key="name", label="名称", type="text", required=True),
        Field(key="qty", label="数量", type="integer", required=True),
        Field(
            key="stage",
            label="阶段",
            type="select",
            options=(
                SelectOption(value="won", label="赢单"),
                SelectOption(value="new", label="新"),
            ),
            default="new",
        ),
        Field(
            key="tags",
            label="标签",
            type="multi_select",
            options=(SelectOption(value="vip", label="重点"),),
            required=True,
        ),
    ),
)


def test_a_batch_of_checked_records_is_parsed_as_each_record_alone() -> None:
    """``parse_new`` (an import's rows, their values checked ahead) gives every record the
    columns, lists and errors ``parse`` gives it alone: checked values taken as they are, the
    rest checked, defaults filled, the required rule applied — and a refused required value
    reported once, not also as missing."""
    ctx = ValueContext(ZoneInfo("Asia/Shanghai"))
    items: list[dict[str, object]] = [
        {"name": "ACME-LEAD", "qty": 3, "tags": ["vip"]},  # all but tags checked
        {"name": "Q3-RENEWAL", "qty": "x", "stage": "won", "tags": ["vip"]},  # qty refused
        {"qty": 2},  # name and tags missing; stage takes its default
        {"name": "", "qty": 5, "stage": "lost", "tags": []},  # blank name, bad stage
        {"name": "ACME-2", "qty": 7, "stage": "won", "tags": ["vip"], "owner_id": "me"},
    ]
    checked: list[dict[str, object]] = [
        {"name": "ACME-LEAD", "qty": 3},
        {"name": "Q3-RENEWAL"},
        {"qty": 2},
        {},
        {"name": "ACME-2", "qty": 7, "stage": "won"},
    ]
    prefixes = [f"{index}." for index in range(len(items))]
    errors = ErrorCollector()
    together = RecordParser(NEW).parse_new(items, checked, ctx, errors, prefixes)
    for index, (values, stored) in enumerate(zip(items, checked, strict=True)):
        alone_errors = ErrorCollector()
        rest = {key: value for key, value in values.items() if key not in stored}
        alone = RecordParser(NEW).parse(
            rest, ctx, alone_errors, prefix=prefixes[index], creating=True, checked=stored
        )
        assert together[index] == alone, values
        mine = [(e.field, e.code) for e in errors.errors if e.field.startswith(prefixes[index])]
        assert mine == [(e.field, e.code) for e in alone_errors.errors], values
    assert together[2].columns["stage"] == "new"
    assert ("1.qty", "required") not in [(e.field, e.code) for e in errors.errors]
    assert {"2.name", "2.tags", "3.name", "3.tags"} <= {
        e.field for e in errors.errors if e.code == "required"
    }
    assert together[0].columns is not checked[0]  # the caller's values are copied, not taken
