"""Records over the API: one write path, every error at once, no lost updates, history."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from meridian.core.actor import Actor
from meridian.db.tables import outbox, record_history
from meridian.http.deps import Workspace

OPTIONS = [
    {"value": v, "label": label}
    for v, label in [("lead", "线索"), ("won", "签约"), ("lost", "输单")]
]


@pytest.fixture
def crm(client: TestClient) -> TestClient:
    assert client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"}).status_code == 201
    forms = [
        {
            "key": "customer",
            "label": "客户",
            "title_field": "name",
            "fields": [
                {
                    "key": "name",
                    "label": "客户名称",
                    "type": "text",
                    "required": True,
                    "unique": True,
                },
                {"key": "phone", "label": "电话", "type": "phone"},
                {
                    "key": "tags",
                    "label": "标签",
                    "type": "multi_select",
                    "options": [{"value": "cdn", "label": "CDN"}, {"value": "idc", "label": "IDC"}],
                },
            ],
        },
        {
            "key": "deal",
            "label": "商机",
            "title_field": "name",
            "fields": [
                {"key": "name", "label": "名称", "type": "text", "required": True},
                {"key": "customer", "label": "客户", "type": "link", "target": "customer"},
                {
                    "key": "partners",
                    "label": "合作方",
                    "type": "link",
                    "target": "customer",
                    "many": True,
                },
                {
                    "key": "stage",
                    "label": "阶段",
                    "type": "select",
                    "options": OPTIONS,
                    "default": "lead",
                },
                {"key": "amount", "label": "金额", "type": "money", "min_value": "0"},
                {"key": "cabinets", "label": "机柜", "type": "integer", "max_value": 1000},
                {"key": "close_date", "label": "预计签约", "type": "date"},
                {
                    "key": "number",
                    "label": "编号",
                    "type": "auto_number",
                    "auto_pattern": "SJ-{YYYY}-{0000}",
                },
                {
                    "key": "items",
                    "label": "明细",
                    "type": "child_table",
                    "fields": [
                        {"key": "product", "label": "产品", "type": "text", "required": True},
                        {"key": "qty", "label": "数量", "type": "integer", "min_value": 1},
                        {"key": "price", "label": "单价", "type": "money"},
                    ],
                },
            ],
        },
    ]
    for form in forms:
        response = client.post("/api/v1/apps/crm/forms", json=form)
        assert response.status_code == 201, response.text
    return client


def create(client: TestClient, form: str, values: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/api/v1/forms/{form}/records", json=values)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def count_rows(workspace: Workspace, table: str) -> int:
    with workspace.engine.connect() as conn:
        return int(conn.execute(sa.text(f'SELECT count(*) FROM "{table}"')).scalar_one())


def test_create_returns_the_record_its_version_and_an_etag(crm: TestClient) -> None:
    customer = create(crm, "customer", {"name": "华为云计算技术有限公司", "phone": "138 0013 8000"})
    response = crm.post(
        "/api/v1/forms/deal/records",
        json={
            "name": "Q3-RENEWAL",
            "customer": customer["id"],
            "amount": "128000.50",
            "close_date": "2026-09-30",
            "items": [{"product": "机柜租用", "qty": 10, "price": "6000"}],
        },
    )
    assert response.status_code == 201, response.text
    deal = response.json()
    assert response.headers["ETag"] == '"1"'
    assert deal["_version"] == 1
    assert deal["amount"] == "128000.50"
    assert deal["stage"] == "lead"
    assert deal["number"].startswith("SJ-") and deal["number"].endswith("-0001")
    assert deal["items"][0]["product"] == "机柜租用"
    assert deal["items"][0]["price"] == "6000.00"
    assert customer["phone"] == "+8613800138000"


def test_invalid_input_returns_every_field_error_at_once_and_writes_nothing(
    crm: TestClient, workspace: Workspace
) -> None:
    response = crm.post(
        "/api/v1/forms/deal/records",
        json={
            "amount": "-5",
            "cabinets": "many",
            "stage": "maybe",
            "close_date": "2026-02-30",
            "customer": 999,
            "colour": "red",
            "number": "SJ-1",
            "items": [{"qty": 0}],
        },
    )
    assert response.status_code == 422
    errors = {(e["field"], e["code"]) for e in response.json()["errors"]}
    assert errors == {
        ("name", "required"),
        ("amount", "below_minimum"),
        ("cabinets", "invalid_number"),
        ("stage", "invalid_option"),
        ("close_date", "invalid_date"),
        ("colour", "unknown_field"),
        ("customer", "unknown_reference"),
        ("number", "read_only"),
        ("items.0.product", "required"),
        ("items.0.qty", "below_minimum"),
    }
    assert count_rows(workspace, "data_deal") == 0
    response = crm.post("/api/v1/forms/deal/records", json={"name": "X", "customer": 999})
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "unknown_reference"
    assert count_rows(workspace, "data_deal") == 0


def test_a_bad_phone_number_is_named_with_its_value(crm: TestClient) -> None:
    response = crm.post("/api/v1/forms/customer/records", json={"name": "ACME", "phone": "12345"})
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "phone"
    assert error["code"] == "invalid_phone"
    assert error["value"] == "12345"


def test_two_writers_with_the_same_version_one_wins_one_gets_412(crm: TestClient) -> None:
    deal = create(crm, "deal", {"name": "ACME-LEAD", "amount": "100"})
    url = f"/api/v1/forms/deal/records/{deal['id']}"
    first = crm.patch(url, json={"amount": "200"}, headers={"If-Match": '"1"'})
    second = crm.patch(url, json={"cabinets": 4}, headers={"If-Match": '"1"'})
    assert first.status_code == 200
    assert first.headers["ETag"] == '"2"'
    assert second.status_code == 412
    assert second.json()["code"] == "stale_version"
    now = crm.get(url).json()
    assert now["amount"] == "200.00"
    assert now["cabinets"] is None
    assert now["_version"] == 2


def test_history_records_each_field_change_with_actor_and_time(crm: TestClient) -> None:
    deal = create(crm, "deal", {"name": "ACME-LEAD", "amount": "100"})
    url = f"/api/v1/forms/deal/records/{deal['id']}"
    crm.patch(url, json={"amount": "250.5", "stage": "won"})
    crm.patch(url, json={"amount": "250.50"})  # no change, no version
    history = crm.get(f"{url}/history").json()["items"]
    assert [h["action"] for h in history] == ["create", "update"]
    assert history[1]["changes"] == {"amount": ["100.00", "250.50"], "stage": ["lead", "won"]}
    assert history[1]["actor_id"] is not None
    assert crm.get(url).json()["_version"] == 2


def test_soft_delete_hides_and_restore_brings_back(crm: TestClient) -> None:
    customer = create(crm, "customer", {"name": "ACME"})
    url = f"/api/v1/forms/customer/records/{customer['id']}"
    assert crm.delete(url).status_code == 204
    assert crm.get(url).status_code == 404
    trash = crm.get("/api/v1/forms/customer/records?deleted=true").json()["items"]
    assert [r["id"] for r in trash] == [customer["id"]]
    # a deleted record's unique value is free again ...
    other = create(crm, "customer", {"name": "ACME"})
    # ... so restoring the first would duplicate it, and is refused
    refused = crm.post(f"{url}/restore")
    assert refused.status_code == 409
    crm.delete(f"/api/v1/forms/customer/records/{other['id']}")
    restored = crm.post(f"{url}/restore")
    assert restored.status_code == 200
    assert crm.get(url).json()["name"] == "ACME"
    actions = [h["action"] for h in crm.get(f"{url}/history").json()["items"]]
    assert actions == ["create", "delete", "restore"]


def test_unique_values_are_refused_with_the_holder(crm: TestClient) -> None:
    first = create(crm, "customer", {"name": "ACME"})
    response = crm.post("/api/v1/forms/customer/records", json={"name": "ACME"})
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["code"] == "duplicate"
    assert str(first["id"]) in error["message"]


def test_bulk_create_is_all_or_nothing(crm: TestClient, workspace: Workspace) -> None:
    items = [{"name": f"ACME-{i}"} for i in range(5)] + [{"name": ""}, {"name": "ACME-1"}]
    response = crm.post("/api/v1/forms/customer/records/bulk", json={"items": items})
    assert response.status_code == 422
    fields = {(e["field"], e["code"]) for e in response.json()["errors"]}
    assert ("items.5.name", "required") in fields
    assert ("items.1.name", "duplicate") in fields and ("items.6.name", "duplicate") in fields
    assert count_rows(workspace, "data_customer") == 0
    ok = crm.post("/api/v1/forms/customer/records/bulk", json={"items": items[:5]})
    assert ok.status_code == 201
    assert ok.json()["count"] == 5
    too_many = crm.post(
        "/api/v1/forms/customer/records/bulk", json={"items": [{"name": "x"}] * 1001}
    )
    assert too_many.status_code == 422


def test_auto_numbers_are_gap_free_even_when_a_create_fails(crm: TestClient) -> None:
    first = create(crm, "deal", {"name": "A"})
    failed = crm.post(
        "/api/v1/forms/deal/records/bulk",
        json={"items": [{"name": "B"}, {"name": "C", "customer": 424242}]},
    )
    assert failed.status_code == 422
    second = create(crm, "deal", {"name": "D"})
    assert first["number"][-4:] == "0001"
    assert second["number"][-4:] == "0002"


def test_child_lines_are_replaced_in_the_parents_transaction(crm: TestClient) -> None:
    deal = create(
        crm,
        "deal",
        {"name": "A", "items": [{"product": "带宽", "qty": 1}, {"product": "IP", "qty": 8}]},
    )
    url = f"/api/v1/forms/deal/records/{deal['id']}"
    bad = crm.patch(url, json={"items": [{"product": "带宽", "qty": 0}]})
    assert bad.status_code == 422
    assert [line["product"] for line in crm.get(url).json()["items"]] == ["带宽", "IP"]
    good = crm.patch(url, json={"items": [{"product": "电力扩容", "qty": 2}]})
    assert good.status_code == 200
    assert [(line["product"], line["qty"]) for line in good.json()["items"]] == [("电力扩容", 2)]


def test_many_to_many_links_and_expand(crm: TestClient) -> None:
    a = create(crm, "customer", {"name": "腾讯云"})
    b = create(crm, "customer", {"name": "阿里云"})
    deal = create(crm, "deal", {"name": "A", "customer": a["id"], "partners": [b["id"], a["id"]]})
    assert deal["partners"] == sorted([a["id"], b["id"]])
    expanded = crm.get(f"/api/v1/forms/deal/records/{deal['id']}?expand=customer,partners").json()
    assert expanded["customer"] == {"id": a["id"], "title": "腾讯云"}
    assert {p["title"] for p in expanded["partners"]} == {"腾讯云", "阿里云"}


def list_ids(client: TestClient, form: str, **params: Any) -> list[int]:
    if "filter" in params:
        params["filter"] = json.dumps(params["filter"])
    response = client.get(f"/api/v1/forms/{form}/records", params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_filters_sorts_and_links_compile_to_sql(crm: TestClient) -> None:
    acme = create(crm, "customer", {"name": "ACME", "tags": ["idc"]})
    other = create(crm, "customer", {"name": "Globex", "tags": ["cdn", "idc"]})
    d1 = create(
        crm, "deal", {"name": "ACME-LEAD", "customer": acme["id"], "amount": "100", "stage": "lead"}
    )
    d2 = create(
        crm, "deal", {"name": "ACME-WON", "customer": acme["id"], "amount": "900", "stage": "won"}
    )
    d3 = create(crm, "deal", {"name": "Globex deal", "customer": other["id"], "amount": "500"})
    d4 = create(crm, "deal", {"name": "No amount"})
    assert list_ids(
        crm, "deal", filter={"field": "amount", "op": "gt", "value": "200"}, sort="amount"
    ) == [d3["id"], d2["id"]]
    assert list_ids(
        crm,
        "deal",
        filter={"field": "amount", "op": "between", "value": ["100", "500"]},
        sort="amount",
    ) == [d1["id"], d3["id"]]
    assert list_ids(crm, "deal", filter={"field": "amount", "op": "is_blank", "value": True}) == [
        d4["id"]
    ]
    assert list_ids(
        crm, "deal", filter={"field": "name", "op": "starts_with", "value": "acme"}, sort="name"
    ) == [d1["id"], d2["id"]]
    assert list_ids(
        crm, "deal", filter={"field": "customer.name", "op": "eq", "value": "Globex"}
    ) == [d3["id"]]
    assert list_ids(
        crm, "deal", filter={"not": {"field": "stage", "op": "in", "value": ["lead"]}}
    ) == [d2["id"]]
    assert list_ids(
        crm,
        "deal",
        filter={
            "or": [
                {"field": "stage", "op": "eq", "value": "won"},
                {"field": "amount", "op": "lt", "value": "200"},
            ]
        },
        sort="-amount",
    ) == [d2["id"], d1["id"]]
    assert list_ids(
        crm, "customer", filter={"field": "tags", "op": "contains", "value": ["cdn"]}
    ) == [other["id"]]
    # NULLs sort last ascending, first descending, on both databases
    assert list_ids(crm, "deal", sort="amount") == [d1["id"], d3["id"], d2["id"], d4["id"]]
    assert list_ids(crm, "deal", sort="-amount") == [d4["id"], d2["id"], d3["id"], d1["id"]]


def test_bad_filters_and_sorts_name_the_problem(crm: TestClient) -> None:
    cases = [
        ({"filter": "{not json"}, "invalid_json"),
        ({"filter": json.dumps({"field": "nope", "op": "eq", "value": 1})}, "unknown_field"),
        ({"filter": json.dumps({"field": "amount", "op": "like", "value": 1})}, "unknown_operator"),
        ({"filter": json.dumps({"field": "amount", "op": "gt", "value": "abc"})}, "invalid_number"),
        ({"sort": "password"}, "unknown_sort_field"),
        ({"sort": "name; DROP TABLE data_deal"}, "unknown_sort_field"),
        ({"cursor": "garbage!"}, "invalid_cursor"),
        ({"limit": 0}, "out_of_range"),
    ]
    for params, code in cases:
        response = crm.get("/api/v1/forms/deal/records", params=params)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["errors"][0]["code"] == code, params


def test_keyset_pages_cover_every_record_once_with_a_total(crm: TestClient) -> None:
    crm.post(
        "/api/v1/forms/deal/records/bulk",
        json={
            "items": [
                {"name": f"D{i:02}", "amount": str(i % 4 * 100) if i % 5 else None}
                for i in range(23)
            ]
        },
    )
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"sort": "-amount,name", "limit": 5, "count": "true"}
        if cursor:
            params["cursor"] = cursor
        page = crm.get("/api/v1/forms/deal/records", params=params).json()
        assert page["total"] == 23
        seen.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 23 and len(set(seen)) == 23
    assert seen == list_ids(crm, "deal", sort="-amount,name", limit=50)


def test_search_finds_by_substring_full_pinyin_and_initials(crm: TestClient) -> None:
    hw = create(crm, "customer", {"name": "华为云计算技术有限公司"})
    create(crm, "customer", {"name": "阿里云计算有限公司"})
    for q in ("华为", "huawei", "hwy", "HWY"):
        assert list_ids(crm, "customer", q=q) == [hw["id"]], q
    assert len(list_ids(crm, "customer", q="云计算")) == 2
    assert list_ids(crm, "customer", q='"; DROP TABLE x; --') == []
    # an update re-indexes the record
    crm.patch(f"/api/v1/forms/customer/records/{hw['id']}", json={"name": "腾讯云"})
    assert list_ids(crm, "customer", q="hwy") == []
    assert list_ids(crm, "customer", q="txy") == [hw["id"]]


def test_openapi_has_a_typed_schema_per_form(crm: TestClient) -> None:
    document = crm.get("/api/openapi.json").json()
    deal = document["components"]["schemas"]["DealInput"]
    assert deal["properties"]["stage"]["enum"] == ["lead", "won", "lost"]
    assert deal["required"] == ["name"]
    assert "number" not in deal["properties"]
    assert "/api/v1/forms/deal/records" in document["paths"]


def test_attachments_refer_to_uploaded_files(client: TestClient) -> None:
    client.post("/api/v1/apps", json={"key": "docs", "label": "Docs"})
    client.post(
        "/api/v1/apps/docs/forms",
        json={
            "key": "contract_scan",
            "label": "合同扫描件",
            "fields": [{"key": "files", "label": "附件", "type": "attachment"}],
        },
    )
    upload = client.post(
        "/api/v1/files", files={"file": ("合同.pdf", b"%PDF-1.4 demo", "application/pdf")}
    )
    assert upload.status_code == 201, upload.text
    file_id = upload.json()["id"]
    assert upload.json()["size"] == len(b"%PDF-1.4 demo")
    record = create(client, "contract_scan", {"files": [file_id]})
    assert record["files"] == [file_id]
    download = client.get(f"/api/v1/files/{file_id}")
    assert download.content == b"%PDF-1.4 demo"
    missing = client.post("/api/v1/forms/contract_scan/records", json={"files": ["0" * 32]})
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["code"] == "unknown_file"


def test_times_without_offset_are_read_in_the_workspace_time_zone(client: TestClient) -> None:
    client.post("/api/v1/apps", json={"key": "ops", "label": "Ops"})
    client.post(
        "/api/v1/apps/ops/forms",
        json={
            "key": "visit",
            "label": "拜访",
            "fields": [
                {"key": "at", "label": "时间", "type": "datetime"},
                {"key": "region", "label": "地区", "type": "region"},
                {"key": "uscc", "label": "信用代码", "type": "uscc"},
                {"key": "ip", "label": "IP", "type": "ip", "ip_kind": "network"},
            ],
        },
    )
    record = create(
        client,
        "visit",
        {
            "at": "2026-03-01T09:30:00",
            "region": "广东省/深圳市/南山区",
            "uscc": "91350100M000100Y43",
            "ip": "10.0.0.0/24",
        },
    )
    assert record["at"] == "2026-03-01T01:30:00+00:00"
    assert record["region"] == "440305"
    later = create(client, "visit", {"at": "2026-03-01T09:30:00+00:00"})
    assert later["at"] == "2026-03-01T09:30:00+00:00"
    bad = client.post(
        "/api/v1/forms/visit/records", json={"uscc": "91350100M000100Y44", "ip": "10.0.0.1/24"}
    )
    assert {e["code"] for e in bad.json()["errors"]} == {"invalid_uscc_checksum", "host_bits_set"}


def test_filters_on_many_to_many_links(crm: TestClient) -> None:
    a = create(crm, "customer", {"name": "腾讯云"})
    b = create(crm, "customer", {"name": "阿里云"})
    with_a = create(crm, "deal", {"name": "A", "partners": [a["id"]]})
    with_b = create(crm, "deal", {"name": "B", "partners": [b["id"]]})
    alone = create(crm, "deal", {"name": "C"})
    assert list_ids(
        crm, "deal", filter={"field": "partners", "op": "contains", "value": [b["id"]]}
    ) == [with_b["id"]]
    assert list_ids(crm, "deal", filter={"field": "partners", "op": "is_blank", "value": True}) == [
        alone["id"]
    ]
    assert list_ids(
        crm, "deal", filter={"field": "partners.name", "op": "eq", "value": "腾讯云"}
    ) == [with_a["id"]]


def test_a_list_page_shows_every_value_exactly_as_the_record_does(client: TestClient) -> None:
    """List pages read dates, times and multi-selects by a shortcut on SQLite; the values must
    be the very ones a single record read gives, and pages sorted by them must chain."""
    assert client.post("/api/v1/apps", json={"key": "ops", "label": "运维"}).status_code == 201
    form = {
        "key": "ticket",
        "label": "工单",
        "fields": [
            {"key": "title", "label": "标题", "type": "text"},
            {"key": "due", "label": "到期", "type": "date"},
            {"key": "opened", "label": "开单时间", "type": "datetime"},
            {"key": "cost", "label": "费用", "type": "money"},
            {"key": "ratio", "label": "比例", "type": "percent"},
            {"key": "weight", "label": "重量", "type": "decimal", "scale": 3},
            {"key": "units", "label": "台数", "type": "decimal", "scale": 0},
            {"key": "count", "label": "数量", "type": "integer"},
            {"key": "urgent", "label": "加急", "type": "boolean"},
            {
                "key": "areas",
                "label": "区域",
                "type": "multi_select",
                "options": [{"value": "bj", "label": "北京"}, {"value": "sh", "label": "上海"}],
            },
        ],
    }
    assert client.post("/api/v1/apps/ops/forms", json=form).status_code == 201
    values = [
        {
            "title": "整秒",
            "due": "2026-01-31",
            "opened": "2026-01-31T09:30:00+08:00",
            "cost": "-0.05",
            "ratio": "12.5",
            "weight": "1.000",
            "units": "-12",
            "count": 0,
            "urgent": False,
            "areas": ["sh", "bj"],
        },
        {
            "title": "微秒",
            "due": "0999-12-31",
            "opened": "2026-06-30T23:59:59.000001Z",
            "cost": "123456789.99",
            "weight": "-0.001",
            "units": "7",
            "areas": [],
        },
        {"title": "空"},
    ]
    ids = [create(client, "ticket", item)["id"] for item in values]
    single = {i: client.get(f"/api/v1/forms/ticket/records/{i}").json() for i in ids}
    assert single[ids[0]]["opened"] == "2026-01-31T01:30:00+00:00"
    assert single[ids[1]]["opened"] == "2026-06-30T23:59:59.000001+00:00"
    listed = client.get("/api/v1/forms/ticket/records", params={"limit": 10}).json()["items"]
    assert {item["id"]: item for item in listed} == single
    assert single[ids[0]]["cost"] == "-0.05" and single[ids[1]]["weight"] == "-0.001"
    for sort in ("opened", "-due", "created_at", "-cost", "weight", "units,-ratio"):
        seen, cursor = [], None
        while True:
            params: dict[str, Any] = {"sort": sort, "limit": 1}
            if cursor:
                params["cursor"] = cursor
            page = client.get("/api/v1/forms/ticket/records", params=params)
            assert page.status_code == 200, page.text
            seen.extend(item["id"] for item in page.json()["items"])
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
        whole = client.get("/api/v1/forms/ticket/records", params={"sort": sort, "limit": 10})
        assert seen == [item["id"] for item in whole.json()["items"]], sort
        assert sorted(seen) == sorted(ids), sort


def test_every_change_leaves_its_event_in_the_outbox_and_its_entry_in_the_history(
    crm: TestClient, workspace: Workspace, admin: Actor
) -> None:
    """Creations are written set-based (one INSERT … SELECT each for history and outbox); their
    rows must read exactly like those of single changes."""
    one = create(crm, "customer", {"name": "华为"})["id"]
    bulk = crm.post(
        "/api/v1/forms/customer/records/bulk", json={"items": [{"name": "阿里"}, {"name": "腾讯"}]}
    ).json()["ids"]
    crm.patch(f"/api/v1/forms/customer/records/{one}", json={"phone": "13800138000"})
    crm.delete(f"/api/v1/forms/customer/records/{bulk[0]}")
    with workspace.engine.connect() as conn:
        events = conn.execute(
            sa.select(outbox.c.event_type, outbox.c.payload).order_by(outbox.c.id)
        ).all()
        created = conn.execute(
            sa.select(record_history).where(record_history.c.action == "create")
        ).all()

    def payload(record_id: int, version: int, **more: Any) -> dict[str, Any]:
        return {"form": "customer", "record_id": record_id, "actor_id": admin.user_id,
                "version": version, **more}  # fmt: skip

    assert [(e.event_type, e.payload) for e in events] == [
        ("RecordCreated", payload(one, 1)),
        ("RecordCreated", payload(bulk[0], 1)),
        ("RecordCreated", payload(bulk[1], 1)),
        ("RecordUpdated", payload(one, 2, changes={"phone": [None, "+8613800138000"]})),
        ("RecordDeleted", payload(bulk[0], 2)),
    ]
    assert sorted((h.record_id, h.version, h.changes, h.actor_id) for h in created) == [
        (i, 1, {}, admin.user_id) for i in sorted([one, *bulk])
    ]
    assert {h.at.tzinfo is not None for h in created} == {True}


def test_bulk_delete_trashes_every_record_with_its_history_and_event_or_none(
    crm: TestClient, workspace: Workspace, admin: Actor
) -> None:
    ids = crm.post(
        "/api/v1/forms/customer/records/bulk",
        json={"items": [{"name": f"客户{i}"} for i in range(4)]},
    ).json()["ids"]
    crm.patch(f"/api/v1/forms/customer/records/{ids[0]}", json={"phone": "13800138000"})
    events_before = count_rows(workspace, "sys_outbox")
    url = "/api/v1/forms/customer/records/delete"
    missing = crm.post(url, json={"ids": [ids[0], 999999]})
    assert missing.status_code == 404 and "999999" in missing.json()["detail"]
    assert crm.post(url, json={"ids": []}).status_code == 422
    assert crm.post(url, json={"ids": list(range(1, 1002))}).status_code == 422
    assert (
        len(list_ids(crm, "customer")) == 4 and count_rows(workspace, "sys_outbox") == events_before
    )
    done = crm.post(url, json={"ids": [ids[0], ids[1], ids[2], ids[0]]})
    assert done.status_code == 200 and done.json() == {"deleted": 3}
    assert list_ids(crm, "customer") == [ids[3]]
    again = crm.post(url, json={"ids": [ids[1]]})  # already in the trash
    assert again.status_code == 404
    first = crm.get(f"/api/v1/forms/customer/records/{ids[0]}/history").json()["items"]
    assert [(h["action"], h["version"]) for h in first] == [
        ("create", 1),
        ("update", 2),
        ("delete", 3),
    ]
    with workspace.engine.connect() as conn:
        deleted = (
            conn.execute(sa.select(outbox.c.payload).where(outbox.c.event_type == "RecordDeleted"))
            .scalars()
            .all()
        )
    assert sorted((p["record_id"], p["version"]) for p in deleted) == [
        (ids[0], 3), (ids[1], 2), (ids[2], 2)
    ]  # fmt: skip
    restored = crm.post(f"/api/v1/forms/customer/records/{ids[1]}/restore")
    assert restored.status_code == 200 and restored.json()["_version"] == 3


def test_a_bulk_edit_relinks_many_to_many_and_leaves_records_already_so_unchanged(
    crm: TestClient,
) -> None:
    a, b = (create(crm, "customer", {"name": n})["id"] for n in ("腾讯云", "阿里云"))
    first = create(crm, "deal", {"name": "A", "partners": [a]})["id"]
    second = create(crm, "deal", {"name": "B", "partners": [b, a]})["id"]
    edited = crm.post(
        "/api/v1/forms/deal/records/update",
        json={"ids": [first, second], "values": {"partners": [a, b]}},
    )
    assert edited.status_code == 200, edited.text
    assert edited.json() == {"updated": 1}  # B already had both
    assert crm.get(f"/api/v1/forms/deal/records/{first}").json()["partners"] == sorted([a, b])
    history = crm.get(f"/api/v1/forms/deal/records/{first}/history").json()["items"]
    assert history[-1]["changes"] == {"partners": [[a], [a, b]]}
    assert crm.get(f"/api/v1/forms/deal/records/{second}").json()["_version"] == 1


def test_a_bulk_edit_works_whatever_the_field_keys(client: TestClient) -> None:
    """Keys that look like the statement's own parameters (record_id, new_…) are plain fields."""
    assert client.post("/api/v1/apps", json={"key": "ops", "label": "运维"}).status_code == 201
    fields = [
        {"key": k, "label": k, "type": "integer"} for k in ("record_id", "amount", "new_amount")
    ]
    form = {"key": "ticket", "label": "工单", "fields": fields}
    assert client.post("/api/v1/apps/ops/forms", json=form).status_code == 201
    ids = [create(client, "ticket", {"amount": i})["id"] for i in range(3)]
    values = {"record_id": 7, "amount": 8, "new_amount": 9}
    edited = client.post("/api/v1/forms/ticket/records/update", json={"ids": ids, "values": values})
    assert edited.status_code == 200, edited.text
    for record_id in ids:
        record = client.get(f"/api/v1/forms/ticket/records/{record_id}").json()
        assert {k: record[k] for k in values} == values and record["id"] == record_id


def test_digits_that_are_not_decimal_are_refused_not_crashed_on(crm: TestClient) -> None:
    """ "²" is a digit to str.isdigit() but not a number to int()."""
    bad = crm.post("/api/v1/forms/deal/records", json={"name": "A", "customer": "²"})
    assert bad.status_code == 422, bad.text
    assert bad.json()["errors"][0]["code"] == "invalid_reference"
    deal = create(crm, "deal", {"name": "A"})
    stale = crm.patch(
        f"/api/v1/forms/deal/records/{deal['id']}",
        json={"name": "B"},
        headers={"If-Match": '"²"'.encode("latin-1")},
    )
    assert stale.status_code == 422 and stale.json()["errors"][0]["field"] == "If-Match"
