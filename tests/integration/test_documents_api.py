"""Templates and documents over the API: who may do what, what a template can reach (only
the record as its reader reads it), bad templates refused whole, errors in both languages."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from meridian.access import manage
from meridian.access.tokens import create_token
from meridian.app import create_app
from meridian.core.actor import Actor
from meridian.http.deps import Workspace
from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import Worker
from meridian.settings import Settings
from tests.documents_support import pdf_text
from tests.forms import install_forms, select_field

BODY = """<h1>{{ record.name }}</h1>
<p>客户：{{ record.customer }}｜等级：{{ record.customer.level }}</p>
<p>金额：{{ record.amount | money }}｜{{ record.amount | rmb_upper }}</p>
<p>底价：[{{ record.secret }}]</p>
{% for line in record.lines %}
<p>{{ line.item }} {{ times(line.qty, line.price) | money }}</p>
{% endfor %}
<p>合计：{{ record.lines | total("qty", "price") | money }}</p>
<p>探测：[{{ record.__class__ }}][{{ raw.__init__ }}][{{ "x".__class__ }}]\
[{{ range.__globals__ }}]</p>
<img src="file:///etc/passwd"><img src="http://127.0.0.1:9/logo.png">
"""


@pytest.fixture
def people(workspace: Workspace, client: TestClient) -> dict[str, Any]:
    with workspace.transaction() as conn:
        install_forms(
            conn,
            {
                "key": "customer",
                "label": "客户",
                "title_field": "name",
                "fields": [
                    {"key": "name", "label": "名称", "type": "text"},
                    select_field("level", "等级", ("A", "A 战略客户")),
                ],
            },
            {
                "key": "deal",
                "label": "商机",
                "title_field": "name",
                "fields": [
                    {"key": "name", "label": "名称", "type": "text"},
                    {"key": "amount", "label": "金额", "type": "money"},
                    {"key": "secret", "label": "底价", "type": "text"},
                    {"key": "customer", "label": "客户", "type": "link", "target": "customer"},
                    select_field("status", "状态", ("draft", "草稿"), ("approved", "已批准")),
                    {
                        "key": "lines",
                        "label": "明细",
                        "type": "child_table",
                        "fields": [
                            {"key": "item", "label": "项目", "type": "text"},
                            {"key": "qty", "label": "数量", "type": "integer"},
                            {"key": "price", "label": "单价", "type": "money"},
                        ],
                    },
                ],
            },
        )
        member = manage.add_user(
            conn,
            Actor.system(),
            email="mei@acme.test",
            name="梅",
            password="Passw0rd-long",
            passwords=workspace.passwords,
            roles=["member"],
            department=None,
            must_change_password=False,
        )
        outsider = manage.add_user(
            conn,
            Actor.system(),
            email="olaf@acme.test",
            name="Olaf",
            password="Passw0rd-long",
            passwords=workspace.passwords,
            roles=[],
            department=None,
            must_change_password=False,
        )
    customer = client.post(
        "/api/v1/forms/customer/records", json={"name": "阿里云计算有限公司", "level": "A"}
    ).json()
    deal = client.post(
        "/api/v1/forms/deal/records",
        json={
            "name": "Q3-RENEWAL 续约",
            "amount": "20030.00",
            "secret": "机密底价 18000",
            "customer": customer["id"],
            "status": "draft",
            "lines": [
                {"item": "机柜", "qty": 2, "price": "3500.00"},
                {"item": "带宽", "qty": 1, "price": "13030.00"},
            ],
        },
    )
    assert deal.status_code == 201, deal.text
    rules = {"read": "all", "fields": {"secret": "hidden"}}
    assert client.put("/api/v1/roles/member/forms/deal", json=rules).status_code == 200
    assert (
        client.put("/api/v1/roles/member/forms/customer", json={"read": False}).status_code == 200
    )
    template = {"key": "offer", "label": "报价函", "body": BODY, "number_pattern": "BJ-{0000}"}
    saved = client.post("/api/v1/forms/deal/templates", json=template)
    assert saved.status_code == 201, saved.text
    return {"deal": deal.json()["id"], "member": member["id"], "outsider": outsider["id"]}


@pytest.fixture
def as_user(workspace: Workspace, settings: Settings, people: dict[str, Any]) -> Iterator[Any]:
    app = create_app(settings, workspace=workspace)
    opened: list[TestClient] = []

    def make(user_id: int) -> TestClient:
        with workspace.transaction() as conn:
            token = create_token(conn=conn, user_id=user_id, name="t")
        client = TestClient(app, headers={"Authorization": f"Bearer {token}"})
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()


def _text(client: TestClient, deal: int, document: dict[str, Any], tmp_path: Path) -> str:
    download = client.get(f"/api/v1/forms/deal/records/{deal}/documents/{document['id']}/file")
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/pdf"
    return pdf_text(download.content, tmp_path)


def test_a_document_is_generated_numbered_and_listed(
    client: TestClient, people: dict[str, Any], tmp_path: Path
) -> None:
    listed = client.get("/api/v1/forms/deal/templates").json()["items"]
    assert [(t["key"], t["version"], t["label"]) for t in listed] == [("offer", 1, "报价函")]
    assert "body" not in listed[0]

    deal = people["deal"]
    created = client.post(
        f"/api/v1/forms/deal/records/{deal}/documents", json={"template": "offer"}
    )
    assert created.status_code == 201, created.text
    document = created.json()
    assert (document["number"], document["version"]) == ("BJ-0001", 1)
    assert isinstance(document["file_id"], int)
    text = _text(client, deal, document, tmp_path)
    for expected in (
        "Q3-RENEWAL 续约",
        "阿里云计算有限公司",
        "A 战略客户",
        "¥20,030.00",
        "贰万零叁拾元整",
        "底价：[机密底价 18000]",
        "机柜 ¥7,000.00",
        "带宽 ¥13,030.00",
        "合计：¥20,030.00",
        "探测：[][][][]",
    ):
        assert expected in text, expected
    assert "root:" not in text
    assert (
        client.get(f"/api/v1/forms/deal/records/{deal}/documents").json()["items"][0]["number"]
        == "BJ-0001"
    )


def test_a_template_sees_only_what_its_reader_may_read(
    people: dict[str, Any], as_user: Any, tmp_path: Path
) -> None:
    member = as_user(people["member"])
    deal = people["deal"]
    created = member.post(
        f"/api/v1/forms/deal/records/{deal}/documents", json={"template": "offer"}
    )
    assert created.status_code == 201, created.text
    text = _text(member, deal, created.json(), tmp_path)
    assert "Q3-RENEWAL 续约" in text and "¥20,030.00" in text
    assert "底价：[]" in text and "机密底价" not in text  # hidden from members
    assert "客户：｜等级：" in text and "阿里云" not in text  # members may not read customers

    outsider = as_user(people["outsider"])
    refused = outsider.post(
        f"/api/v1/forms/deal/records/{deal}/documents", json={"template": "offer"}
    )
    assert refused.status_code == 404
    document = created.json()["id"]
    file_url = f"/api/v1/forms/deal/records/{deal}/documents/{document}/file"
    assert outsider.get(file_url).status_code == 404
    assert outsider.get(f"/api/v1/forms/deal/records/{deal}/documents").status_code == 404


def test_only_form_administrators_change_templates(
    people: dict[str, Any], as_user: Any, client: TestClient
) -> None:
    member = as_user(people["member"])
    refused = member.post(
        "/api/v1/forms/deal/templates",
        json={"key": "offer", "label": "改", "body": "<p>x</p>"},
        headers={"Accept-Language": "zh-CN"},
    )
    assert refused.status_code == 403
    assert "只有表单“商机”的管理员" in refused.json()["detail"]
    in_english = member.post(
        "/api/v1/forms/deal/templates", json={"key": "offer", "label": "改", "body": "<p>x</p>"}
    )
    assert "only administrators" in in_english.json()["detail"]
    assert member.get("/api/v1/forms/deal/templates/offer").status_code == 403
    assert member.get("/api/v1/forms/deal/templates").status_code == 200

    again = client.post(
        "/api/v1/forms/deal/templates",
        json={"key": "offer", "label": "报价函", "body": "<p>{{ record.name }}</p>"},
    )
    assert again.json()["version"] == 2
    shown = client.get("/api/v1/forms/deal/templates/offer").json()
    assert [v["version"] for v in shown["versions"]] == [2, 1]
    assert client.get("/api/v1/forms/deal/templates/offer?version=1").json()["body"] == BODY


def test_a_bad_template_is_refused_whole_and_changes_nothing(
    people: dict[str, Any], client: TestClient
) -> None:
    bad = {
        "key": "Bad Key",
        "label": "坏模板",
        "body": "<p>{% for x in record.lines %}</p>",
        "condition": "stauts = 1",
        "number_pattern": "BJ-{YYYY}",
    }
    refused = client.post(
        "/api/v1/forms/deal/templates", json=bad, headers={"Accept-Language": "zh-CN"}
    )
    assert refused.status_code == 422
    fields = {e["field"]: e for e in refused.json()["errors"]}
    assert set(fields) == {"key", "body", "condition", "number_pattern"}
    assert "第 1 行" in fields["body"]["message"]
    assert client.post("/api/v1/forms/deal/templates", json={"key": "x"}).status_code == 422
    keys = [t["key"] for t in client.get("/api/v1/forms/deal/templates").json()["items"]]
    assert keys == ["offer"]
    assert client.get("/api/v1/forms/nowhere/templates").status_code == 404


def test_a_condition_guards_generation_and_runtime_failures_are_4xx(
    people: dict[str, Any], client: TestClient
) -> None:
    deal = people["deal"]
    guarded = {
        "key": "approved_offer",
        "label": "正式报价",
        "body": "<p>{{ record.name }}</p>",
        "condition": 'status = "approved"',
    }
    assert client.post("/api/v1/forms/deal/templates", json=guarded).status_code == 201
    url = f"/api/v1/forms/deal/records/{deal}/documents"
    refused = client.post(
        url, json={"template": "approved_offer"}, headers={"Accept-Language": "zh-CN"}
    )
    assert refused.status_code == 409
    assert refused.json()["reason"] == "condition_not_met"
    assert "生成条件" in refused.json()["detail"]
    assert (
        client.patch(f"/api/v1/forms/deal/records/{deal}", json={"status": "approved"}).status_code
        == 200
    )
    made = client.post(url, json={"template": "approved_offer"})
    assert made.status_code == 201 and made.json()["number"].endswith("-0001")

    for body in ('{% include "other.html" %}', "{{ record.name | rmb_upper }}"):
        saved = client.post(
            "/api/v1/forms/deal/templates", json={"key": "broken", "label": "坏", "body": body}
        )
        assert saved.status_code == 201
        failed = client.post(url, json={"template": "broken"})
        assert failed.status_code == 422, failed.text
        assert failed.json()["errors"][0]["code"] == "template_failed"
    fixed = {"key": "broken", "label": "修好", "body": "<p>{{ record.name }}</p>"}
    assert client.post("/api/v1/forms/deal/templates", json=fixed).status_code == 201
    retried = client.post(url, json={"template": "broken"}).json()
    # The failed attempts kept their number for the record: the retry takes it, version 1.
    assert (retried["number"][-5:], retried["version"]) == ("-0001", 1)
    assert client.post(url, json={"template": "nope"}).status_code == 404
    assert client.post(url, json={"template": ""}).status_code == 422
    assert client.post(url, json={"template": "offer", "extra": 1}).status_code == 422
    listed = [(d["template"], d["number"]) for d in client.get(url).json()["items"]]
    assert listed == [
        ("broken", retried["number"]),
        ("approved_offer", made.json()["number"]),
    ]


def _docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


def test_a_word_templates_source_is_a_file_its_builder_may_use(
    client: TestClient, as_user: Any, people: dict[str, Any]
) -> None:
    """A template names its .docx by the token the upload gave; someone else's file (its
    token learnt somehow) or an old sequential id is refused as if there were no file."""
    rules = {"read": "all", "manage": True, "fields": {"secret": "hidden"}}
    assert client.put("/api/v1/roles/member/forms/deal", json=rules).status_code == 200
    manager = as_user(people["member"])
    theirs = client.post("/api/v1/files", files={"file": ("价格表.docx", _docx())}).json()["id"]
    mine = manager.post("/api/v1/files", files={"file": ("报价.docx", _docx())}).json()["id"]
    template = {"key": "word", "label": "Word 报价", "kind": "docx"}
    for source in (theirs, 1, "1"):
        refused = manager.post(
            "/api/v1/forms/deal/templates", json={**template, "source_file_id": source}
        )
        assert refused.status_code == 422, source
        assert refused.json()["errors"][0]["field"] == "source_file_id"
    saved = manager.post("/api/v1/forms/deal/templates", json={**template, "source_file_id": mine})
    assert saved.status_code == 201, saved.text
    assert saved.json()["source_file_id"] == mine
    listed = client.get("/api/v1/forms/deal/templates").json()["items"]
    assert {t["key"]: t["source_file_id"] for t in listed}["word"] == mine


def test_a_document_is_shown_only_to_readers_who_see_what_its_generator_saw(
    workspace: Workspace, client: TestClient, people: dict[str, Any], as_user: Any
) -> None:
    """The admin's quote prints the floor price hidden from members: a member who reads the
    deal neither finds it in the list nor downloads it (answered as a missing document); a
    reader hiding nothing sees it; a member's own quote is theirs and the admin's."""
    with workspace.transaction() as conn:
        auditor = manage.add_user(
            conn,
            Actor.system(),
            email="aud@acme.test",
            name="审计",
            password="Passw0rd-long",
            passwords=workspace.passwords,
            roles=["read_only"],
            department=None,
            must_change_password=False,
        )
    deal = people["deal"]
    url = f"/api/v1/forms/deal/records/{deal}/documents"
    by_admin = client.post(url, json={"template": "offer"})
    assert by_admin.status_code == 201, by_admin.text
    admins = by_admin.json()["id"]
    member, reader = as_user(people["member"]), as_user(auditor["id"])
    assert member.get(f"/api/v1/forms/deal/records/{deal}").status_code == 200

    listed = member.get(url)
    assert listed.status_code == 200 and listed.json()["items"] == []
    refused = member.get(f"{url}/{admins}/file")
    missing = member.get(f"{url}/{10**9}/file")
    assert refused.status_code == missing.status_code == 404
    assert refused.json() == {
        key: value.replace(str(10**9), str(admins)) if isinstance(value, str) else value
        for key, value in {**missing.json(), "id": admins}.items()
    }
    assert refused.json()["detail"] == f"document {admins} does not exist"

    assert [d["id"] for d in reader.get(url).json()["items"]] == [admins]
    shown = reader.get(f"{url}/{admins}/file")
    assert shown.status_code == 200 and shown.content == client.get(f"{url}/{admins}/file").content

    by_member = member.post(url, json={"template": "offer"})
    assert by_member.status_code == 201, by_member.text
    members = by_member.json()["id"]
    assert [d["id"] for d in member.get(url).json()["items"]] == [members]
    assert member.get(f"{url}/{members}/file").status_code == 200
    assert [d["id"] for d in client.get(url).json()["items"]] == [members, admins]
    assert client.get(f"{url}/{members}/file").status_code == 200


def test_a_batch_file_is_refused_to_a_reader_who_now_sees_less_than_its_generator(
    workspace: Workspace, client: TestClient, people: dict[str, Any], as_user: Any
) -> None:
    """A member's batch holds their quotes; once their role hides the amount too, neither the
    quote nor the batch's file is theirs any more (refused as missing), yet the admin's."""
    member, deal = as_user(people["member"]), people["deal"]
    queued = member.post(
        "/api/v1/forms/deal/documents/batches",
        json={"template": "offer", "ids": [deal], "output": "zip"},
    )
    assert queued.status_code == 202, queued.text
    batch = queued.json()["id"]
    worker = Worker(workspace.engine, job_handlers(workspace), workspace.tz)
    while worker.run_once():
        pass
    file_url = f"/api/v1/documents/batches/{batch}/file"
    assert member.get(file_url).status_code == 200
    assert len(member.get(f"/api/v1/forms/deal/records/{deal}/documents").json()["items"]) == 1

    rules = {"read": "all", "fields": {"secret": "hidden", "amount": "hidden"}}
    assert client.put("/api/v1/roles/member/forms/deal", json=rules).status_code == 200
    refused = member.get(file_url)
    assert refused.status_code == 404
    assert refused.json()["detail"] == f"batch {batch} does not exist"
    assert member.get(f"/api/v1/forms/deal/records/{deal}/documents").json()["items"] == []
    assert client.get(file_url).status_code == 200
