"""The IDC solution ships its automation: a contract nearing its end gets a renewal opportunity."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from meridian.core.actor import Actor
from meridian.http.deps import Workspace
from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import Worker
from meridian.solutions import idc_crm
from meridian.solutions.loader import install_solution
from tests.conftest import FakeClock, workspace_on

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_a_contract_90_days_from_its_end_gets_a_renewal_opportunity_and_its_owner_is_told(
    client: TestClient,
    workspace: Workspace,
    engine: Engine,
    admin: Actor,
    fake_clock: FakeClock,
) -> None:
    now = [fake_clock.now()]
    fake_clock.follow(lambda: now[0])
    app, forms = idc_crm.load_package()
    assert install_solution(engine, Actor.system(), app, forms, idc_crm.load_rules())
    assert len(client.get("/api/v1/rules").json()["items"]) == len(idc_crm.load_rules())
    today = now[0].astimezone(SHANGHAI).date()
    customer = client.post(
        "/api/v1/forms/customer/records", json={"name": "杭州云栖数据有限公司", "status": "active"}
    ).json()
    contract = client.post(
        "/api/v1/forms/contract/records",
        json={
            "customer": customer["id"],
            "start_date": (today - timedelta(days=274)).isoformat(),
            "end_date": (today + timedelta(days=91)).isoformat(),
            "amount": "360000.00",
            "status": "active",
        },
    )
    assert contract.status_code == 201, contract.text
    worker = Worker(engine, job_handlers(workspace_on(engine)), SHANGHAI)
    now[0] += timedelta(days=1)
    while worker.run_once():
        pass
    [renewal] = client.get("/api/v1/forms/opportunity/records", params={"q": "续约"}).json()[
        "items"
    ]
    assert renewal["name"] == f"续约 {contract.json()['number']}"
    assert renewal["customer"] == customer["id"]
    assert renewal["expected_amount"] == "360000.00"
    assert renewal["owner_id"] == admin.user_id
    inbox = client.get("/api/v1/notifications").json()
    assert inbox["unread"] == 1 and "90 天后到期" in inbox["items"][0]["title"]
