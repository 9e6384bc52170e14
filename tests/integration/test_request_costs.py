"""What a request costs the database, counted on the real engine through the ASGI app, and
who asks known from one statement that notices every change at once.

The counts are the statements the engine sends for one request — ``BEGIN`` left out (on
PostgreSQL the revision tokens are read in its round trip, ``db.engine._postgres_begin``, and
counted), every other statement in: the credential's check, the revision tokens, the write,
its history, events, rules and stage history, and the answer. They are pinned, so a change
that makes a hot request ask the database more fails here. A token revoked, a user
deactivated and a role taken away by another process (a second engine on the same database)
take effect on the very next request.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio.to_thread
import pytest
import sqlalchemy as sa
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from starlette.routing import Mount

from meridian.access import manage
from meridian.access.organisation import set_user_roles
from meridian.access.permissions import set_form_rules
from meridian.access.tokens import create_token, revoke_token
from meridian.access.users import create_user
from meridian.app import create_app, create_workspace
from meridian.core.actor import Actor
from meridian.db.engine import make_engine, transaction
from meridian.db.tables import forms, jobs, outbox
from meridian.errors import Unauthenticated
from meridian.http.credentials import checking_in_transaction, forget, provisional
from meridian.http.deps import Workspace
from meridian.http.route_index import RouteIndex
from meridian.http.routing import ApiRoute
from meridian.schema.catalog import get_form
from meridian.settings import Settings
from meridian.solutions import idc_crm
from meridian.solutions.loader import install_approvals, install_pipelines, install_solution
from tests.forms import install_forms, lead_form

PAGE = 2
"""Every revision token of the request's transaction, the page (a search ``q=`` too: its
condition rides in the page's statement); ``count=true`` adds one count. A token this process
has checked before costs no statement of its own: the revision tokens the request's
transaction reads anyway tell whether anything about it changed (``http.credentials``); a
token seen for the first time costs one (with the user and the revision of who users are)."""
CREATE_WRITE = 7
"""A create's write transaction (``BEGIN`` and ``COMMIT`` left out): the revision tokens, the
linked customer readable, the row (its id and what the API shows by ``RETURNING``), its
history, the stage visit, the outbox rows of both its events (the record created, the stage
entered: one INSERT), the rule run they trigger (rules and webhooks decided from cached
metadata)."""
UPDATE_WRITE = 5
"""An update's write transaction: the revision tokens, the row (If-Match) with whether it is
in approval (the approval lock's row fact, ``records.guards.RowFact``), the row changed
(RETURNING what the API shows), its history, its event."""
SEARCH_TABLE = 1
"""On SQLite a write whose search text changes also keeps the FTS5 search table in step: one
more, in the create and the update alike (PostgreSQL indexes the column itself)."""


@contextmanager
def counted(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        words = " ".join(statement.split())
        if words.split(None, 1)[0].upper() == "BEGIN":  # on PostgreSQL the tokens ride along
            words = words.partition("; ")[2]
        if words:
            seen.append(words)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


@contextmanager
def transactions_counted(engine: Engine) -> Iterator[list[int]]:
    """How many transactions the engine began, in a list of one number once the block ends."""
    began: list[int] = []
    count = 0

    def one(_conn: Any) -> None:
        nonlocal count
        count += 1

    sa.event.listen(engine, "begin", one)
    try:
        yield began
    finally:
        sa.event.remove(engine, "begin", one)
        began.append(count)


@pytest.fixture
def idc(workspace: Workspace, admin: Actor) -> Workspace:
    app, forms = idc_crm.load_package()
    install_solution(workspace.engine, admin, app, forms, idc_crm.load_rules())
    install_approvals(workspace.engine, admin, idc_crm.load_approvals())
    install_pipelines(workspace.engine, admin, idc_crm.load_pipelines())
    return workspace


def test_a_page_a_create_and_an_update_ask_few_statements(
    idc: Workspace, client: TestClient
) -> None:
    customer = client.post(
        "/api/v1/forms/customer/records", json={"name": "华北云计算有限公司", "status": "active"}
    )
    assert customer.status_code == 201, customer.text
    items = [
        {"name": f"机柜 {i}", "customer": customer.json()["id"], "stage": "lead"} for i in range(50)
    ]
    bulk = client.post("/api/v1/forms/opportunity/records/bulk", json={"items": items})
    assert bulk.status_code == 201, bulk.text
    body = {"name": "二期扩容", "customer": customer.json()["id"], "stage": "lead"}
    for _ in range(2):  # the first of each warms this process's caches
        with counted(idc.engine) as page_statements:
            page = client.get("/api/v1/forms/opportunity/records", params={"limit": 50})
        with counted(idc.engine) as search_statements:
            found = client.get("/api/v1/forms/opportunity/records", params={"q": "二期"})
        with counted(idc.engine) as counted_statements:
            totalled = client.get(
                "/api/v1/forms/opportunity/records", params={"limit": 10, "count": "true"}
            )
        with counted(idc.engine) as create_statements, transactions_counted(idc.engine) as c:
            created = client.post("/api/v1/forms/opportunity/records", json=body)
        record = created.json()
        with counted(idc.engine) as update_statements, transactions_counted(idc.engine) as u:
            updated = client.patch(
                f"/api/v1/forms/opportunity/records/{record['id']}",
                json={"name": "二期扩容（改）"},
                headers={"If-Match": created.headers["ETag"]},
            )
    assert page.status_code == 200 and len(page.json()["items"]) == 50
    assert created.status_code == 201, created.text
    assert updated.status_code == 200 and updated.json()["_version"] == 2
    assert len(page_statements) <= PAGE, page_statements
    # A search is the page with its condition; count=true adds the one count, nothing else.
    assert found.status_code == 200 and len(found.json()["items"]) == 1, found.text
    assert len(search_statements) <= PAGE, search_statements
    assert totalled.status_code == 200 and totalled.json()["total"] == 51, totalled.text
    assert len(counted_statements) <= PAGE + 1, counted_statements
    assert sum("count(" in s for s in counted_statements) == 1, counted_statements
    search = SEARCH_TABLE if idc.engine.dialect.name == "sqlite" else 0
    create_budget = CREATE_WRITE + search
    update_budget = UPDATE_WRITE + search
    assert len(create_statements) <= create_budget, "\n".join(s[:150] for s in create_statements)
    assert len(update_statements) <= update_budget, "\n".join(s[:150] for s in update_statements)
    # The events and the rule run of a create reach the database in one INSERT each.
    assert sum(s.startswith("INSERT INTO sys_outbox") for s in create_statements) == 1
    assert sum(s.startswith("INSERT INTO sys_job") for s in create_statements) == 1
    assert not any("max(" in s for s in create_statements), create_statements
    with idc.read() as conn:
        written = conn.execute(
            sa.select(outbox.c.event_type)
            .where(outbox.c.payload["record_id"].as_integer() == record["id"])
            .order_by(outbox.c.id)
        ).scalars()
        queued = conn.execute(
            sa.select(jobs.c.kind).where(jobs.c.payload["record_id"].as_integer() == record["id"])
        ).scalars()
        assert list(written) == ["RecordCreated", "StageEntered", "RecordUpdated"]
        assert list(queued) == ["rules.run"]
    for statement in [*page_statements, *create_statements, *update_statements]:
        assert "LIKE" not in statement and "meta_form" not in statement, statement
        assert "sys_webhook" not in statement and "flow_pipeline" not in statement, statement
        assert "sys_user_role" not in statement, statement
    # A page is one transaction: its credential's check and its answer read one snapshot.
    with transactions_counted(idc.engine) as began:
        again = client.get("/api/v1/forms/opportunity/records", params={"limit": 50})
    assert again.status_code == 200 and len(again.json()["items"]) == 50
    newest = again.json()["items"][0]  # the snapshot is the database as it is now
    assert (newest["id"], newest["_version"]) == (record["id"], 2), newest
    assert began == [1], began
    # A write is one transaction: who asks is checked by the revisions it reads anyway.
    assert (c, u) == ([1], [1]), (c, u)
    # Each request reads the revisions exactly once, and no statement of its own for its token.
    for statements in (page_statements, create_statements, update_statements):
        assert not any("sys_api_token" in s or "sys_user" in s for s in statements), statements
        assert sum("FROM sys_revision" in s for s in statements) == 1, statements


@pytest.fixture
def second_engine(workspace: Workspace, database_url: str) -> Iterator[Engine]:
    """Another process's engine on the same database."""
    other = make_engine(database_url)
    yield other
    other.dispose()


def _user(workspace: Workspace, roles: list[str]) -> tuple[int, str]:
    with workspace.transaction() as conn:
        user_id = create_user(
            conn=conn,
            email="wang@acme.test",
            name="Wang",
            password="correct horse",
            passwords=workspace.passwords,
        )
        set_user_roles(conn, user_id, roles)
        return user_id, create_token(conn=conn, user_id=user_id, name="wang")


def _app(workspace: Workspace, settings: Settings, token: str) -> TestClient:
    app = create_app(settings, workspace=workspace)
    return TestClient(app, headers={"Authorization": f"Bearer {token}"})


def test_a_revoked_token_is_refused_on_the_next_request_of_another_process(
    workspace: Workspace, settings: Settings, admin: Actor, second_engine: Engine
) -> None:
    _, token = _user(workspace, ["administrator"])
    with _app(workspace, settings, token) as client:
        assert client.get("/api/v1/roles").status_code == 200
        other = create_workspace(settings, engine=second_engine)
        with other.transaction() as conn:
            token_id = conn.scalar(sa.text("SELECT max(id) FROM sys_api_token"))
            revoke_token(conn=conn, token_id=token_id, actor_id=admin.user_id)
        refused = client.get("/api/v1/roles")
    assert refused.status_code == 401, refused.text


def test_a_deactivated_user_is_refused_on_the_next_request_of_another_process(
    workspace: Workspace, settings: Settings, admin: Actor, second_engine: Engine
) -> None:
    user_id, token = _user(workspace, ["administrator"])
    with _app(workspace, settings, token) as client:
        assert client.get("/api/v1/roles").status_code == 200
        other = create_workspace(settings, engine=second_engine)
        with other.transaction() as conn:
            manage.update_user(conn, admin, user_id, {"is_active": False})
        refused = client.get("/api/v1/roles")
    assert refused.status_code == 401, refused.text


def test_a_role_taken_away_holds_on_the_next_request_of_another_process(
    workspace: Workspace, settings: Settings, admin: Actor, second_engine: Engine
) -> None:
    user_id, token = _user(workspace, ["administrator"])
    with _app(workspace, settings, token) as client:
        assert client.patch("/api/v1/roles/member", json={"label": "成员"}).status_code == 200
        with second_engine.begin() as conn:  # by hand: the database itself notices
            conn.execute(sa.text("DELETE FROM sys_user_role WHERE user_id = :u"), {"u": user_id})
        refused = client.patch("/api/v1/roles/member", json={"label": "组员"})
        with second_engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO sys_user_role (user_id, role_key) VALUES (:u, 'administrator')"
                ),
                {"u": user_id},
            )
        allowed_again = client.patch("/api/v1/roles/member", json={"label": "组员"})
    assert refused.status_code == 403, refused.text
    assert allowed_again.status_code == 200, allowed_again.text


