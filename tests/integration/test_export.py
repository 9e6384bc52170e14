"""``meridian export`` and ``GET /api/v1/forms/{form}/export``: a form's records or a saved
view's columns, filter and sort, as .csv (UTF-8 with BOM) and .xlsx, values for people (option
labels, user names, linked titles, exact money), within the exporter's 导出 permission, rows
and fields; audited (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import openpyxl
import sqlalchemy as sa
from fastapi.testclient import TestClient

from meridian.access import manage
from meridian.access.permissions import set_form_rules
from meridian.app import create_app
from meridian.core.actor import Actor
from meridian.http.deps import Workspace
from meridian.records.views import save_view
from meridian.schema.catalog import get_form
from meridian.settings import Settings
from tests.conftest import a_member

FORMS = [
    {
        "key": "customer",
        "label": "客户",
        "title_field": "name",
        "fields": [{"key": "name", "label": "客户名称", "type": "text"}],
    },
    {
        "key": "deal",
        "label": "商机",
        "title_field": "name",
        "fields": [
            {"key": "name", "label": "商机名称", "type": "text"},
            {
                "key": "stage",
                "label": "阶段",
                "type": "select",
                "options": [{"value": "lead", "label": "线索"}, {"value": "won", "label": "赢单"}],
            },
            {"key": "amount", "label": "金额", "type": "money"},
            {"key": "floor", "label": "底价", "type": "money"},
            {"key": "customer", "label": "客户", "type": "link", "target": "customer"},
            {"key": "signed", "label": "签约日", "type": "date"},
        ],
    },
]


def _set_up(client: TestClient) -> dict[str, Any]:
    assert client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"}).status_code == 201
    for form in FORMS:
        assert client.post("/api/v1/apps/crm/forms", json=form).status_code == 201
    tencent = client.post("/api/v1/forms/customer/records", json={"name": "腾讯"}).json()
    deals = []
    for name, stage, amount in (
        ("IDC 托管", "won", "12345678901234.56"),
        ("CDN 加速", "lead", "1200.50"),
        ("专线", "won", "88.00"),
    ):
        response = client.post(
            "/api/v1/forms/deal/records",
            json={
                "name": name,
                "stage": stage,
                "amount": amount,
                "floor": "1.00",
                "customer": tencent["id"],
                "signed": "2026-03-05",
            },
        )
        assert response.status_code == 201, response.text
        deals.append(response.json())
    return {"customer": tencent, "deals": deals}


def _csv(content: bytes) -> list[list[str]]:
    assert content.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def test_a_filtered_sorted_grid_is_exported_for_people(
    client: TestClient, workspace: Workspace
) -> None:
    _set_up(client)
    response = client.get(
        "/api/v1/forms/deal/export",
        params={
            "format": "csv",
            "columns": "name,stage,amount,customer,signed",
            "filter": '{"field": "stage", "op": "eq", "value": "won"}',
            "sort": "-amount",
        },
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = _csv(response.content)
    assert rows[0] == ["ID", "商机名称", "阶段", "金额", "客户", "签约日", "Owner"]
    assert [row[1:6] for row in rows[1:]] == [
        ["IDC 托管", "赢单", "12345678901234.56", "腾讯", "2026-03-05"],
        ["专线", "赢单", "88.00", "腾讯", "2026-03-05"],
    ]
    assert rows[1][6] == "Admin"
    with workspace.read() as conn:
        detail = conn.execute(
            sa.text("SELECT detail FROM sys_audit WHERE action = 'records_exported'")
        ).scalar_one()
    assert '"rows": 2' in str(detail).replace("'", '"')


def _won_view(workspace: Workspace, columns: list[str], sort: str) -> dict[str, Any]:
    """The administrator's saved grid view of the won deals: ``columns``, sorted by ``sort``."""
    settings = {
        "kind": "grid",
        "columns": columns,
        "sort": sort,
        "filter": json.dumps({"field": "stage", "op": "eq", "value": "won"}),
    }
    with workspace.transaction() as conn:
        return save_view(
            conn,
            Actor(user_id=1, is_admin=True),
            get_form(conn, "deal"),
            name="赢单",
            shared=False,
            settings=json.dumps(settings),
        )


