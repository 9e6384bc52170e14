"""A small sales app with a pipeline, for the stage tests (API, service, browser, bench)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

STAGES = [
    ("lead", "线索", "Lead"),
    ("interest", "意向", "Interest"),
    ("proposal", "方案报价", "Proposal"),
    ("negotiation", "谈判", "Negotiation"),
    ("won", "签约", "Won"),
    ("lost", "输单", "Lost"),
]

FORMS: list[dict[str, Any]] = [
    {
        "key": "deal",
        "label": "商机",
        "fields": [
            {"key": "name", "label": "名称", "type": "text"},
            {"key": "amount", "label": "金额", "type": "money"},
            {
                "key": "stage",
                "label": "阶段",
                "type": "select",
                "options": [{"value": key, "label": label} for key, label, _ in STAGES],
            },
            {"key": "loss_reason", "label": "输单原因", "type": "text"},
            {"key": "note", "label": "备注", "type": "text"},
        ],
    },
    {
        "key": "quote",
        "label": "报价单",
        "fields": [
            {"key": "title", "label": "标题", "type": "text"},
            {"key": "deal", "label": "商机", "type": "link", "target": "deal"},
            {"key": "status", "label": "状态", "type": "text"},
        ],
    },
]


def pipeline_document(**overrides: Any) -> dict[str, Any]:
    """线索 → 意向 → 方案报价 → 谈判 → 签约, 输单 as lost, with a gate on each step."""
    stages: list[dict[str, Any]] = [
        {"key": key, "label": label, "label_en": label_en, "category": "open"}
        for key, label, label_en in STAGES
    ]
    stages[0]["probability"] = 10
    stages[1].update(
        probability=30,
        exit=[
            {
                "kind": "checklist",
                "config": {
                    "item": "survey",
                    "label": "需求调研表已确认",
                    "label_en": "survey confirmed",
                },
            },
            {"kind": "required_field", "config": {"field": "amount"}},
        ],
    )
    stages[2].update(
        probability=50,
        entry=[{"kind": "related_record", "config": {"form": "quote", "link_field": "deal"}}],
        sla={"amount": 48, "unit": "hours", "warn_percent": 50},
    )
    stages[3]["probability"] = 70
    stages[4].update(
        category="won",
        probability=100,
        entry=[{"kind": "condition", "config": {"expression": "amount > 0"}}],
    )
    stages[5].update(
        category="lost", entry=[{"kind": "required_field", "config": {"field": "loss_reason"}}]
    )
    return {
        "label": "销售流程",
        "label_en": "Sales",
        "stage_field": "stage",
        "override_roles": ["manager"],
        "stages": stages,
        **overrides,
    }


def install_sales(client: TestClient) -> None:
    assert client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"}).status_code == 201
    for form in FORMS:
        response = client.post("/api/v1/apps/crm/forms", json=form)
        assert response.status_code == 201, response.text
    response = client.put("/api/v1/forms/deal/pipelines/sales", json=pipeline_document())
    assert response.status_code == 200, response.text