def test_a_token_seen_first_is_checked_in_the_read_that_answers(
    workspace: Workspace, settings: Settings, lead: None
) -> None:
    """A token this process has not kept (another process checked it, and recorded its use):
    its check is one statement in the very read transaction that answers the page; the next
    page reads no credential at all."""
    _, token = _user(workspace, ["administrator"])
    with _app(workspace, settings, token) as client:
        assert client.get("/api/v1/forms/lead/records").status_code == 200  # its use recorded
        forget(workspace.engine, token)
        with counted(workspace.engine) as first, transactions_counted(workspace.engine) as began:
            assert client.get("/api/v1/forms/lead/records").status_code == 200
        with counted(workspace.engine) as second:
            assert client.get("/api/v1/forms/lead/records").status_code == 200
    assert began == [1], began
    assert sum("sys_api_token" in s for s in first) == 1, first
    assert not any("sys_api_token" in s for s in second), second
    assert len(second) == len(first) - 1, (first, second)


@pytest.fixture
def lead(workspace: Workspace) -> None:
    with workspace.transaction() as conn:
        install_forms(conn, lead_form({"key": "name", "type": "text", "label": "名称"}))


def _leads(workspace: Workspace) -> int:
    with workspace.read() as conn:
        return int(conn.scalar(sa.text("SELECT count(*) FROM data_lead")) or 0)


