"""Imports over HTTP, as a member whose role has 导入: an .xlsx with a title row, Chinese
headers, a company already stored (spelled otherwise) and a bad date is uploaded, mapped (and
the mapping saved), previewed, dry-run, its duplicate merged, run as a job, read back row by row
and as a report, and rolled back. The dry run's outcomes are the run's. Hostile input — no
导入, a wrong file or sheet, a hidden or unknown field, another user's import — is a 4xx naming
what is wrong, and changes nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from meridian.access import manage
from meridian.access.tokens import create_token
from meridian.app import create_app
from meridian.core.actor import Actor
from meridian.http.deps import Workspace
from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import Worker
from meridian.settings import Settings
from tests.forms import install_forms, select_field

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _user(workspace: Workspace, email: str, name: str, roles: list[str]) -> int:
    with workspace.transaction() as conn:
        made = manage.add_user(
            conn,
            Actor.system(),
            email=email,
            name=name,
            password="Passw0rd-long",
            passwords=workspace.passwords,
            roles=roles,
            department=None,
            must_change_password=False,
        )
    return int(made["id"])


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
                    {"key": "name", "label": "客户名称", "type": "text", "required": True},
                    {"key": "signed", "label": "签约日期", "type": "date"},
                    {"key": "amount", "label": "金额", "type": "money"},
                    select_field("level", "客户等级", ("a", "A 战略"), ("b", "B 普通")),
                    {"key": "secret", "label": "底价", "type": "text"},
                ],
            },
        )
    rules = {
        "create": True,
        "read": "all",
        "update": "all",
        "delete": "own",
        "import": True,
        "fields": {"secret": "hidden"},
    }
    assert client.put("/api/v1/roles/member/forms/customer", json=rules).status_code == 200
    assert client.post("/api/v1/roles", json={"key": "reader", "label": "只读"}).status_code in (
        200,
        201,
    )
    reader_rules = {"read": "all"}
    assert client.put("/api/v1/roles/reader/forms/customer", json=reader_rules).status_code == 200
    stored = client.post(
        "/api/v1/forms/customer/records", json={"name": "腾讯科技(深圳)有限公司", "level": "a"}
    )
    assert stored.status_code == 201, stored.text
    return {
        "mei": _user(workspace, "mei@acme.test", "梅", ["member"]),
        "lin": _user(workspace, "lin@acme.test", "林", ["member"]),
        "reader": _user(workspace, "rita@acme.test", "Rita", ["reader"]),
        "tencent": stored.json()["id"],
    }


@pytest.fixture
def as_user(workspace: Workspace, settings: Settings) -> Iterator[Any]:
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


def customers_xlsx() -> bytes:
    """A title merged above Chinese headers; row 3 is the stored company spelled otherwise,
    row 5 has a date that does not exist."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "华东客户"
    sheet.append(["2026 年华东区客户名单"])
    sheet.merge_cells("A1:E1")
    sheet.append(["公司名称", "签约日期", "金额", "客户等级", "负责人"])
    sheet.append(["腾讯科技（深圳）有限公司", "2024年3月5日", "1.2万", "A 战略", "梅"])
    sheet.append(["阿里云计算有限公司", "2024/3/6", "¥1,200", "B 普通", "mei@acme.test"])
    sheet.append(["字节跳动有限公司", "2024年13月45日", "12.5万元", "普通", "梅"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _upload(client: TestClient, content: bytes, name: str = "华东客户.xlsx", **data: str) -> Any:
    return client.post(
        "/api/v1/forms/customer/imports", files={"file": (name, content, XLSX)}, data=data
    )


def _drain(workspace: Workspace) -> None:
    worker = Worker(workspace.engine, job_handlers(workspace), workspace.tz)
    while worker.run_once():
        pass


def _names(workspace: Workspace) -> dict[str, Any]:
    with workspace.read() as conn:
        rows = conn.execute(
            sa.text("SELECT name, amount, owner_id FROM data_customer WHERE deleted_at IS NULL")
        )
        return {row.name: row for row in rows}


def test_an_import_walks_upload_map_preview_dry_run_duplicates_run_and_rollback(
    workspace: Workspace, people: dict[str, Any], as_user: Any
) -> None:
    mei = as_user(people["mei"])
    uploaded = _upload(mei, customers_xlsx())
    assert uploaded.status_code == 201, uploaded.text
    draft = uploaded.json()
    import_id = draft["id"]
    assert draft["state"] == "draft"
    assert draft["sheets"] == ["华东客户"] and draft["header_row"] == 2
    assert [c["suggested"] for c in draft["columns"][:4]] == ["name", "signed", "amount", "level"]
    assert draft["sample"][0]["row"] == 3 and draft["sample"][0]["cells"][2] == "1.2万"

    offered = mei.get(f"/api/v1/imports/{import_id}/mapping").json()
    assert "secret" not in [f["key"] for f in offered["fields"]]  # hidden from her
    mapping = offered["mapping"]
    assert mapping["columns"][4] == {"header": "负责人", "field": "owner_id"}
    changed = mei.put(
        f"/api/v1/imports/{import_id}/mapping", json={"mapping": mapping, "save_as": "华东模板"}
    )
    assert changed.status_code == 200, changed.text
    assert [m["name"] for m in mei.get(f"/api/v1/imports/{import_id}/mapping").json()["saved"]] == [
        "华东模板"
    ]

    preview = mei.get(f"/api/v1/imports/{import_id}/preview", headers={"Accept-Language": "en"})
    columns = {c["field"]: c for c in preview.json()["columns"]}
    assert [v.get("value") for v in columns["amount"]["values"]] == ["12000", "1200", "125000"]
    bad_date = columns["signed"]["values"][2]
    assert bad_date["cell"] == "2024年13月45日" and bad_date["refusal"]
    assert columns["signed"]["refused"] == 1
    assert columns["level"]["values"][1]["value"] == "b"  # by its label
    assert columns["owner_id"]["values"][1]["value"] == people["mei"]

    dry = mei.post(f"/api/v1/imports/{import_id}/dry-run", json={"sample": None})
    assert dry.status_code == 200, dry.text
    assert dry.json()["counts"] == {"created": 2, "updated": 0, "merged": 0, "rejected": 1}
    assert dry.json()["duplicates"] == 1
    rejected = [o for o in dry.json()["outcomes"] if o["outcome"] == "rejected"]
    assert [o["row"] for o in rejected] == [5]
    # Every reason of the row: a day no calendar has, and 普通 is no option's label ("B 普通").
    assert [r["field"] for r in rejected[0]["reasons"]] == ["signed", "level"]
    assert set(_names(workspace)) == {"腾讯科技(深圳)有限公司"}  # nothing written

    pairs = mei.get(f"/api/v1/imports/{import_id}/duplicates").json()["items"]
    assert [(p["row"], p["record_id"], p["reason"]) for p in pairs] == [
        (3, people["tencent"], "same_name")
    ]
    decided = mei.post(f"/api/v1/imports/{import_id}/duplicates", json={"decision": "merge"})
    assert decided.json() == {"decided": 1}

    dry = mei.post(f"/api/v1/imports/{import_id}/dry-run", json={"sample": None}).json()
    assert dry["counts"] == {"created": 1, "updated": 0, "merged": 1, "rejected": 1}
    report = mei.get(f"/api/v1/imports/{import_id}/dry-run/report")
    assert report.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(report.content)).active
    assert sheet is not None
    assert len(list(sheet.iter_rows())) == 4

    started = mei.post(f"/api/v1/imports/{import_id}/run")
    assert started.status_code == 202, started.text
    assert started.json()["state"] == "running"
    assert mei.post(f"/api/v1/imports/{import_id}/run").status_code == 409
    _drain(workspace)
    progress = mei.get(f"/api/v1/imports/{import_id}/progress").json()
    assert progress["state"] == "finished"
    assert (progress["rows_done"], progress["rows_total"], progress["percent"]) == (3, 3, 100.0)
    assert progress["counts"] == dry["counts"]

    outcomes = mei.get(f"/api/v1/imports/{import_id}/outcomes").json()["items"]
    assert [(o["row"], o["outcome"]) for o in outcomes] == [
        (o["row"], o["outcome"]) for o in dry["outcomes"]
    ]
    only_rejected = mei.get(
        f"/api/v1/imports/{import_id}/outcomes", params={"outcome": "rejected", "limit": 1}
    ).json()
    assert [o["row"] for o in only_rejected["items"]] == [5]
    assert "signed" in only_rejected["items"][0]["reason"]
    names = _names(workspace)
    assert set(names) == {"腾讯科技(深圳)有限公司", "阿里云计算有限公司"}
    assert str(names["腾讯科技(深圳)有限公司"].amount).startswith("12000")  # merged in
    assert names["阿里云计算有限公司"].owner_id == people["mei"]
    full = mei.get(f"/api/v1/imports/{import_id}/report", headers={"Accept-Language": "zh-CN"})
    rows = list(openpyxl.load_workbook(io.BytesIO(full.content)).active.iter_rows(values_only=True))  # type: ignore[union-attr]
    assert rows[0][-3:] == ("结果", "记录 ID", "原因") or rows[0][0] is not None
    assert [row[-3] for row in rows[1:]][:2] != [None, None]

    undone = mei.post(f"/api/v1/imports/{import_id}/rollback")
    assert undone.status_code == 200, undone.text
    assert undone.json() == {"deleted": 1, "reverted": 1, "kept": []}
    names = _names(workspace)
    assert set(names) == {"腾讯科技(深圳)有限公司"}
    assert names["腾讯科技(深圳)有限公司"].amount is None


def test_hostile_imports_are_refused_naming_what_is_wrong(
    workspace: Workspace, people: dict[str, Any], as_user: Any
) -> None:
    mei, lin, reader = as_user(people["mei"]), as_user(people["lin"]), as_user(people["reader"])
    no_right = _upload(reader, customers_xlsx())
    assert no_right.status_code == 403

    pdf = _upload(mei, b"%PDF-1.4 not a sheet", name="名单.pdf")
    assert pdf.status_code == 422
    assert pdf.json()["errors"][0]["field"] == "file"
    assert pdf.json()["errors"][0]["code"] == "unsupported_file"
    broken = _upload(mei, b"PK\x03\x04 broken zip", name="坏.xlsx")
    assert broken.status_code == 422, broken.text
    assert broken.json()["errors"][0]["field"] == "file"
    wrong_sheet = _upload(mei, customers_xlsx(), sheet="西南")
    assert wrong_sheet.status_code == 422
    assert wrong_sheet.json()["errors"][0] | {"message": ""} == {
        "field": "sheet",
        "code": "no_sheet",
        "value": "西南",
        "message": "",
    }

    import_id = _upload(mei, customers_xlsx()).json()["id"]
    url = f"/api/v1/imports/{import_id}/mapping"
    hidden = mei.put(
        url, json={"mapping": {"columns": [{"header": "公司名称", "field": "secret"}]}}
    )
    assert hidden.status_code == 422
    assert hidden.json()["errors"][0]["field"] == "columns.0.field"
    assert hidden.json()["errors"][0]["value"] == "secret"
    unknown = mei.put(url, json={"mapping": {"columns": [{"header": "电话", "field": "name"}]}})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "columns.0.header"
    bad_choice = mei.put(url, json={"on_duplicate": "destroy"})
    assert bad_choice.status_code == 422
    bad_decision = mei.post(f"/api/v1/imports/{import_id}/duplicates", json={"decision": "burn"})
    assert bad_decision.status_code == 422
    assert bad_decision.json()["errors"][0]["field"] == "decision"

    for method, path in (
        ("get", ""),
        ("get", "/mapping"),
        ("get", "/preview"),
        ("post", "/run"),
        ("post", "/rollback"),
    ):
        theirs = getattr(lin, method)(f"/api/v1/imports/{import_id}{path}")
        assert theirs.status_code == 404, (path, theirs.text)
    assert lin.put(url, json={"on_duplicate": "merge"}).status_code == 404
    assert mei.get(f"/api/v1/imports/{import_id}/dry-run/report").status_code == 404
    assert mei.get(f"/api/v1/imports/{import_id}").json()["state"] == "draft"
    assert mei.get(f"/api/v1/imports/{import_id}").json()["on_duplicate"] == "keep"
    assert set(_names(workspace)) == {"腾讯科技(深圳)有限公司"}


def test_a_file_over_the_upload_limit_is_refused(
    workspace: Workspace, people: dict[str, Any], settings: Settings, tmp_path: Path
) -> None:
    from meridian.dataio.drafts import receive_upload
    from meridian.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as refused:
        receive_upload(tmp_path, "big.csv", io.BytesIO(b"a,b\n" * 100), max_bytes=50)
    assert refused.value.errors[0].field == "file"
    assert refused.value.errors[0].code == "file_too_large"
    assert not list((tmp_path / "imports").iterdir())


def noted_xlsx() -> bytes:
    """A notes row above the header that detection takes for the header (every cell text)."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "客户"
    sheet.append(["填表说明", "日期写作 2024-03-05", "金额单位：元"])
    sheet.append(["公司名称", "签约日期", "金额"])
    sheet.append(["腾讯科技（深圳）有限公司", "2024年3月5日", "1.2万"])
    sheet.append(["阿里云计算有限公司", "2024/3/6", "¥1,200"])
    sheet.append([None, None, None])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_the_header_row_is_chosen_at_upload_or_later_and_the_suggestions_follow(
    workspace: Workspace, people: dict[str, Any], as_user: Any
) -> None:
    mei = as_user(people["mei"])
    found = _upload(mei, noted_xlsx()).json()
    assert found["header_row"] == 1 and found["header_row_chosen"] is False
    assert [c["suggested"] for c in found["columns"]] == [None, None, None]

    chosen = _upload(mei, noted_xlsx(), header_row="2")
    assert chosen.status_code == 201, chosen.text
    assert chosen.json()["header_row"] == 2 and chosen.json()["header_row_chosen"] is True
    assert [c["suggested"] for c in chosen.json()["columns"]] == ["name", "signed", "amount"]
    assert chosen.json()["sample"][0]["row"] == 3

    moved = mei.put(f"/api/v1/imports/{found['id']}/mapping", json={"header_row": 2})
    assert moved.status_code == 200, moved.text
    assert [c["field"] for c in moved.json()["columns"]] == ["name", "signed", "amount"]
    assert moved.json()["mapping"]["header_row"] == 2
    kept = mei.put(
        f"/api/v1/imports/{found['id']}/mapping", json={"mapping": moved.json()["mapping"]}
    )
    assert kept.json()["header_row"] == 2  # a mapping change keeps the chosen row
    dry = mei.post(f"/api/v1/imports/{found['id']}/dry-run", json={"sample": None}).json()
    assert dry["counts"]["created"] + dry["counts"]["merged"] == 2

    again = mei.put(f"/api/v1/imports/{found['id']}/mapping", json={"header_row": 0})
    assert again.json()["header_row"] == 1 and again.json()["header_row_chosen"] is False


@pytest.mark.parametrize(
    ("where", "row"), [("upload", "5"), ("upload", "0"), ("put", 9), ("put", -1), ("put", 1001)]
)
def test_a_header_row_that_cannot_be_one_is_refused_naming_it(
    workspace: Workspace, people: dict[str, Any], as_user: Any, where: str, row: Any
) -> None:
    mei = as_user(people["mei"])
    if where == "upload":
        refused = _upload(mei, noted_xlsx(), header_row=row)
    else:
        draft = _upload(mei, noted_xlsx()).json()
        refused = mei.put(f"/api/v1/imports/{draft['id']}/mapping", json={"header_row": row})
        assert mei.get(f"/api/v1/imports/{draft['id']}").json()["header_row"] == 1  # unchanged
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert any("header_row" in str(e.get("field") or e.get("loc")) for e in problem["errors"])
