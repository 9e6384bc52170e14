"""Inbound webhooks: finance reports a payment, a 回款 record is created, then updated."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from meridian.app import create_app
from meridian.http.deps import Workspace
from meridian.settings import Settings


def test_a_payment_from_finance_creates_then_updates_its_record(
    client: TestClient, workspace: Workspace, settings: Settings
) -> None:
    client.post("/api/v1/apps", json={"key": "fin", "label": "财务"})
    form = {
        "key": "payment",
        "label": "回款",
        "fields": [
            {"key": "reference", "label": "流水号", "type": "text", "unique": True},
            {"key": "amount", "label": "金额", "type": "money", "required": True},
            {"key": "paid_on", "label": "到账日期", "type": "date"},
        ],
    }
    assert client.post("/api/v1/apps/fin/forms", json=form).status_code == 201
    mapping = {
        "fields": {"amount": "payment.amount", "paid_on": "payment.date"},
        "match": {"field": "reference", "path": "payment.ref"},
    }
    hook = client.post(
        "/api/v1/inbound-hooks",
        json={"name": "财务系统", "form_key": "payment", "mapping": mapping},
    )
    assert hook.status_code == 201, hook.text
    path = hook.json()["path"]
    with TestClient(create_app(settings, workspace=workspace)) as finance:  # no credentials
        first = finance.post(
            path, json={"payment": {"ref": "BK-001", "amount": "12000.50", "date": "2026-11-20"}}
        )
        assert first.status_code == 200, first.text
        assert first.json()["action"] == "created"
        again = finance.post(path, json={"payment": {"ref": "BK-001", "amount": "13000.00"}})
        assert again.json()["action"] == "updated"
        assert again.json()["record"]["amount"] == "13000.00"
        assert again.json()["record"]["paid_on"] == "2026-11-20"
        bad = finance.post(path, json={"payment": {"ref": "BK-002", "amount": "lots"}})
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"] == "amount"
        no_ref = finance.post(path, json={"payment": {"amount": "1"}})
        assert no_ref.status_code == 422
        assert finance.post("/api/v1/hooks/mih_wrong", json={}).status_code == 404
    records = client.get("/api/v1/forms/payment/records").json()["items"]
    assert [(r["reference"], r["amount"]) for r in records] == [("BK-001", "13000.00")]
    refused = client.post(
        "/api/v1/inbound-hooks",
        json={"name": "", "form_key": "payment", "mapping": {"fields": {"nope": "x"}}},
    )
    assert refused.status_code == 422
    assert {e["field"] for e in refused.json()["errors"]} == {"name", "mapping.fields.nope"}


def test_an_array_payload_makes_one_record_each_mapped_owned_and_matched(
    client: TestClient, workspace: Workspace, settings: Settings, admin: Any
) -> None:
    client.post("/api/v1/apps", json={"key": "ops", "label": "运维"})
    form = {
        "key": "ticket",
        "label": "工单",
        "fields": [
            {"key": "fingerprint", "label": "指纹", "type": "text", "unique": True},
            {"key": "title", "label": "标题", "type": "text", "required": True},
            {"key": "priority", "label": "优先级", "type": "text"},
            {"key": "source", "label": "来源", "type": "text"},
        ],
    }
    assert client.post("/api/v1/apps/ops/forms", json=form).status_code == 201
    mapping = {
        "fields": {
            "title": "summary",
            "priority": {"path": "severity", "map": {"critical": "P1"}, "default": "P3"},
        },
        "constants": {"source": "zabbix"},
        "owner": {"user": admin.user_id},
        "match": {"field": "fingerprint", "path": "id"},
    }
    hook = client.post(
        "/api/v1/inbound-hooks", json={"name": "Zabbix", "form_key": "ticket", "mapping": mapping}
    ).json()
    with TestClient(create_app(settings, workspace=workspace)) as zabbix:
        first = zabbix.post(
            hook["path"],
            json=[
                {"id": "a", "summary": "磁盘满", "severity": "critical"},
                {"id": "b", "summary": "延迟高", "severity": "average"},
            ],
        )
        assert first.status_code == 200, first.text
        assert [r["action"] for r in first.json()["records"]] == ["created", "created"]
        again = zabbix.post(
            hook["path"],
            json=[{"id": "a", "summary": "磁盘满（恢复）", "severity": "info"}, {"summary": "x"}],
        )
        assert again.status_code == 422  # the second has no id: nothing of the call is kept
        assert again.json()["errors"][0]["field"] == "items.1.id"
        bad = zabbix.post(hook["path"], json=[{"id": "c", "severity": "critical"}])
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "items.0.title"
        assert zabbix.post(hook["path"], json=[]).status_code == 422
        assert zabbix.post(hook["path"], json="text").status_code == 422
    items = client.get("/api/v1/forms/ticket/records").json()["items"]
    assert sorted((r["fingerprint"], r["title"], r["priority"], r["source"]) for r in items) == [
        ("a", "磁盘满", "P1", "zabbix"),
        ("b", "延迟高", "P3", "zabbix"),
    ]
    assert {r["owner_id"] for r in items} == {admin.user_id}


def test_bad_mappings_are_refused_naming_each_problem(client: TestClient) -> None:
    client.post("/api/v1/apps", json={"key": "ops", "label": "运维"})
    form = {
        "key": "ticket",
        "label": "工单",
        "fields": [{"key": "title", "label": "标题", "type": "text"}],
    }
    assert client.post("/api/v1/apps/ops/forms", json=form).status_code == 201
    mapping = {
        "fields": {"title": {"path": "", "map": ["x"], "colour": 1}},
        "constants": {"nope": 1},
        "items": 5,
        "owner": {"strategy": "round_robin", "department": 999999},
    }
    refused = client.post(
        "/api/v1/inbound-hooks", json={"name": "x", "form_key": "ticket", "mapping": mapping}
    )
    assert refused.status_code == 422
    assert {e["field"] for e in refused.json()["errors"]} == {
        "mapping.fields.title.path",
        "mapping.fields.title.map",
        "mapping.fields.title",
        "mapping.constants.nope",
        "mapping.items",
        "mapping.owner.department",
    }
