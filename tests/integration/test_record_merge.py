"""Merging two customers: chosen values, links from other forms (single, many, line items),
attachments, tasks and shares follow the survivor; the other goes to the trash pointing at it;
both histories stay on the survivor's timeline; hostile merges change nothing (SQLite and
PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from meridian.app import create_app
from meridian.http.deps import Workspace
from meridian.settings import Settings
from tests.conftest import a_member

PDF = b"%PDF-1.4 business licence"

FORMS = [
    {
        "key": "customer",
        "label": "客户",
        "title_field": "name",
        "fields": [
            {"key": "name", "label": "客户名称", "type": "text"},
            {"key": "uscc", "label": "统一社会信用代码", "type": "uscc", "unique": True},
            {"key": "phone", "label": "电话", "type": "phone"},
            {"key": "city", "label": "城市", "type": "text"},
            {"key": "licence", "label": "资质文件", "type": "attachment"},
        ],
    },
    {
        "key": "contact",
        "label": "联系人",
        "title_field": "name",
        "fields": [
            {"key": "name", "label": "姓名", "type": "text"},
            {"key": "customer", "label": "客户", "type": "link", "target": "customer"},
        ],
    },
    {
        "key": "project",
        "label": "项目",
        "title_field": "name",
        "fields": [
            {"key": "name", "label": "项目", "type": "text"},
            {
                "key": "customers",
                "label": "客户",
                "type": "link",
                "target": "customer",
                "many": True,
            },
            {
                "key": "parts",
                "label": "分包",
                "type": "child_table",
                "fields": [
                    {"key": "what", "label": "内容", "type": "text"},
                    {"key": "buyer", "label": "客户", "type": "link", "target": "customer"},
                ],
            },
        ],
    },
]


@pytest.fixture
def crm(client: TestClient) -> dict[str, Any]:
    assert client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"}).status_code == 201
    for form in FORMS:
        response = client.post("/api/v1/apps/crm/forms", json=form)
        assert response.status_code == 201, response.text
    upload = client.post("/api/v1/files", files={"file": ("营业执照.pdf", PDF, "application/pdf")})
    token = upload.json()["id"]

    def create(form: str, **values: Any) -> dict[str, Any]:
        response = client.post(f"/api/v1/forms/{form}/records", json=values)
        assert response.status_code == 201, response.text
        return dict(response.json())

    keep = create("customer", name="腾讯科技（深圳）有限公司", city="深圳")
    other = create(
        "customer",
        name="腾讯科技 (深圳) 有限责任公司",
        uscc="91440300708461136T",
        phone="13800138000",
        licence=[token],
    )
    third = create("customer", name="阿里云")
    client.patch(f"/api/v1/forms/customer/records/{other['id']}", json={"city": "南山"})
    contact = create("contact", name="马化腾", customer=other["id"])
    kept_contact = create("contact", name="张小龙", customer=keep["id"])
    project = create(
        "project",
        name="IDC 扩容",
        customers=[other["id"], keep["id"]],
        parts=[{"what": "机柜", "buyer": other["id"]}, {"what": "带宽", "buyer": third["id"]}],
    )
    lone = create("project", name="CDN", customers=[other["id"]])
    task = client.post(
        "/api/v1/tasks",
        json={"title": "回访", "form_key": "customer", "record_id": other["id"]},
    )
    assert task.status_code == 201, task.text
    return {
        "keep": keep,
        "other": other,
        "third": third,
        "contact": contact,
        "kept_contact": kept_contact,
        "project": project,
        "lone": lone,
        "task": task.json(),
        "token": token,
    }


def test_a_merge_takes_the_chosen_values_and_every_link(
    client: TestClient, crm: dict[str, Any], workspace: Workspace
) -> None:
    keep, other = crm["keep"], crm["other"]
    response = client.post(
        f"/api/v1/forms/customer/records/{keep['id']}/merge",
        json={
            "other": other["id"],
            "fields": {"uscc": "other", "phone": "other", "licence": "both", "city": "keep"},
        },
    )
    assert response.status_code == 200, response.text
    merged = response.json()
    assert merged["uscc"] == "91440300708461136T"
    assert merged["phone"] == "+8613800138000"
    assert merged["city"] == "深圳"
    assert merged["name"] == "腾讯科技（深圳）有限公司"
    assert merged["licence"] == [crm["token"]]
    # The file now belongs to a live record the reader may read: it downloads.
    assert client.get(f"/api/v1/files/{crm['token']}").content == PDF

    contact = client.get(f"/api/v1/forms/contact/records/{crm['contact']['id']}").json()
    assert contact["customer"] == keep["id"]
    assert contact["_version"] == crm["contact"]["_version"] + 1
    project = client.get(f"/api/v1/forms/project/records/{crm['project']['id']}").json()
    assert project["customers"] == [keep["id"]]
    assert [part["buyer"] for part in project["parts"]] == [keep["id"], crm["third"]["id"]]
    lone = client.get(f"/api/v1/forms/project/records/{crm['lone']['id']}").json()
    assert lone["customers"] == [keep["id"]]
    tasks = client.get("/api/v1/tasks", params={"form": "customer", "record_id": keep["id"]})
    assert crm["task"]["id"] in [t["id"] for t in tasks.json()["items"]]

    gone = client.get(f"/api/v1/forms/customer/records/{other['id']}")
    assert gone.status_code == 404
    trash = client.get("/api/v1/forms/customer/records", params={"deleted": "true"}).json()
    assert [r["id"] for r in trash["items"]] == [other["id"]]

    history = client.get(f"/api/v1/forms/customer/records/{keep['id']}/history").json()["items"]
    theirs = [h for h in history if h["record_id"] == other["id"]]
    assert [h["action"] for h in theirs] == ["create", "update", "delete", "merged"]
    assert theirs[1]["changes"] == {"city": [None, "南山"]}
    mine = [h["action"] for h in history if h["record_id"] == keep["id"]]
    assert mine[0] == "create" and mine[-1] == "merge"
    contact_history = client.get(
        f"/api/v1/forms/contact/records/{crm['contact']['id']}/history"
    ).json()["items"]
    assert contact_history[-1]["changes"] == {"customer": [other["id"], keep["id"]]}

    with workspace.read() as conn:
        merge = conn.execute(sa.text("SELECT survivor_id, loser_id FROM sys_record_merge")).one()
        audited = conn.execute(
            sa.text("SELECT detail FROM sys_audit WHERE action = 'record_merged'")
        ).scalar_one()
    assert tuple(merge) == (keep["id"], other["id"])
    assert "contact.customer" in str(audited)


def _state(workspace: Workspace) -> list[Any]:
    with workspace.read() as conn:
        return [
            conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY 1")).all()
            for table in (
                "data_customer",
                "data_contact",
                "data_project",
                "sys_task",
                "sys_record_history",
                "sys_record_merge",
            )
        ]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"other": "SELF"}, 422, "other"),
        ({"other": 999999}, 404, None),
        ({"other": "OTHER", "fields": {"nope": "other"}}, 422, "fields.nope"),
        ({"other": "OTHER", "fields": {"city": "both"}}, 422, "fields.city"),
        ({"other": "OTHER", "fields": {"city": "steal"}}, 422, "fields.city"),
        ({"other": "OTHER", "fields": {"city": 3}}, 422, None),
        ({"other": -1}, 422, None),
    ],
)
def test_a_hostile_merge_is_refused_and_changes_nothing(
    client: TestClient,
    crm: dict[str, Any],
    workspace: Workspace,
    body: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    keep = crm["keep"]["id"]
    swap = {"SELF": keep, "OTHER": crm["other"]["id"]}
    body = {**body, "other": swap.get(body["other"], body["other"])}
    before = _state(workspace)
    response = client.post(f"/api/v1/forms/customer/records/{keep}/merge", json=body)
    assert response.status_code == status, response.text
    if field is not None:
        assert field in [e["field"] for e in response.json()["errors"]]
    assert _state(workspace) == before


def test_a_record_of_another_form_is_not_merged(
    client: TestClient, crm: dict[str, Any], workspace: Workspace
) -> None:
    before = _state(workspace)
    response = client.post(
        f"/api/v1/forms/customer/records/{crm['keep']['id']}/merge",
        json={"other": crm["kept_contact"]["id"] + 1000},
    )
    assert response.status_code == 404
    response = client.post(
        f"/api/v1/forms/contact/records/{crm['kept_contact']['id']}/merge",
        json={"other": crm["other"]["id"]},
    )
    assert response.status_code in (404, 422)
    assert _state(workspace) == before


def test_merging_takes_the_right_to_change_one_and_delete_the_other(
    client: TestClient, crm: dict[str, Any], workspace: Workspace, settings: Settings
) -> None:
    user, token = a_member(workspace)
    # A member reads its department's records and changes and deletes only its own.
    client.patch(
        f"/api/v1/forms/customer/records/{crm['keep']['id']}", json={"owner_id": user["id"]}
    )
    before = _state(workspace)
    with TestClient(
        create_app(settings, workspace=workspace), headers={"Authorization": f"Bearer {token}"}
    ) as rep:
        response = rep.post(
            f"/api/v1/forms/customer/records/{crm['keep']['id']}/merge",
            json={"other": crm["other"]["id"]},
        )
    assert response.status_code in (403, 404), response.text
    assert _state(workspace) == before
