"""The compliance dossier of one customer: one ZIP with everything, checksummed and audited."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

from fastapi.testclient import TestClient

PDF = b"%PDF-1.4 contract scan"


def test_a_customers_dossier_holds_its_relations_history_files_and_audit(
    client: TestClient,
) -> None:
    assert client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"}).status_code == 201
    forms = [
        {
            "key": "customer",
            "label": "客户",
            "title_field": "name",
            "fields": [
                {"key": "name", "label": "名称", "type": "text"},
                {"key": "files", "label": "资质文件", "type": "attachment"},
            ],
        },
        {
            "key": "contract",
            "label": "合同",
            "fields": [
                {"key": "title", "label": "标题", "type": "text"},
                {"key": "customer", "label": "客户", "type": "link", "target": "customer"},
            ],
        },
    ]
    for form in forms:
        assert client.post("/api/v1/apps/crm/forms", json=form).status_code == 201
    upload = client.post("/api/v1/files", files={"file": ("营业执照.pdf", PDF, "application/pdf")})
    customer = client.post(
        "/api/v1/forms/customer/records", json={"name": "华为云", "files": [upload.json()["id"]]}
    ).json()
    other = client.post("/api/v1/forms/customer/records", json={"name": "阿里云"}).json()
    ours = client.post(
        "/api/v1/forms/contract/records",
        json={"title": "IDC 托管合同", "customer": customer["id"]},
    ).json()
    client.post("/api/v1/forms/contract/records", json={"title": "别家的", "customer": other["id"]})
    client.patch(f"/api/v1/forms/customer/records/{customer['id']}", json={"name": "华为云计算"})
    client.post(
        f"/api/v1/forms/customer/records/{customer['id']}/shares",
        json={"level": "read", "user_id": customer["owner_id"]},
    )

    response = client.get(f"/api/v1/forms/customer/records/{customer['id']}/dossier")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    manifest = json.loads(archive.read("manifest.json"))
    paths = {entry["path"] for entry in manifest["files"]}
    assert paths == {
        "record.json",
        "record.history.json",
        f"related/contract/{ours['id']}.json",
        f"related/contract/{ours['id']}.history.json",
        f"attachments/{upload.json()['id']}_营业执照.pdf",
        "audit.json",
    }
    for entry in manifest["files"]:
        data = archive.read(entry["path"])
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert len(data) == entry["size"]
    assert json.loads(archive.read("record.json"))["name"] == "华为云计算"
    history = json.loads(archive.read("record.history.json"))
    assert [h["action"] for h in history] == ["create", "update"]
    assert archive.read(f"attachments/{upload.json()['id']}_营业执照.pdf") == PDF
    actions = [e["action"] for e in json.loads(archive.read("audit.json"))]
    assert actions == ["record_shared"]

    exported = client.get("/api/v1/audit", params={"action": "dossier_exported"}).json()["items"]
    assert exported[0]["object_id"] == str(customer["id"])
    assert exported[0]["detail"] == {"files": 6, "related": 1}
    assert client.get("/api/v1/forms/customer/records/999999/dossier").status_code == 404