def _revoke_all(engine: Engine) -> None:
    with engine.begin() as conn:  # by hand: the database itself notices
        conn.execute(sa.text("UPDATE sys_api_token SET revoked_at = CURRENT_TIMESTAMP"))


def _deactivate(engine: Engine, user_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE sys_user SET is_active = false WHERE id = :u"), {"u": user_id})


@pytest.mark.parametrize("change", [_revoke_all, _deactivate], ids=["revoked", "deactivated"])
def test_a_write_is_refused_at_once_though_its_token_was_checked_in_its_own_transaction(
    workspace: Workspace,
    settings: Settings,
    lead: None,
    second_engine: Engine,
    change: Any,
) -> None:
    """A write with a token this process knows is one transaction; a token revoked (or its
    user deactivated) by another process is refused on the very next write, nothing written."""
    user_id, token = _user(workspace, ["administrator"])
    with _app(workspace, settings, token) as client:
        assert client.post("/api/v1/forms/lead/records", json={"name": "甲"}).status_code == 201
        with transactions_counted(workspace.engine) as began:
            kept = client.post("/api/v1/forms/lead/records", json={"name": "乙"})
        assert kept.status_code == 201 and began == [1], (kept.text, began)
        if change is _deactivate:
            change(second_engine, user_id)
        else:
            change(second_engine)
        refused = client.post("/api/v1/forms/lead/records", json={"name": "丙"})
        assert refused.status_code == 401, refused.text
        again = client.post("/api/v1/forms/lead/records", json={"name": "丁"})
        assert again.status_code == 401, again.text
    assert _leads(workspace) == 2


def test_a_write_whose_caller_lost_a_role_meanwhile_is_judged_by_the_roles_now(
    workspace: Workspace, settings: Settings, lead: None, second_engine: Engine
) -> None:
    """The kept caller is an administrator; the role is taken away by hand before the next
    write: that write is answered as the caller is now (403), not as they were kept."""
    user_id, token = _user(workspace, ["administrator"])
    with _app(workspace, settings, token) as client:
        assert client.post("/api/v1/forms/lead/records", json={"name": "甲"}).status_code == 201
        assert client.post("/api/v1/forms/lead/records", json={"name": "乙"}).status_code == 201
        with second_engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM sys_user_role WHERE user_id = :u"), {"u": user_id})
        refused = client.post("/api/v1/forms/lead/records", json={"name": "丙"})
    assert refused.status_code == 403, refused.text
    assert _leads(workspace) == 2


def test_a_write_through_a_transaction_of_its_own_checks_its_caller_as_it_begins(
    workspace: Workspace, settings: Settings, lead: None, second_engine: Engine
) -> None:
    """A service that begins its own transaction on the engine (not the workspace's) still
    checks a kept caller first."""
    _, token = _user(workspace, ["administrator"])
    with _app(workspace, settings, token) as client:
        assert client.post("/api/v1/forms/lead/records", json={"name": "甲"}).status_code == 201
    _revoke_all(second_engine)
    with checking_in_transaction():
        assert provisional(workspace.engine, token) is not None
        with pytest.raises(Unauthenticated):
            with transaction(workspace.engine) as conn:
                conn.execute(sa.text("INSERT INTO data_lead (name) VALUES ('乙')"))
    assert _leads(workspace) == 1


def test_a_session_is_checked_by_one_read_and_its_use_written_once_a_minute(
    workspace: Workspace, settings: Settings, admin: Actor, fake_clock: Any
) -> None:
    start = datetime.now(UTC)
    fake_clock.follow(lambda: start)
    app = create_app(settings, workspace=workspace)
    with TestClient(app) as client:
        login = client.post(
            "/api/v1/auth/login", json={"email": "admin@acme.test", "password": "correct horse"}
        )
        assert login.status_code == 200, login.text
        fake_clock.follow(lambda: start + timedelta(seconds=30))
        with counted(workspace.engine) as same_minute:
            assert client.get("/api/v1/roles").status_code == 200
        fake_clock.follow(lambda: start + timedelta(minutes=2))
        with counted(workspace.engine) as later:
            assert client.get("/api/v1/roles").status_code == 200
        with workspace.read() as conn:
            seen = conn.scalar(sa.text("SELECT max(last_seen_at) FROM sys_session"))
    assert [s for s in same_minute if "sys_session" in s and "UPDATE" in s] == []
    assert sum("sys_session" in s for s in same_minute) == 1
    assert sum("UPDATE sys_session" in s for s in later) == 1
    assert seen is not None and str(start + timedelta(minutes=2))[:16] in str(seen).replace(
        "T", " "
    )


def test_a_permission_changed_by_another_process_holds_on_the_next_request(
    workspace: Workspace, settings: Settings, admin: Actor, second_engine: Engine
) -> None:
    with workspace.transaction() as conn:
        [form] = install_forms(conn, lead_form({"key": "name", "type": "text", "label": "名称"}))
        set_form_rules(conn, "manager", form, {"create": True, "read": "all"})
    _, token = _user(workspace, ["manager"])
    with _app(workspace, settings, token) as client:
        assert client.post("/api/v1/forms/lead/records", json={"name": "甲"}).status_code == 201
        with counted(workspace.engine) as statements:
            created = client.post("/api/v1/forms/lead/records", json={"name": "乙"})
        assert created.status_code == 201, created.text
        other = create_workspace(settings, engine=second_engine)
        with other.transaction() as conn:
            form = get_form(conn, "lead")
            set_form_rules(conn, "manager", form, {"read": "all"})
        refused = client.post("/api/v1/forms/lead/records", json={"name": "丙"})
    assert refused.status_code == 403, refused.text
    # The manager's permissions came from this process's cache the second time.
    assert not any("sys_role_form" in s for s in statements), statements


def test_a_form_changed_by_hand_in_another_process_is_read_afresh(
    workspace: Workspace, client: TestClient, second_engine: Engine
) -> None:
    with workspace.transaction() as conn:
        install_forms(conn, lead_form({"key": "name", "type": "text", "label": "名称"}))
    assert client.get("/api/v1/forms/lead").json()["label"] == "线索"
    assert client.post("/api/v1/forms/lead/records", json={"name": "甲"}).status_code == 201
    with second_engine.begin() as conn:  # as an older Meridian or an operator would
        definition = conn.scalar(sa.select(forms.c.definition).where(forms.c.key == "lead"))
        conn.execute(
            forms.update()
            .where(forms.c.key == "lead")
            .values(definition={**definition, "label": "潜在客户"})
        )
    assert client.get("/api/v1/forms/lead").json()["label"] == "潜在客户"


def test_every_route_is_matched_from_one_flat_table(client: TestClient) -> None:
    """An included router is a branch FastAPI searches twice per level on every request (it
    cost 0.4 ms of CPU before ``/healthz`` was found); the app copies every route into its own
    table instead, in the routers' order, behind the index that finds a path's route
    (``http.route_index``)."""
    index, *routes = client.app.router.routes  # type: ignore[attr-defined]
    assert isinstance(index, RouteIndex)
    assert all(isinstance(route, APIRoute | Mount) for route in routes), [
        type(route).__name__ for route in routes if not isinstance(route, APIRoute | Mount)
    ]
    paths = [route.path for route in routes]
    assert paths.index("/api/v1/forms/{form_key}/records") < paths.index("/healthz")
    assert isinstance(routes[paths.index("/api/v1/forms/{form_key}/records")], ApiRoute)
    assert "/forms/{form_key}/kanban" in paths and "/static" in paths


def test_a_request_makes_two_trips_to_the_thread_pool(
    idc: Workspace, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The credential's check and the route: every trip there and back is two thread
    switches. Dependencies that wait for nothing run on the event loop, and a record is
    answered as it is, not validated against ``dict[str, Any]`` in another trip."""
    trips = 0
    run_sync = anyio.to_thread.run_sync

    async def counted_trip(*args: Any, **kwargs: Any) -> Any:
        nonlocal trips
        trips += 1
        return await run_sync(*args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted_trip)
    customer = client.post(
        "/api/v1/forms/customer/records", json={"name": "华北云", "status": "active"}
    )
    path = "/api/v1/forms/customer/records"
    asked = {
        "page": lambda: client.get(path, params={"limit": 50}),
        "create": lambda: client.post(path, json={"name": "华东云", "status": "active"}),
        "get": lambda: client.get(f"{path}/{customer.json()['id']}"),
        "update": lambda: client.patch(
            f"{path}/{customer.json()['id']}",
            json={"name": "华北云（改）"},
            headers={"If-Match": customer.headers["ETag"]},
        ),
    }
    for name, ask in asked.items():
        trips = 0
        answer = ask()
        assert answer.status_code in (200, 201), answer.text
        assert trips <= 2, (name, trips)
