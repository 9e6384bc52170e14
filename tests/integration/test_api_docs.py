"""The API document and its viewer are for signed-in callers, and show what each may read."""

from __future__ import annotations

from fastapi.testclient import TestClient

from meridian.access import manage
from meridian.access.tokens import create_token
from meridian.app import create_app
from meridian.core.actor import Actor
from meridian.http.deps import Workspace
from meridian.settings import Settings


def test_the_api_document_needs_a_caller_and_hides_what_it_may_not_read(
    client: TestClient, workspace: Workspace, settings: Settings
) -> None:
    client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"})
    for key, fields in (
        (
            "deal",
            [
                {"key": "name", "label": "名称", "type": "text"},
                {"key": "floor_price", "label": "底价", "type": "money"},
            ],
        ),
        ("payroll", [{"key": "salary", "label": "工资", "type": "money"}]),
    ):
        form = {"key": key, "label": key, "fields": fields}
        assert client.post("/api/v1/apps/crm/forms", json=form).status_code == 201
    rules = {"create": True, "read": "own", "fields": {"floor_price": "hidden"}}
    assert client.put("/api/v1/roles/member/forms/deal", json=rules).status_code == 200
    closed = client.put("/api/v1/roles/member/forms/payroll", json={"read": False})
    assert closed.status_code == 200, closed.text
    with workspace.transaction() as conn:
        member = manage.add_user(
            conn,
            Actor.system(),
            email="rep@acme.test",
            name="Rep",
            password="Secret-2026",
            passwords=workspace.passwords,
            must_change_password=False,
        )
        token = create_token(conn=conn, user_id=member["id"], name="t")
    app = create_app(settings, workspace=workspace)

    anonymous = TestClient(app)
    assert anonymous.get("/api/openapi.json").status_code == 401
    assert anonymous.get("/api/docs").status_code == 401

    full = client.get("/api/openapi.json").json()
    assert {"DealInput", "PayrollInput"} <= set(full["components"]["schemas"])
    assert "floor_price" in full["components"]["schemas"]["DealInput"]["properties"]
    viewer = client.get("/api/docs").text
    assert "/static/vendor/swagger-ui-bundle.js" in viewer  # served here, not from a CDN
    for asset in ("/static/vendor/swagger-ui-bundle.js", "/static/vendor/swagger-ui.css"):
        assert client.get(asset).status_code == 200, asset

    mine = TestClient(app, headers={"Authorization": f"Bearer {token}"}).get("/api/openapi.json")
    schemas = mine.json()["components"]["schemas"]
    assert "DealInput" in schemas and "PayrollInput" not in schemas
    assert "floor_price" not in schemas["DealInput"]["properties"]
    assert "/api/v1/forms/payroll/records" not in mine.json()["paths"]