def test_a_saved_view_is_exported_to_xlsx(client: TestClient, workspace: Workspace) -> None:
    _set_up(client)
    view = _won_view(workspace, ["name", "amount", "signed"], "amount")
    response = client.get(
        "/api/v1/forms/deal/export", params={"format": "xlsx", "view": view["id"]}
    )
    assert response.status_code == 200, response.text
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert rows[0] == ["ID", "商机名称", "金额", "签约日", "负责人"]
    assert rows[1][1:3] == ["专线", 88]
    # Too many digits for a double: kept exact, as text.
    assert rows[2][1:3] == ["IDC 托管", "12345678901234.56"]
    assert rows[2][3].date().isoformat() == "2026-03-05"


def test_exporting_takes_the_export_permission_and_hides_hidden_fields(
    client: TestClient, workspace: Workspace, settings: Settings
) -> None:
    made = _set_up(client)
    user, token = a_member(workspace)
    app = create_app(settings, workspace=workspace)
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as rep:
        refused = rep.get("/api/v1/forms/deal/export", params={"format": "csv"})
        assert refused.status_code == 403
        with workspace.transaction() as conn:
            manage.create_role(conn, Actor.system(), "exporter", "导出员")
            set_form_rules(
                conn,
                "exporter",
                get_form(conn, "deal"),
                {"read": "all", "export": "own", "fields": {"floor": "hidden"}},
            )
            manage.update_user(conn, Actor.system(), user["id"], {"roles": ["exporter"]})
        client.patch(
            f"/api/v1/forms/deal/records/{made['deals'][1]['id']}", json={"owner_id": user["id"]}
        )
        response = rep.get("/api/v1/forms/deal/export", params={"format": "csv"})
        assert response.status_code == 200, response.text
        rows = _csv(response.content)
        assert "底价" not in rows[0]
        assert [row[1] for row in rows[1:]] == ["CDN 加速"]
        hidden = rep.get(
            "/api/v1/forms/deal/export", params={"format": "csv", "columns": "name,floor"}
        )
        assert hidden.status_code == 422
        assert hidden.json()["errors"][0]["field"] == "columns"


