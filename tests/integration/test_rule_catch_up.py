"""A time rule made or switched on today catches up the records already inside its window —
after a dry count, set-based, once per record and window, with no second fire from the scan."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from meridian.db.tables import jobs, notifications
from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import Worker
from meridian.rules.engine import RUN
from tests.conftest import FakeClock, workspace_on

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def now(fake_clock: FakeClock) -> Iterator[list[datetime]]:
    current = [fake_clock.now()]
    fake_clock.follow(lambda: current[0])
    yield current


@pytest.fixture
def contracts(client: TestClient, now: list[datetime]) -> dict[int, int]:
    """Contracts ending in 0, 1, 30, 89, 90, 91 and 200 days, and one ended yesterday, each
    active but the 30-day one; by days left."""
    client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"})
    form = {
        "key": "contract",
        "label": "合同",
        "fields": [
            {"key": "title", "label": "标题", "type": "text"},
            {"key": "end_date", "label": "到期日", "type": "date"},
            {"key": "status", "label": "状态", "type": "text"},
        ],
    }
    assert client.post("/api/v1/apps/crm/forms", json=form).status_code == 201
    today = now[0].astimezone(SHANGHAI).date()
    return {
        days: client.post(
            "/api/v1/forms/contract/records",
            json={
                "title": f"{days}",
                "end_date": (today + timedelta(days=days)).isoformat(),
                "status": "closing" if days == 30 else "active",
            },
        ).json()["id"]
        for days in (-1, 0, 1, 30, 89, 90, 91, 200)
    }


def renewal_rule(client: TestClient, **trigger: object) -> int:
    made = client.post(
        "/api/v1/rules",
        json={
            "form_key": "contract",
            "label": "续约提醒",
            "trigger": {
                "type": "date_relative",
                "field": "end_date",
                "offset_days": -90,
                **trigger,
            },
            "condition": 'status = "active"',
            "actions": [{"type": "notify", "to": "owner", "title": "合同即将到期"}],
        },
    )
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def drain(engine: Engine) -> None:
    worker = Worker(engine, job_handlers(workspace_on(engine)), SHANGHAI)
    while worker.run_once():
        pass


def told(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return sorted(conn.scalars(sa.select(notifications.c.record_id)))


def test_records_already_in_the_window_are_counted_then_caught_up_once(
    client: TestClient, engine: Engine, contracts: dict[int, int], now: list[datetime]
) -> None:
    rule_id = renewal_rule(client)
    inside = sorted(contracts[d] for d in (1, 89, 90))  # ahead, within 90 days, active
    drain(engine)
    assert told(engine) == []  # a new rule fires only for what falls due from now on
    assert client.get(f"/api/v1/rules/{rule_id}/catch-up").json() == {"count": 3}
    assert told(engine) == []  # the count changed nothing
    assert client.post(f"/api/v1/rules/{rule_id}/catch-up").json() == {"fired": 3}
    assert client.post(f"/api/v1/rules/{rule_id}/catch-up").json() == {"fired": 0}
    assert client.get(f"/api/v1/rules/{rule_id}/catch-up").json() == {"count": 0}
    drain(engine)
    assert told(engine) == inside
    now[0] += timedelta(days=1)  # the scan then takes the next day: the 91-day contract only
    drain(engine)
    assert told(engine) == sorted([*inside, contracts[91]])
    with engine.connect() as conn:
        runs = conn.scalar(sa.select(sa.func.count()).select_from(jobs).where(jobs.c.kind == RUN))
    assert runs == 4


def test_a_scan_in_the_same_moment_as_a_catch_up_fires_nothing_twice(
    client: TestClient, engine: Engine, contracts: dict[int, int], now: list[datetime]
) -> None:
    rule_id = renewal_rule(client)
    client.post(f"/api/v1/rules/{rule_id}/disable")
    now[0] += timedelta(days=5)  # off for five days: switching on does not fire for them
    client.post(f"/api/v1/rules/{rule_id}/enable")
    drain(engine)
    assert told(engine) == []
    # Five days on, the 1-day contract has ended and the 91-day one is inside the window.
    assert client.get(f"/api/v1/rules/{rule_id}/catch-up").json() == {"count": 3}
    client.post(f"/api/v1/rules/{rule_id}/catch-up")
    drain(engine)
    drain(engine)
    assert told(engine) == sorted(contracts[d] for d in (89, 90, 91))


def test_only_time_rules_that_are_on_catch_up(
    client: TestClient, contracts: dict[int, int]
) -> None:
    made = client.post(
        "/api/v1/rules",
        json={
            "form_key": "contract",
            "label": "新合同",
            "trigger": {"type": "record_created"},
            "actions": [{"type": "notify", "to": "owner", "title": "新合同"}],
        },
    ).json()
    refused = client.post(f"/api/v1/rules/{made['id']}/catch-up")
    assert refused.status_code == 422 and refused.json()["errors"][0]["code"] == "not_a_time_rule"
    rule_id = renewal_rule(client)
    client.post(f"/api/v1/rules/{rule_id}/disable")
    off = client.post(f"/api/v1/rules/{rule_id}/catch-up")
    assert off.status_code == 422 and off.json()["errors"][0]["code"] == "rule_off"
    assert client.get("/api/v1/rules/999999/catch-up").status_code == 404


def test_an_inactivity_rule_catches_up_every_record_already_quiet_for_its_days(
    client: TestClient, engine: Engine, contracts: dict[int, int], now: list[datetime]
) -> None:
    now[0] += timedelta(days=20)
    client.patch(f"/api/v1/forms/contract/records/{contracts[200]}", json={"title": "活跃"})
    made = client.post(
        "/api/v1/rules",
        json={
            "form_key": "contract",
            "label": "14 天无动态",
            "trigger": {"type": "no_activity", "days": 14},
            "actions": [{"type": "notify", "to": "owner", "title": "无动态"}],
        },
    ).json()
    assert client.get(f"/api/v1/rules/{made['id']}/catch-up").json() == {"count": 7}
    assert client.post(f"/api/v1/rules/{made['id']}/catch-up").json() == {"fired": 7}
    drain(engine)
    now[0] += timedelta(minutes=5)
    drain(engine)
    assert len(told(engine)) == 7 and contracts[200] not in told(engine)
