"""Administration → Work calendar in the browser's forms: the working week and single days are
edited, a year is seeded, refusals are shown beside the form and change nothing, and members
cannot open the page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from fastapi.testclient import TestClient

from meridian.access import manage
from meridian.access.sessions import csrf_token_for
from meridian.app import create_app
from meridian.core.actor import Actor
from meridian.flows.calendar.store import load_calendar
from meridian.http.deps import SESSION_COOKIE, Workspace
from meridian.settings import Settings

PASSWORD = "correct horse 42"


@pytest.fixture
def web(settings: Settings, workspace: Workspace) -> Iterator[TestClient]:
    with workspace.transaction() as conn:
        for email, roles in (("admin@acme.test", ["administrator"]), ("sales@acme.test", [])):
            manage.add_user(
                conn,
                Actor.system(),
                email=email,
                name=email.split("@")[0],
                password=PASSWORD,
                passwords=workspace.passwords,
                roles=roles,
                must_change_password=False,
            )
    with TestClient(create_app(settings, workspace=workspace), follow_redirects=False) as client:
        yield client


def _log_in(client: TestClient, email: str = "admin@acme.test") -> str:
    answer = client.post("/login", data={"email": email, "password": PASSWORD, "next": "/"})
    assert answer.status_code == 303, answer.text
    return csrf_token_for(client.cookies[SESSION_COOKIE])


def test_an_admin_edits_the_work_calendar_in_the_page(
    web: TestClient, workspace: Workspace
) -> None:
    csrf = _log_in(web)
    page = web.get("/admin/calendar?year=2026")
    assert page.status_code == 200
    assert "2026-10-10" in page.text and "国庆节" in page.text and "调休上班日" in page.text
    assert 'value="09:00-12:00, 13:30-18:00"' in page.text
    saved = web.post(
        "/admin/calendar/week?year=2026",
        data={
            "csrf_token": csrf,
            "work_days": ["1", "2", "3", "4", "5", "6"],
            "work_hours": "08:30-12:00，13:00-17:30",
            "time_zone": "Asia/Shanghai",
        },
    )
    assert saved.status_code == 200 and "已保存" in saved.text
    added = web.post(
        "/admin/calendar/days?year=2026",
        data={"csrf_token": csrf, "day": "2026-12-07", "kind": "holiday", "name": "司庆"},
    )
    assert added.status_code == 200 and "司庆" in added.text
    gone = web.post("/admin/calendar/days/2026-10-05/delete?year=2026", data={"csrf_token": csrf})
    assert gone.status_code == 303
    with workspace.read() as conn:
        calendar = load_calendar(conn)
    assert calendar.is_work_day(date(2026, 12, 12))  # Saturdays now
    assert not calendar.is_work_day(date(2026, 12, 7))
    assert calendar.is_work_day(date(2026, 10, 5))
    seeded = web.post("/admin/calendar/seed?year=2026", data={"csrf_token": csrf})
    assert "已添加 1 天" in seeded.text
    english = web.post("/preferences/language", data={"csrf_token": csrf, "locale": "en"})
    assert english.status_code in (200, 303)
    assert "Holidays and make-up work days" in web.get("/admin/calendar?year=2031").text


def test_a_refused_week_is_shown_and_changes_nothing(web: TestClient, workspace: Workspace) -> None:
    csrf = _log_in(web)
    refused = web.post(
        "/admin/calendar/week",
        data={"csrf_token": csrf, "work_hours": "9-12, lunch", "time_zone": "Mars/Olympus"},
    )
    assert refused.status_code == 422
    assert "time_zone" in refused.text or "时区" in refused.text
    with workspace.read() as conn:
        calendar = load_calendar(conn)
    assert calendar.work_weekdays == frozenset({1, 2, 3, 4, 5})
    bad_day = web.post(
        "/admin/calendar/days", data={"csrf_token": csrf, "day": "2026-02-30", "kind": "holiday"}
    )
    assert bad_day.status_code == 422


def test_members_cannot_open_the_calendar_page(web: TestClient) -> None:
    csrf = _log_in(web, "sales@acme.test")
    assert web.get("/admin/calendar").status_code == 403
    refused = web.post(
        "/admin/calendar/days", data={"csrf_token": csrf, "day": "2026-12-07", "kind": "holiday"}
    )
    assert refused.status_code == 403