def test_meridian_export_writes_a_file(
    client: TestClient, workspace: Workspace, tmp_path: Path, monkeypatch: Any, database_url: str
) -> None:
    from typer.testing import CliRunner

    from meridian.cli.main import cli

    _set_up(client)
    monkeypatch.setenv("MERIDIAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MERIDIAN_DATABASE_URL", database_url)
    out = tmp_path / "deals.csv"
    result = CliRunner().invoke(cli, ["export", "deal", "-o", str(out), "--lang", "zh-CN"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith(f"exported 3 rows to {out}")
    rows = _csv(out.read_bytes())
    assert rows[0][-1] == "负责人"
    assert len(rows) == 4
    bad = CliRunner().invoke(cli, ["export", "deal", "-o", str(tmp_path / "x.pdf")])
    assert bad.exit_code == 2


def test_every_kind_of_value_is_exported_for_people(client: TestClient) -> None:
    """Options, people, links one and many, times, yes/no and line items, each column
    formatted by its own type (CSV and .xlsx alike), a blank value an empty cell."""
    _set_up(client)
    visit = {
        "key": "visit",
        "label": "拜访",
        "title_field": "topic",
        "fields": [
            {"key": "topic", "label": "主题", "type": "text"},
            {
                "key": "tags",
                "label": "标签",
                "type": "multi_select",
                "options": [{"value": "vip", "label": "重点"}, {"value": "new", "label": "新客"}],
            },
            {"key": "at", "label": "时间", "type": "datetime"},
            {"key": "done", "label": "完成", "type": "boolean"},
            {"key": "host", "label": "接待人", "type": "user"},
            {"key": "deals", "label": "商机", "type": "link", "target": "deal", "many": True},
            {
                "key": "items",
                "label": "明细",
                "type": "child_table",
                "fields": [{"key": "item", "label": "项目", "type": "text"}],
            },
        ],
    }
    assert client.post("/api/v1/apps/crm/forms", json=visit).status_code == 201
    deals = client.get("/api/v1/forms/deal/records", params={"sort": "id"}).json()["items"]
    made = client.post(
        "/api/v1/forms/visit/records",
        json={
            "topic": "机房参观",
            "tags": ["vip", "new"],
            "at": "2026-03-05T10:30:00+08:00",
            "done": True,
            "host": 1,
            "deals": [deals[0]["id"], deals[2]["id"]],
            "items": [{"item": "机柜"}],
        },
    )
    assert made.status_code == 201, made.text
    assert client.post("/api/v1/forms/visit/records", json={"topic": "空"}).status_code == 201
    columns = "topic,tags,at,done,host,deals,items"
    response = client.get(
        "/api/v1/forms/visit/export", params={"format": "csv", "columns": columns, "sort": "id"}
    )
    assert response.status_code == 200, response.text
    rows = _csv(response.content)
    assert rows[0][1:8] == ["主题", "标签", "时间", "完成", "接待人", "商机", "明细"]
    full, blank = rows[1], rows[2]
    assert full[1:7] == [
        "机房参观",
        "重点、新客",
        "2026-03-05 10:30:00",
        "TRUE",
        "Admin",
        "IDC 托管、专线",
    ]
    assert "机柜" in full[7]
    assert blank[1:8] == ["空", "", "", "", "", "", ""]
    book = client.get(
        "/api/v1/forms/visit/export", params={"format": "xlsx", "columns": columns, "sort": "id"}
    )
    sheet = openpyxl.load_workbook(io.BytesIO(book.content)).active
    cells = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert cells[1][1:7] == ["机房参观", "重点、新客", cells[1][3], True, "Admin", "IDC 托管、专线"]
    assert cells[1][3].strftime("%Y-%m-%d %H:%M") == "2026-03-05 10:30"
    assert cells[2][1] == "空" and cells[2][2:8] == [None] * 6


def test_columns_that_stop_remembering_still_export_every_value(
    client: TestClient, monkeypatch: Any
) -> None:
    """Amounts that never repeat fill a column's memory of cells and the column goes on with
    its bare reader and formatter from the next partition; options and dates that repeat keep
    theirs. Either way each cell is the record's own value, in .xlsx and CSV alike."""
    from meridian.dataio import export

    monkeypatch.setattr(export, "REMEMBERED_CELLS", 4)
    monkeypatch.setattr(export, "PARTITION", 5)
    _set_up(client)
    for n in range(24):
        made = client.post(
            "/api/v1/forms/deal/records",
            json={
                "name": f"商机{n}",
                "stage": ["lead", "won"][n % 2],
                "amount": f"{1000 + n}.{n:02d}",
                "signed": f"2026-0{1 + n % 3}-05",
            },
        )
        assert made.status_code == 201, made.text
    params = {"columns": "name,stage,amount,signed", "sort": "id"}
    table = _csv(
        client.get("/api/v1/forms/deal/export", params={**params, "format": "csv"}).content
    )
    book = client.get("/api/v1/forms/deal/export", params={**params, "format": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(book.content)).active
    cells = [list(row)[1:5] for row in sheet.iter_rows(min_row=5, values_only=True)]
    assert [row[1:5] for row in table[4:]] == [
        [f"商机{n}", ["线索", "赢单"][n % 2], f"{1000 + n}.{n:02d}", f"2026-0{1 + n % 3}-05"]
        for n in range(24)
    ]
    assert cells == [
        [f"商机{n}", ["线索", "赢单"][n % 2], float(f"{1000 + n}.{n:02d}"), cells[n][3]]
        for n in range(24)
    ]
    assert [row[3].date().isoformat() for row in cells] == [
        f"2026-0{1 + n % 3}-05" for n in range(24)
    ]
