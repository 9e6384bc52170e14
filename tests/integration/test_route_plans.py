"""A route's parameters solved by its plan (``http.solving``) answer as FastAPI's solver does.

The same requests — well formed and hostile — go to one app whose record routes take their
plans and to one that FastAPI solves alone (an app with a dependency override always does);
status and body must be the same, word for word for every refusal.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from meridian.access.tokens import create_token
from meridian.app import create_app
from meridian.http import solving
from meridian.http.deps import Workspace, get_workspace
from meridian.http.solving import plan_route
from meridian.settings import Settings
from tests.conftest import KeptDatabase, an_admin, kept_fixtures
from tests.forms import install_forms, lead_form

RECORDS = "/api/v1/forms/lead/records"


@dataclass(frozen=True)
class _Apps:
    planned: FastAPI
    solved: FastAPI
    token: str


def _build(workspace: Workspace) -> _Apps:
    """ACME-LEAD's form; an app taking plans, and one that does not, for an administrator."""
    admin = an_admin(workspace)
    with workspace.transaction() as conn:
        install_forms(
            conn,
            lead_form(
                {"key": "name", "label": "名称", "type": "text", "required": True},
                {"key": "qty", "label": "数量", "type": "integer"},
            ),
        )
        assert admin.user_id is not None
        token = create_token(conn=conn, user_id=admin.user_id, name="tests")
    planned = create_app(workspace.settings, workspace=workspace)
    solved = create_app(workspace.settings, workspace=workspace)
    solved.dependency_overrides[get_workspace] = get_workspace  # FastAPI solves every route
    return _Apps(planned, solved, token)


kept, workspace = kept_fixtures(_build)


@pytest.fixture
def settings(workspace: Workspace) -> Settings:
    return workspace.settings


@pytest.fixture
def clients(
    kept: KeptDatabase[_Apps], workspace: Workspace
) -> Iterator[tuple[TestClient, TestClient]]:
    """A client of the app taking plans, and one of the app that does not."""
    apps = kept.built
    headers = {"Authorization": f"Bearer {apps.token}"}
    with (
        TestClient(apps.planned, headers=headers) as one,
        TestClient(apps.solved, headers=headers) as other,
    ):
        yield one, other


def test_the_record_routes_have_plans(clients: tuple[TestClient, TestClient]) -> None:
    """The page, a record, a create, an update and a delete are planned; a route answering
    with plain data (validated against its answer model) is left to FastAPI."""
    app = clients[0].app
    routes = {
        (method, route.path): route
        for route in app.routes  # type: ignore[attr-defined]
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    for method, path in [
        ("GET", "/api/v1/forms/{form_key}/records"),
        ("POST", "/api/v1/forms/{form_key}/records"),
        ("GET", "/api/v1/forms/{form_key}/records/{record_id}"),
        ("PATCH", "/api/v1/forms/{form_key}/records/{record_id}"),
        ("DELETE", "/api/v1/forms/{form_key}/records/{record_id}"),
    ]:
        assert plan_route(routes[method, path]) is not None, (method, path)
    assert plan_route(routes["POST", "/api/v1/forms/{form_key}/records/bulk"]) is None
    assert plan_route(routes["GET", "/api/v1/apps"]) is None


def test_an_app_after_the_first_plans_no_route_again(
    workspace: Workspace, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each app gets copies of the routes built once per process, and the copies take the
    plans made with them: planning asks ``typing`` for each endpoint's annotations, which
    made half of every later ``create_app``'s CPU when each copy was planned anew."""
    create_app(settings, workspace=workspace)
    planned: list[APIRoute] = []

    def plan(route: APIRoute) -> solving.RoutePlan | None:
        planned.append(route)
        return plan_route(route)

    monkeypatch.setattr(solving, "plan_route", plan)
    app = create_app(settings, workspace=workspace)
    assert [route.path for route in planned] == []
    with TestClient(app) as client:
        assert client.get(RECORDS).status_code == 401


def _same(answers: list[Any], ids: tuple[int, int] | None = None) -> None:
    """The same status and body (each answer's own record id, if any, said alike)."""
    one, other = answers
    assert one.status_code == other.status_code, (one.text, other.text)
    bodies = [answer.json() for answer in answers]
    if ids is not None:
        bodies = [_said(body, i) for body, i in zip(bodies, ids, strict=True)]
    assert bodies[0] == bodies[1], (one.text, other.text)


def _said(body: dict[str, Any], record_id: int) -> dict[str, Any]:
    return {
        key: "ID"
        if value == record_id and key == "id"
        else value.replace(f"record {record_id} ", "record ID ")
        if isinstance(value, str)
        else value
        for key, value in body.items()
    }


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"limit": "2", "sort": "-qty"},
        {"limit": "abc"},
        {"limit": "-1"},
        {"count": "maybe"},
        {"filter": "{not json"},
        {"filter": '{"field": "qty", "op": "gt", "value": 1}', "count": "true"},
        {"sort": "nonexistent"},
        {"deleted": "yes"},
    ],
)
def test_a_page_answers_alike(
    clients: tuple[TestClient, TestClient], params: dict[str, str]
) -> None:
    one, _ = clients
    for i in range(3):
        assert one.post(RECORDS, json={"name": f"ACME-LEAD {i}", "qty": i}).status_code == 201
    _same([client.get(RECORDS, params=params) for client in clients])


@pytest.mark.parametrize(
    ("query", "body", "status"),
    [
        ({}, {"name": "ACME-LEAD", "qty": 3}, 201),
        ({"reason": "x" * 501}, {"name": "ACME-LEAD"}, 422),
        ({}, {"qty": 3}, 422),
        ({}, {"name": "ACME-LEAD", "qty": "three"}, 422),
        ({}, ["not", "an", "object"], 422),
        ({}, None, 422),
    ],
)
def test_a_create_answers_alike(
    clients: tuple[TestClient, TestClient], query: dict[str, str], body: Any, status: int
) -> None:
    answers = [client.post(RECORDS, params=query, json=body) for client in clients]
    assert answers[0].status_code == status, answers[0].text
    if status == 201:
        assert answers[1].status_code == 201, answers[1].text
        volatile = {"id", "created_at", "updated_at"}
        made = [{k: v for k, v in a.json().items() if k not in volatile} for a in answers]
        assert made[0] == made[1] and made[0]["qty"] == 3
        return
    _same(answers)


@pytest.mark.parametrize(
    ("record", "headers", "query"),
    [
        ("{id}", {"If-Match": '"1"'}, {}),
        ("{id}", {"If-Match": "soon"}, {}),
        ("{id}", {"If-Match": '"9"'}, {}),
        ("{id}", {}, {"override": "y" * 501}),
        ("abc", {}, {}),
        ("0", {}, {}),
        (str(2**70), {}, {}),
    ],
)
def test_an_update_answers_alike(
    clients: tuple[TestClient, TestClient],
    record: str,
    headers: dict[str, str],
    query: dict[str, str],
) -> None:
    answers, ids = [], []
    for client in clients:
        ids.append(client.post(RECORDS, json={"name": "ACME-LEAD"}).json()["id"])
        path = f"{RECORDS}/{record.format(id=ids[-1])}"
        answers.append(client.patch(path, params=query, headers=headers, json={"qty": 2}))
    if answers[0].status_code == 200:
        assert [a.json()["qty"] for a in answers] == [2, 2]
        assert [a.headers["ETag"] for a in answers] == ['"2"', '"2"']
        return
    _same(answers, (ids[0], ids[1]))
