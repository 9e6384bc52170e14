"""Inbound webhooks: finance reports a payment, a 回款 record is created, then updated."""

from __future__ import annotations

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
