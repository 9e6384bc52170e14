"""Formulas, validation rules and ``expr`` filters: one language, checked at save time."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from meridian.db.tables import outbox
from meridian.http.deps import Workspace

STAGES = [{"value": "lead", "label": "线索"}, {"value": "won", "label": "签约"}]


@pytest.fixture
def crm(client: TestClient) -> TestClient:
    assert client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"}).status_code == 201
    customer = {
        "key": "customer",
        "label": "客户",
        "fields": [
            {"key": "name", "label": "客户名称", "type": "text"},
            {
                "key": "level",
                "label": "级别",
                "type": "select",
                "options": [{"value": "A", "label": "A"}, {"value": "B", "label": "B"}],
            },
        ],
    }
    quote = {
        "key": "quote",
        "label": "报价",
        "fields": [
            {"key": "customer", "label": "客户", "type": "link", "target": "customer"},
            {"key": "amount", "label": "金额", "type": "money"},
            {"key": "discount", "label": "折扣", "type": "percent"},
            {"key": "stage", "label": "阶段", "type": "select", "options": STAGES},
            {"key": "start_date", "label": "开始", "type": "date"},
            {"key": "end_date", "label": "结束", "type": "date"},
            {
                "key": "net",
                "label": "净额",
                "type": "formula",
                "expression": "amount * (1 - discount)",
            },
            {"key": "tax", "label": "税额", "type": "formula", "expression": "{净额} * 0.06"},
            {
                "key": "vip",
                "label": "重点",
                "type": "formula",
                "expression": 'customer.level = "A"',
            },
            {
                "key": "items",
                "label": "明细",
                "type": "child_table",
                "fields": [
                    {"key": "qty", "label": "数量", "type": "integer"},
                    {"key": "price", "label": "单价", "type": "money"},
                ],
            },
            {
                "key": "lines_total",
                "label": "明细合计",
                "type": "formula",
                "expression": "SUM(items.price)",
            },
        ],
        "validations": [
            {"expression": "end_date >= start_date", "message": "结束日期不能早于开始日期"}
        ],
    }
    for form in (customer, quote):
        response = client.post("/api/v1/apps/crm/forms", json=form)
        assert response.status_code == 201, response.text
    return client


def create(client: TestClient, form: str, values: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/api/v1/forms/{form}/records", json=values)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_formula_types_are_inferred_and_values_kept_current_on_write(crm: TestClient) -> None:
    form = crm.get("/api/v1/forms/quote").json()
    types = {f["key"]: f.get("result_type") for f in form["fields"] if f["type"] == "formula"}
    assert types == {"net": "number", "tax": "number", "vip": "boolean", "lines_total": "number"}
    acme = create(crm, "customer", {"name": "ACME", "level": "A"})
    quote = create(
        crm,
        "quote",
        {
            "customer": acme["id"],
            "amount": "1000.00",
            "discount": "12.5",
            "items": [{"qty": 1, "price": "100.10"}, {"qty": 2, "price": "0.90"}],
        },
    )
    assert quote["net"] == "875.00"
    assert quote["tax"] == "52.50"
    assert quote["vip"] is True
    assert quote["lines_total"] == "101.00"
    changed = crm.patch(f"/api/v1/forms/quote/records/{quote['id']}", json={"discount": "0"}).json()
    assert changed["net"] == "1000.00" and changed["tax"] == "60.00"
    history = crm.get(f"/api/v1/forms/quote/records/{quote['id']}/history").json()["items"]
    assert history[-1]["changes"]["net"] == ["875.00", "1000.00"]


def test_a_bad_formula_is_refused_at_save_time_with_position_and_message(crm: TestClient) -> None:
    response = crm.post(
        "/api/v1/forms/quote/fields",
        json={"key": "gross", "label": "毛额", "type": "formula", "expression": "amout * 2"},
    )
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["code"] == "invalid_expression"
    assert error["position"] == 0
    assert error["suggestion"] == "amount"
    assert "amount" in error["message"] and error["message_zh"]
    assert "gross" not in {f["key"] for f in crm.get("/api/v1/forms/quote").json()["fields"]}


def test_a_new_or_changed_formula_is_computed_for_every_record_in_sql(crm: TestClient) -> None:
    first = create(crm, "quote", {"amount": "200.00", "discount": "50"})
    second = create(crm, "quote", {"amount": "10.00"})
    added = crm.post(
        "/api/v1/forms/quote/fields",
        json={"key": "double", "label": "双倍", "type": "formula", "expression": "amount * 2"},
    )
    assert added.status_code == 201, added.text
    assert crm.get(f"/api/v1/forms/quote/records/{first['id']}").json()["double"] == "400.00"
    changed = crm.patch(
        "/api/v1/forms/quote/fields/double", json={"expression": 'IF(amount > 100, "big", "small")'}
    )
    assert changed.status_code == 200, changed.text
    assert crm.get(f"/api/v1/forms/quote/records/{first['id']}").json()["double"] == "big"
    assert crm.get(f"/api/v1/forms/quote/records/{second['id']}").json()["double"] == "small"


def test_validation_rules_reject_with_the_builders_message(crm: TestClient) -> None:
    response = crm.post(
        "/api/v1/forms/quote/records", json={"start_date": "2026-05-01", "end_date": "2026-04-01"}
    )
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["code"] == "validation_rule"
    assert error["message"] == "结束日期不能早于开始日期"
    # blanks leave a rule undecided, which passes (as a SQL CHECK does)
    create(crm, "quote", {"start_date": "2026-05-01"})


def test_removing_or_retyping_a_field_that_expressions_use_is_refused_with_what_breaks(
    crm: TestClient,
) -> None:
    refused = crm.delete("/api/v1/forms/quote/fields/discount")
    assert refused.status_code == 409
    broken = {o["field"] for o in refused.json()["offenders"]}
    assert broken == {"fields.net.expression"}
    assert "discount" in {
        f["key"] for f in crm.get("/api/v1/forms/quote").json()["fields"] if not f["archived"]
    }
    # a field on another form reached through a link counts too
    linked = crm.delete("/api/v1/forms/customer/fields/level")
    assert linked.status_code == 409
    assert linked.json()["offenders"][0]["form"] == "quote"


def test_expr_filters_compile_to_the_same_sql_as_structured_filters(crm: TestClient) -> None:
    a = create(crm, "customer", {"name": "ACME", "level": "A"})
    big = create(crm, "quote", {"customer": a["id"], "amount": "150000.00", "stage": "won"})
    create(crm, "quote", {"amount": "50000.00", "stage": "won"})
    create(crm, "quote", {"amount": "900000.00", "stage": "lead"})

    def ids(**params: Any) -> list[int]:
        response = crm.get("/api/v1/forms/quote/records", params=params)
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["items"]]

    by_expr = ids(expr='amount > 100000 and stage in ["won"]')
    by_filter = ids(
        filter=json.dumps(
            {
                "and": [
                    {"field": "amount", "op": "gt", "value": "100000"},
                    {"field": "stage", "op": "in", "value": ["won"]},
                ]
            }
        )
    )
    assert by_expr == by_filter == [big["id"]]
    assert ids(expr='customer.level = "A"') == [big["id"]]
    bad = crm.get("/api/v1/forms/quote/records", params={"expr": "amount >"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["position"] == 8
    assert crm.get("/api/v1/forms/quote/records", params={"expr": "amount + 1"}).status_code == 422


def test_rollups_over_lines_and_over_linking_records_stay_current(crm: TestClient) -> None:
    added = crm.post(
        "/api/v1/forms/customer/fields",
        json={
            "key": "quoted",
            "label": "报价总额",
            "type": "rollup",
            "rollup": {"source": "quote.customer", "function": "sum", "field": "amount"},
        },
    )
    assert added.status_code == 201, added.text
    count = crm.post(
        "/api/v1/forms/customer/fields",
        json={
            "key": "quotes",
            "label": "报价数",
            "type": "rollup",
            "scale": 0,
            "rollup": {"source": "quote.customer", "function": "count"},
        },
    )
    assert count.status_code == 201, count.text
    lines = crm.post(
        "/api/v1/forms/quote/fields",
        json={
            "key": "max_qty",
            "label": "最大数量",
            "type": "rollup",
            "scale": 0,
            "rollup": {"source": "items", "function": "max", "field": "qty"},
        },
    )
    assert lines.status_code == 201, lines.text
    acme = create(crm, "customer", {"name": "ACME"})
    other = create(crm, "customer", {"name": "Globex"})
    q1 = create(
        crm,
        "quote",
        {"customer": acme["id"], "amount": "100.50", "items": [{"qty": 3}, {"qty": 7}]},
    )
    create(crm, "quote", {"customer": acme["id"], "amount": "200.00"})
    assert q1["max_qty"] == "7"

    def customer(record: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = crm.get(f"/api/v1/forms/customer/records/{record['id']}").json()
        return result

    assert (customer(acme)["quoted"], customer(acme)["quotes"]) == ("300.50", "2")
    crm.patch(f"/api/v1/forms/quote/records/{q1['id']}", json={"customer": other["id"]})
    assert (customer(acme)["quoted"], customer(acme)["quotes"]) == ("200.00", "1")
    assert customer(other)["quoted"] == "100.50"
    crm.delete(f"/api/v1/forms/quote/records/{q1['id']}")
    assert (customer(other)["quoted"], customer(other)["quotes"]) == (None, "0")
    bad = crm.post(
        "/api/v1/forms/customer/fields",
        json={
            "key": "oops",
            "label": "坏",
            "type": "rollup",
            "rollup": {"source": "quote.stage", "function": "sum", "field": "amount"},
        },
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["code"] == "invalid_rollup_source"


def test_a_bulk_edit_changes_each_record_exactly_as_one_at_a_time_would(
    crm: TestClient, workspace: Workspace
) -> None:
    """Two identical sets of quotes: one edited in bulk (set-based), the other record by
    record; formulas, rollups, history and events must come out the same."""
    rollup = {"source": "quote.customer", "function": "sum", "field": "amount"}
    quoted = {"key": "quoted", "label": "报价总额", "type": "rollup", "rollup": rollup}
    assert crm.post("/api/v1/forms/customer/fields", json=quoted).status_code == 201
    acme = create(crm, "customer", {"name": "ACME", "level": "A"})["id"]
    globex = create(crm, "customer", {"name": "Globex", "level": "B"})["id"]
    quotes = [
        {"customer": acme, "amount": f"{100 * (i + 1)}.00", "discount": "0.05", "stage": "lead",
         "start_date": "2026-01-01", "end_date": f"2026-0{i + 2}-01",
         "items": [{"qty": i + 1, "price": "9.90"}]}
        for i in range(4)
    ]  # fmt: skip
    bulk = [create(crm, "quote", q)["id"] for q in quotes]
    single = [create(crm, "quote", q)["id"] for q in quotes]
    change = {"discount": "0.1", "customer": globex, "stage": "won"}
    with workspace.engine.connect() as conn:
        events_before = conn.scalar(sa.select(sa.func.max(outbox.c.id)))
    edited = crm.post("/api/v1/forms/quote/records/update", json={"ids": bulk, "values": change})
    assert edited.status_code == 200, edited.text
    assert edited.json() == {"updated": 4}
    for record_id in single:
        assert crm.patch(f"/api/v1/forms/quote/records/{record_id}", json=change).status_code == 200

    def shown(record_id: int) -> dict[str, Any]:
        record = crm.get(f"/api/v1/forms/quote/records/{record_id}").json()
        record["items"] = [{k: v for k, v in line.items() if k != "id"} for line in record["items"]]
        return {k: v for k, v in record.items() if k not in ("id", "created_at", "updated_at")}

    def last_change(record_id: int) -> dict[str, Any]:
        items = crm.get(f"/api/v1/forms/quote/records/{record_id}/history").json()["items"]
        return {k: items[-1][k] for k in ("version", "action", "changes")}

    for one, other in zip(bulk, single, strict=True):
        assert shown(one) == shown(other)
        assert last_change(one) == last_change(other)
    assert shown(bulk[0])["vip"] is False and shown(bulk[0])["net"] == "99.90"  # 0.1 %
    with workspace.engine.connect() as conn:
        events = (
            conn.execute(
                sa.select(outbox.c.payload).where(outbox.c.id > events_before).order_by(outbox.c.id)
            )
            .scalars()
            .all()
        )
    changes = {e["record_id"]: e["changes"] for e in events if e["form"] == "quote"}
    for one, other in zip(bulk, single, strict=True):
        assert changes[one] == changes[other]
    totals = {
        c["name"]: c["quoted"] for c in crm.get("/api/v1/forms/customer/records").json()["items"]
    }
    assert totals == {"ACME": None, "Globex": "2000.00"}


def test_a_bulk_edit_that_breaks_a_rule_for_some_records_changes_none(crm: TestClient) -> None:
    ids = [
        create(crm, "quote", {"amount": "10.00", "start_date": "2026-01-01", "end_date": end})["id"]
        for end in ("2026-03-01", "2026-06-01")
    ]
    late = crm.post(
        "/api/v1/forms/quote/records/update",
        json={"ids": ids, "values": {"start_date": "2026-04-01"}},
    )
    assert late.status_code == 422, late.text
    [error] = late.json()["errors"]
    assert (
        error["field"].startswith(f"{ids[0]}.") and "结束日期不能早于开始日期" in error["message"]
    )
    lines = crm.post(
        "/api/v1/forms/quote/records/update",
        json={"ids": ids, "values": {"items": [{"qty": 1}], "amount": "x"}},
    )
    assert lines.status_code == 422
    assert {e["code"] for e in lines.json()["errors"]} == {"one_at_a_time", "invalid_number"}
    assert (
        crm.post(
            "/api/v1/forms/quote/records/update", json={"ids": [*ids, 999999], "values": {}}
        ).status_code
        == 404
    )
    for record_id in ids:
        record = crm.get(f"/api/v1/forms/quote/records/{record_id}").json()
        assert (record["start_date"], record["_version"]) == ("2026-01-01", 1)
