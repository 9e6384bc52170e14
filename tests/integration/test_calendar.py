"""The work calendar as stored: seeded from chinese-calendar, cached per revision, edited by
administrators through the API, and refused clearly when the input is wrong."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from meridian.access.tokens import create_token
from meridian.access.users import create_user
from meridian.flows.calendar.store import load_calendar
from meridian.http.deps import Workspace

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_the_migrated_calendar_knows_chinas_holidays_and_make_up_days(
    workspace: Workspace,
) -> None:
    with workspace.read() as conn:
        calendar = load_calendar(conn)
    assert calendar.tz == SHANGHAI
    assert calendar.day_length == timedelta(hours=7.5)
    assert not calendar.is_work_day(date(2026, 10, 5))  # 国庆节, a Monday
    assert calendar.is_work_day(date(2026, 10, 10))  # 调休, a Saturday
    assert not calendar.is_work_day(date(2026, 10, 11))  # an ordinary Sunday
    assert not calendar.is_work_day(date(2026, 2, 17))  # 春节
    assert calendar.is_work_day(date(2026, 2, 14))  # 调休 before 春节
    # Wednesday 30 September 17:00 + 2 business hours skips the whole week off.
    start = datetime(2026, 9, 30, 17, tzinfo=SHANGHAI)
    assert calendar.add_hours(start, 2) == datetime(2026, 10, 8, 10, tzinfo=SHANGHAI)


def test_the_calendar_is_read_once_per_revision(workspace: Workspace, client: TestClient) -> None:
    with workspace.read() as conn:
        first = load_calendar(conn)
    with workspace.read() as conn:
        assert load_calendar(conn) is first  # nothing changed: the cached one
    answer = client.put(
        "/api/v1/calendar/days/2026-12-07", json={"kind": "holiday", "name": "司庆"}
    )
    assert answer.status_code == 200, answer.text
    with workspace.read() as conn:
        changed = load_calendar(conn)
    assert changed is not first
    assert not changed.is_work_day(date(2026, 12, 7)) and first.is_work_day(date(2026, 12, 7))


def test_an_admin_edits_the_working_week_and_single_days(
    workspace: Workspace, client: TestClient
) -> None:
    answer = client.put(
        "/api/v1/calendar",
        json={
            "time_zone": "Asia/Shanghai",
            "work_days": [6, 1, 2, 3, 4, 5],
            "work_hours": [["08:30", "12:00"], ["13:00", "17:30"]],
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["work_days"] == [1, 2, 3, 4, 5, 6]
    assert (
        client.put("/api/v1/calendar/days/2026-12-26", json={"kind": "workday"}).status_code == 200
    )
    assert client.delete("/api/v1/calendar/days/2026-10-05").status_code == 204
    with workspace.read() as conn:
        calendar = load_calendar(conn)
    assert calendar.day_length == timedelta(hours=8)
    assert calendar.is_work_day(date(2026, 12, 12))  # Saturdays work now
    assert calendar.is_work_day(date(2026, 10, 5))  # no longer a holiday
    assert calendar.is_counting(datetime(2026, 12, 7, 0, 45, tzinfo=UTC))  # 08:45 there
    listed = client.get("/api/v1/calendar", params={"year": 2026}).json()
    assert {"day": "2026-12-26", "kind": "workday", "name": "", "source": "admin"} in listed["days"]
    assert all(d["day"].startswith("2026-") for d in listed["days"])
    assert "2026-10-05" not in {d["day"] for d in listed["days"]}
    assert 2026 in listed["package_years"]


def test_seeding_a_year_again_keeps_an_admins_edits(
    workspace: Workspace, client: TestClient
) -> None:
    client.put("/api/v1/calendar/days/2026-10-01", json={"kind": "workday", "name": "值班"})
    client.delete("/api/v1/calendar/days/2026-10-02")
    answer = client.post("/api/v1/calendar/seed", json={"year": 2026})
    assert answer.json() == {"added": 1}  # the removed date came back; the edited one stayed
    days = {d["day"]: d for d in client.get("/api/v1/calendar?year=2026").json()["days"]}
    assert days["2026-10-01"]["kind"] == "workday" and days["2026-10-01"]["source"] == "admin"
    assert days["2026-10-02"]["kind"] == "holiday" and days["2026-10-02"]["source"] == "package"
    refused = client.post("/api/v1/calendar/seed", json={"year": 2031})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "year"


def test_bad_calendar_input_is_refused_naming_each_field_and_changes_nothing(
    workspace: Workspace, client: TestClient
) -> None:
    before = client.get("/api/v1/calendar").json()
    answer = client.put(
        "/api/v1/calendar",
        json={
            "time_zone": "Mars/Olympus",
            "work_days": [1, 8, 1],
            "work_hours": [["13:00", "12:00"]],
        },
    )
    assert answer.status_code == 422
    fields = {e["field"]: e for e in answer.json()["errors"]}
    assert set(fields) == {"time_zone", "work_days", "work_hours"}
    assert fields["time_zone"]["value"] == "Mars/Olympus"
    overlapping = client.put(
        "/api/v1/calendar",
        json={
            "time_zone": "UTC",
            "work_days": [1],
            "work_hours": [["09:00", "12:00"], ["11:00", "18:00"]],
        },
    )
    assert overlapping.status_code == 422
    assert (
        client.put("/api/v1/calendar/days/2026-02-30", json={"kind": "holiday"}).status_code == 422
    )
    wrong_kind = client.put("/api/v1/calendar/days/2026-12-01", json={"kind": "party"})
    assert wrong_kind.status_code == 422 and wrong_kind.json()["errors"][0]["field"] == "kind"
    assert client.delete("/api/v1/calendar/days/2026-12-01").status_code == 404
    assert client.get("/api/v1/calendar").json() == before


def test_only_administrators_edit_the_calendar_and_everyone_reads_it(
    workspace: Workspace, client: TestClient
) -> None:
    with workspace.transaction() as conn:
        user_id = create_user(
            conn=conn,
            email="sales@acme.test",
            name="Sales",
            password="correct horse",
            passwords=workspace.passwords,
        )
        token = create_token(conn=conn, user_id=user_id, name="sales")
    member = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/calendar", headers=member).status_code == 200
    refused = client.put(
        "/api/v1/calendar/days/2026-12-07", json={"kind": "holiday"}, headers=member
    )
    assert refused.status_code == 403
    assert client.delete("/api/v1/calendar/days/2026-10-01", headers=member).status_code == 403
    assert (
        client.post("/api/v1/calendar/seed", json={"year": 2026}, headers=member).status_code == 403
    )
    with workspace.read() as conn:
        assert not load_calendar(conn).is_work_day(date(2026, 10, 1))
