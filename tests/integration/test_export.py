"""``meridian export`` and ``GET /api/v1/forms/{form}/export``: a form's records or a saved
view's columns, filter and sort, as .csv (UTF-8 with BOM) and .xlsx, values for people (option
labels, user names, linked titles, exact money), within the exporter's 导出 permission, rows
and fields; audited (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import openpyxl
import sqlalchemy as sa
from fastapi.testclient import TestClient

from meridian.access import manage
from meridian.access.permissions import set_form_rules
from meridian.access.tokens import create_token
from meridian.app import create_app
from meridian.core.actor import Actor
from meridian.http.deps import Workspace
from meridian.schema.catalog import get_form
from meridian.settings import Settings

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


def test_a_saved_view_is_exported_to_xlsx(client: TestClient, workspace: Workspace) -> None:
    _set_up(client)
    with workspace.transaction() as conn:
        from meridian.records.views import save_view

        view = save_view(
            conn,
            Actor(user_id=1, is_admin=True),
            get_form(conn, "deal"),
            name="赢单",
            shared=False,
            settings='{"kind": "grid", "columns": ["name", "amount", "signed"],'
            ' "sort": "amount", "filter": "{\\"field\\": \\"stage\\", \\"op\\": \\"eq\\",'
            ' \\"value\\": \\"won\\"}"}',
        )
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
    with workspace.transaction() as conn:
        user = manage.add_user(
            conn,
            Actor.system(),
            email="rep@acme.test",
            name="rep",
            password="Passw0rd-long",
            passwords=workspace.passwords,
            roles=["member"],
            must_change_password=False,
        )
        token = create_token(conn=conn, user_id=user["id"], name="t")
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
