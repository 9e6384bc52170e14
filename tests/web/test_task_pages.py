"""My tasks and the record page's "+ task" as forms: a task is made and ticked off, a refusal
is shown on the page and makes nothing, another person's task cannot be ticked off, and the
way back after a change never leaves the site."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from meridian.access import manage
from meridian.access.sessions import csrf_token_for
from meridian.app import create_app
from meridian.core.actor import Actor
from meridian.flows.tasks import service
from meridian.http.deps import SESSION_COOKIE, Workspace
from meridian.settings import Settings

PASSWORD = "correct horse 42"


@pytest.fixture
def web(settings: Settings, workspace: Workspace) -> Iterator[TestClient]:
    with workspace.transaction() as conn:
        for email in ("alice@acme.test", "bob@acme.test"):
            manage.add_user(
                conn,
                Actor.system(),
                email=email,
                name=email.split("@")[0],
                password=PASSWORD,
                passwords=workspace.passwords,
                roles=["member"],
                must_change_password=False,
            )
    with TestClient(create_app(settings, workspace=workspace), follow_redirects=False) as client:
        yield client


def _log_in(client: TestClient, email: str) -> str:
    answer = client.post("/login", data={"email": email, "password": PASSWORD, "next": "/"})
    assert answer.status_code == 303, answer.text
    return csrf_token_for(client.cookies[SESSION_COOKIE])


def _tasks(workspace: Workspace) -> list[dict[str, object]]:
    with workspace.read() as conn:
        found = service.list_tasks(
            conn=conn, actor=Actor.system(), tz=workspace.tz, mine=False, limit=200
        )
    items: list[dict[str, object]] = found["items"]
    return items


def test_a_task_is_made_and_ticked_off_from_my_tasks(web: TestClient, workspace: Workspace) -> None:
    csrf = _log_in(web, "alice@acme.test")
    made = web.post(
        "/tasks",
        data={
            "csrf_token": csrf,
            "title": "回访 ACME-LEAD",
            "due_at": "2030-01-15T10:00",
            "next": "https://evil.example/steal",
        },
    )
    assert made.status_code == 303 and made.headers["location"] == "/tasks"
    [task] = _tasks(workspace)
    assert task["title"] == "回访 ACME-LEAD" and task["assignee_id"] is None
    page = web.get("/tasks")
    assert page.status_code == 200 and "回访 ACME-LEAD" not in page.text  # not assigned to her
    done = web.post(
        "/tasks/complete", data={"csrf_token": csrf, "ids": str(task["id"]), "next": "//evil"}
    )
    assert done.status_code == 303 and done.headers["location"] == "/tasks"
    assert _tasks(workspace)[0]["state"] == "done"


def test_a_refused_task_is_shown_and_makes_nothing(web: TestClient, workspace: Workspace) -> None:
    csrf = _log_in(web, "alice@acme.test")
    refused = web.post("/tasks", data={"csrf_token": csrf, "title": " ", "due_at": "someday"})
    assert refused.status_code == 422
    assert 'class="problems"' in refused.text
    assert _tasks(workspace) == []


def test_another_persons_task_cannot_be_ticked_off(web: TestClient, workspace: Workspace) -> None:
    with workspace.transaction() as conn:
        task = service.create_task(
            conn=conn, actor=Actor.system(), title="bob 的待办", tz=workspace.tz
        )
    csrf = _log_in(web, "alice@acme.test")
    refused = web.post("/tasks/complete", data={"csrf_token": csrf, "ids": str(task["id"])})
    assert refused.status_code == 404
    assert _tasks(workspace)[0]["state"] == "open"
    assert web.post("/tasks/complete", data={"ids": str(task["id"])}).status_code == 403
