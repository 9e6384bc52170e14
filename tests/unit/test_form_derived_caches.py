"""What a write works out from a form (its plan, its parser's shape) is kept beside the form
object, by identity: a form copied with other fields (``model_copy``, as every schema change
makes the next version) is checked by its own fields, whatever was worked out for the
original before."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from meridian.errors import ErrorCollector
from meridian.records.plan import plan_for
from meridian.records.values import RecordParser
from meridian.schema.fieldtypes import ValueContext
from meridian.schema.model import Field, Form

QUOTE = Form(
    key="quote",
    app_key="crm",
    label="报价",
    fields=(Field(key="amount", label="金额", type="money"),),
)


def test_a_copied_form_is_checked_by_its_own_fields() -> None:
    assert [f.key for f in QUOTE.active_fields] == ["amount"]
    RecordParser(QUOTE)
    assert not plan_for(QUOTE).has_expressions
    double = Field(key="double", label="双倍", type="formula", expression="amount * 2")
    required = Field(key="code", label="编号", type="text", required=True)
    copied = QUOTE.model_copy(update={"fields": (*QUOTE.fields, double, required)})
    assert [f.key for f in copied.active_fields] == ["amount", "double", "code"]
    assert plan_for(copied).has_expressions
    errors = ErrorCollector()
    RecordParser(copied).parse(
        {"amount": "1.00"}, ValueContext(ZoneInfo("Asia/Shanghai")), errors, creating=True
    )
    assert [(e.field, e.code) for e in errors.errors] == [("code", "required")], errors.errors
