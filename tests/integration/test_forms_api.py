"""Building forms over the API: real tables, online changes, refusals that change nothing."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from meridian.errors import StaleVersion
from meridian.http.deps import Workspace
from meridian.schema.catalog import get_form, store_form


def make_app(client: TestClient, key: str = "crm") -> None:
    response = client.post("/api/v1/apps", json={"key": key, "label": "客户管理"})
    assert response.status_code == 201, response.text


def make_form(client: TestClient, body: dict[str, Any], app: str = "crm") -> dict[str, Any]:
    response = client.post(f"/api/v1/apps/{app}/forms", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


CUSTOMER = {
    "key": "customer",
    "label": "客户",
    "title_field": "name",
    "fields": [
        {"key": "name", "label": "客户名称", "type": "text", "required": True, "unique": True},
        {"key": "amount", "label": "预计金额", "type": "money"},
        {"key": "cabinets", "label": "机柜数", "type": "integer", "min_value": 0},
        {"key": "code", "label": "编码", "type": "text"},
        {
            "key": "level",
            "label": "等级",
            "type": "select",
            "options": [{"value": "A", "label": "A 级"}, {"value": "B", "label": "B 级"}],
        },
    ],
}


def columns(workspace: Workspace, table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(workspace.engine).get_columns(table)}


def test_a_form_is_a_real_table_with_system_columns(
    client: TestClient, workspace: Workspace
) -> None:
    make_app(client)
    form = make_form(client, CUSTOMER)
    assert form["version"] == 1
    assert {"id", "_version", "owner_id", "created_at", "deleted_at", "name", "amount"} <= columns(
        workspace, "data_customer"
    )


def test_field_keys_are_made_from_chinese_labels(client: TestClient) -> None:
    make_app(client)
    form = make_form(
        client,
        {
            "label": "联系人",
            "fields": [
                {"label": "客户名称", "type": "text"},
                {"label": "预计金额", "type": "money"},
            ],
        },
    )
    assert [f["key"] for f in form["fields"]] == ["kehu_mingcheng", "yuji_jine"]


def test_bad_field_definitions_are_reported_together_and_nothing_is_created(
    client: TestClient, workspace: Workspace
) -> None:
    make_app(client)
    response = client.post(
        "/api/v1/apps/crm/forms",
        json={
            "key": "deal",
            "label": "商机",
            "fields": [
                {"key": "stage", "label": "阶段", "type": "select", "options": []},
                {"key": "customer", "label": "客户", "type": "link", "target": "nowhere"},
            ],
        },
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert {e["code"] for e in problem["errors"]} == {"invalid_definition", "unknown_target"}
    assert not sa.inspect(workspace.engine).has_table("data_deal")
    assert client.get("/api/v1/forms/deal").status_code == 404


def test_form_keys_are_unique_across_apps(client: TestClient) -> None:
    make_app(client)
    make_app(client, "ops")
    make_form(client, CUSTOMER)
    response = client.post("/api/v1/apps/ops/forms", json=CUSTOMER)
    assert response.status_code == 409


def create(client: TestClient, form: str, values: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/api/v1/forms/{form}/records", json=values)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_adding_a_field_keeps_existing_records(client: TestClient, workspace: Workspace) -> None:
    make_app(client)
    make_form(client, CUSTOMER)
    record = create(client, "customer", {"name": "华为云"})
    response = client.post("/api/v1/forms/customer/fields", json={"label": "网站", "type": "url"})
    assert response.status_code == 201, response.text
    assert response.json()["version"] == 2
    assert "wangzhan" in columns(workspace, "data_customer")
    again = client.get(f"/api/v1/forms/customer/records/{record['id']}").json()
    assert again["name"] == "华为云"
    assert again["wangzhan"] is None


def test_type_change_that_would_lose_values_is_refused_with_offenders(
    client: TestClient, workspace: Workspace
) -> None:
    make_app(client)
    make_form(client, CUSTOMER)
    good = create(client, "customer", {"name": "ACME-A", "code": "42"})
    bad = create(client, "customer", {"name": "ACME-B", "code": "B-17"})
    create(client, "customer", {"name": "ACME-C"})
    response = client.patch("/api/v1/forms/customer/fields/code", json={"type": "integer"})
    assert response.status_code == 409
    problem = response.json()
    assert problem["code"] == "schema_change_refused"
    assert problem["offenders"] == [{"id": bad["id"], "value": "B-17"}]
    form = client.get("/api/v1/forms/customer").json()
    assert form["version"] == 1
    assert next(f for f in form["fields"] if f["key"] == "code")["type"] == "text"
    assert client.get(f"/api/v1/forms/customer/records/{good['id']}").json()["code"] == "42"


def test_type_change_converts_every_value_when_all_convert(client: TestClient) -> None:
    make_app(client)
    make_form(client, CUSTOMER)
    first = create(client, "customer", {"name": "ACME-A", "code": " 42 "})
    second = create(client, "customer", {"name": "ACME-B", "code": "-7"})
    response = client.patch("/api/v1/forms/customer/fields/code", json={"type": "integer"})
    assert response.status_code == 200, response.text
    assert client.get(f"/api/v1/forms/customer/records/{first['id']}").json()["code"] == 42
    assert client.get(f"/api/v1/forms/customer/records/{second['id']}").json()["code"] == -7
    # and back to text, then to money with exact decimals
    assert (
        client.patch("/api/v1/forms/customer/fields/code", json={"type": "text"}).status_code == 200
    )
    assert client.get(f"/api/v1/forms/customer/records/{first['id']}").json()["code"] == "42"


def test_money_to_integer_is_refused_when_cents_would_be_lost(client: TestClient) -> None:
    make_app(client)
    make_form(client, CUSTOMER)
    whole = create(client, "customer", {"name": "ACME-A", "amount": "1200.00"})
    cents = create(client, "customer", {"name": "ACME-B", "amount": "99.95"})
    response = client.patch("/api/v1/forms/customer/fields/amount", json={"type": "integer"})
    assert response.status_code == 409
    assert [o["id"] for o in response.json()["offenders"]] == [cents["id"]]
    client.patch(f"/api/v1/forms/customer/records/{cents['id']}", json={"amount": "100"})
    assert (
        client.patch("/api/v1/forms/customer/fields/amount", json={"type": "integer"}).status_code
        == 200
    )
    assert client.get(f"/api/v1/forms/customer/records/{whole['id']}").json()["amount"] == 1200


def test_text_to_money_converts_exactly(client: TestClient) -> None:
    make_app(client)
    make_form(client, CUSTOMER)
    record = create(client, "customer", {"name": "ACME-A", "code": "12345678901234.56"})
    assert (
        client.patch("/api/v1/forms/customer/fields/code", json={"type": "money"}).status_code
        == 200
    )
    assert (
        client.get(f"/api/v1/forms/customer/records/{record['id']}").json()["code"]
        == "12345678901234.56"
    )


def test_making_a_field_required_is_refused_while_blanks_exist_unless_filled(
    client: TestClient,
) -> None:
    make_app(client)
    make_form(client, CUSTOMER)
    blank = create(client, "customer", {"name": "ACME-A"})
    create(client, "customer", {"name": "ACME-B", "level": "A"})
    refused = client.patch("/api/v1/forms/customer/fields/level", json={"required": True})
    assert refused.status_code == 409
    assert [o["id"] for o in refused.json()["offenders"]] == [blank["id"]]
    filled = client.patch(
        "/api/v1/forms/customer/fields/level", json={"required": True, "fill_value": "B"}
    )
    assert filled.status_code == 200, filled.text
    assert client.get(f"/api/v1/forms/customer/records/{blank['id']}").json()["level"] == "B"


def test_making_a_field_unique_is_refused_while_duplicates_exist(client: TestClient) -> None:
    make_app(client)
    make_form(client, CUSTOMER)
    a = create(client, "customer", {"name": "ACME-A", "code": "X"})
    b = create(client, "customer", {"name": "ACME-B", "code": "X"})
    refused = client.patch("/api/v1/forms/customer/fields/code", json={"unique": True})
    assert refused.status_code == 409
    assert sorted(o["id"] for o in refused.json()["offenders"]) == [a["id"], b["id"]]


def test_renaming_a_field_keeps_its_values(client: TestClient) -> None:
    make_app(client)
    make_form(client, CUSTOMER)
    record = create(client, "customer", {"name": "ACME-A", "code": "K1"})
    response = client.patch(
        "/api/v1/forms/customer/fields/code", json={"key": "customer_code", "label": "客户编码"}
    )
    assert response.status_code == 200, response.text
    again = client.get(f"/api/v1/forms/customer/records/{record['id']}").json()
    assert again["customer_code"] == "K1"
    assert "code" not in again


def test_a_removed_field_is_archived_with_its_data_and_can_be_restored(
    client: TestClient, workspace: Workspace
) -> None:
    make_app(client)
    make_form(client, CUSTOMER)
    record = create(client, "customer", {"name": "ACME-A", "code": "K1"})
    assert client.delete("/api/v1/forms/customer/fields/code").status_code == 200
    assert "code" not in client.get(f"/api/v1/forms/customer/records/{record['id']}").json()
    assert "code" in columns(workspace, "data_customer")
    assert client.post("/api/v1/forms/customer/fields/code/restore").status_code == 200
    assert client.get(f"/api/v1/forms/customer/records/{record['id']}").json()["code"] == "K1"
    # purge only after archiving
    assert client.delete("/api/v1/forms/customer/fields/code?purge=true").status_code == 409
    client.delete("/api/v1/forms/customer/fields/code")
    assert client.delete("/api/v1/forms/customer/fields/code?purge=true").status_code == 200
    assert "code" not in columns(workspace, "data_customer")


def test_every_schema_change_is_recorded_with_before_after_and_actor(client: TestClient) -> None:
    make_app(client)
    make_form(client, CUSTOMER)
    client.patch("/api/v1/forms/customer/fields/code", json={"label": "编号"})
    changes = client.get("/api/v1/forms/customer/changes").json()["items"]
    assert [c["operation"] for c in changes] == ["update_field", "create_form"]
    assert changes[0]["before"]["label"] == "编码"
    assert changes[0]["after"]["label"] == "编号"
    assert changes[0]["actor_id"] is not None


def test_an_app_exports_to_one_package_and_imports_back_identically(client: TestClient) -> None:
    make_app(client)
    make_form(client, CUSTOMER)
    make_form(
        client,
        {
            "key": "contact",
            "label": "联系人",
            "fields": [
                {"key": "customer", "label": "客户", "type": "link", "target": "customer"},
                {"key": "phone", "label": "电话", "type": "phone"},
            ],
        },
    )
    package = client.get("/api/v1/apps/crm/export").json()
    assert [f["key"] for f in package["forms"]] == ["customer", "contact"]
    # Import into a fresh key space by renaming the app and forms.
    renamed = {
        **package,
        "app": {**package["app"], "key": "crm2"},
        "forms": [
            {
                **f,
                "key": f"{f['key']}2",
                "fields": [
                    {**fld, "target": f"{fld['target']}2"} if fld.get("target") else fld
                    for fld in f["fields"]
                ],
            }
            for f in package["forms"]
        ],
    }
    response = client.post("/api/v1/apps/import", json=renamed)
    assert response.status_code == 201, response.text
    again = client.get("/api/v1/apps/crm2/export").json()
    assert again == renamed


def test_requests_without_a_valid_token_are_rejected(client: TestClient) -> None:
    anonymous = client.get("/api/v1/apps", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "unauthenticated"
    wrong = client.get("/api/v1/apps", headers={"Authorization": "Bearer mer_nope"})
    assert wrong.status_code == 401


def test_child_tables_and_many_to_many_links_get_tables_of_their_own(
    client: TestClient, workspace: Workspace
) -> None:
    make_app(client)
    make_form(client, CUSTOMER)
    lines = client.post(
        "/api/v1/forms/customer/fields",
        json={
            "key": "sites",
            "label": "机房",
            "type": "child_table",
            "fields": [
                {"key": "room", "label": "机房", "type": "text", "required": True},
                {"key": "racks", "label": "机柜数", "type": "integer"},
            ],
        },
    )
    assert lines.status_code == 201, lines.text
    pairs = client.post(
        "/api/v1/forms/customer/fields",
        json={
            "key": "peers",
            "label": "关联客户",
            "type": "link",
            "target": "customer",
            "many": True,
        },
    )
    assert pairs.status_code == 201, pairs.text
    inspector = sa.inspect(workspace.engine)
    assert inspector.has_table("data_customer__sites") and inspector.has_table(
        "data_customer__peers"
    )
    other = create(client, "customer", {"name": "ACME-B"})
    record = create(
        client,
        "customer",
        {"name": "ACME-A", "sites": [{"room": "上海-A栋-3F", "racks": 12}], "peers": [other["id"]]},
    )
    assert record["sites"][0]["racks"] == 12 and record["peers"] == [other["id"]]
    for key in ("sites", "peers"):
        assert client.delete(f"/api/v1/forms/customer/fields/{key}").status_code == 200
        assert client.delete(f"/api/v1/forms/customer/fields/{key}?purge=true").status_code == 200
    inspector = sa.inspect(workspace.engine)
    assert not inspector.has_table("data_customer__sites")
    assert not inspector.has_table("data_customer__peers")
    assert "sites" not in client.get(f"/api/v1/forms/customer/records/{record['id']}").json()


def test_two_builders_editing_one_form_do_not_overwrite_each_other(
    client: TestClient, workspace: Workspace
) -> None:
    make_app(client)
    make_form(client, CUSTOMER)
    with workspace.read() as conn:
        seen = get_form(conn, "customer")
    client.patch("/api/v1/forms/customer/fields/code", json={"label": "编号"})
    stale = seen.model_copy(update={"version": seen.version + 1, "label": "改名"})
    with pytest.raises(StaleVersion), workspace.transaction() as conn:
        store_form(conn, stale, new=False)
    assert client.get("/api/v1/forms/customer").json()["label"] == "客户"
