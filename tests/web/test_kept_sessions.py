"""A browser session is kept per process like an API token (``http.credentials``): a page or a
change made with the session cookie is one transaction, and whatever ends the session or
changes its user — in another process, or by hand — holds on the very next request, nothing
written."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from meridian.access import manage
from meridian.access.sessions import SessionPolicy, csrf_token_for, logout_everywhere
from meridian.app import create_app, create_workspace
from meridian.core.actor import Actor
from meridian.db.engine import make_engine
from meridian.http.deps import CSRF_HEADER, SESSION_COOKIE, Workspace
from meridian.schema.catalog import get_form
from meridian.settings import Settings
from tests.forms import install_forms, lead_form

PASSWORD = "s3cret-pass"
EMAIL = "m@acme.test"


@pytest.fixture
def second_engine(workspace: Workspace, database_url: str) -> Iterator[Engine]:
    """Another process's engine on the same database."""
    other = make_engine(database_url)
    yield other
    other.dispose()


@pytest.fixture
def member(workspace: Workspace) -> int:
    system = Actor.system()
    with workspace.transaction() as conn:
        [form] = install_forms(
            conn, lead_form({"key": "name", "label": "客户名称", "type": "text"})
        )
        user_id = manage.add_user(
            conn,
            system,
            email=EMAIL,
            name="m",
            password=PASSWORD,
            passwords=workspace.passwords,
            roles=["member"],
            must_change_password=False,
        )
        manage.set_form_permissions(
            conn, system, "member", form, {"create": True, "read": "all", "update": "all"}
        )
    return int(user_id["id"])


@pytest.fixture
def web(settings: Settings, workspace: Workspace, member: int) -> Iterator[TestClient]:
    with TestClient(create_app(settings, workspace=workspace), follow_redirects=False) as client:
        signed_in = client.post("/login", data={"email": EMAIL, "password": PASSWORD, "next": "/"})
        assert signed_in.status_code == 303, signed_in.text
        client.headers[CSRF_HEADER] = csrf_token_for(client.cookies[SESSION_COOKIE])
        yield client


def _counted(engine: Engine) -> tuple[list[int], list[str], Callable[[], None]]:
    """Transactions begun and statements sent on ``engine`` until the returned stop is called."""
    began: list[int] = []
    sent: list[str] = []

    def begin(_conn: Any) -> None:
        began.append(1)

    def execute(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        sent.append(" ".join(statement.split()))

    sa.event.listen(engine, "begin", begin)
    sa.event.listen(engine, "before_cursor_execute", execute)

    def stop() -> None:
        sa.event.remove(engine, "begin", begin)
        sa.event.remove(engine, "before_cursor_execute", execute)

    return began, sent, stop


def _create(web: TestClient, name: str) -> Any:
    return web.post("/api/v1/forms/lead/records", json={"name": name})


def _names(workspace: Workspace) -> list[str]:
    with workspace.read() as conn:
        return list(conn.scalars(sa.text("SELECT name FROM data_lead ORDER BY id")))


def test_a_change_and_a_page_with_a_kept_session_are_one_transaction_each(
    web: TestClient, workspace: Workspace
) -> None:
    assert _create(web, "甲").status_code == 201  # the session read, then kept
    began, sent, stop = _counted(workspace.engine)
    try:
        created = _create(web, "乙")
        created_began, created_sent = len(began), list(sent)
        began.clear()
        sent.clear()
        page = web.get("/forms/lead")
    finally:
        stop()
    assert created.status_code == 201, created.text
    assert created_began == 1, created_sent
    assert not any("sys_session" in s for s in created_sent), created_sent
    assert page.status_code == 200, page.text
    # The page reads its records, then its layout's counts: one read, no session in it.
    assert not any("sys_session" in s for s in sent), sent
    assert len(began) == 1, sent
    # The revision tokens once (on PostgreSQL in the round trip of the BEGIN).
    assert sum("SELECT sys_revision.name" in s for s in sent) == 1, sent
    assert _names(workspace) == ["甲", "乙"]


def _revoke_by_hand(engine: Engine, _user: int, _settings: Settings) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE sys_session SET revoked_at = CURRENT_TIMESTAMP"))


def _delete_by_hand(engine: Engine, _user: int, _settings: Settings) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM sys_session"))


def _deactivate_by_hand(engine: Engine, user: int, _settings: Settings) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE sys_user SET is_active = false WHERE id = :u"), {"u": user})


def _logout_everywhere(engine: Engine, user: int, settings: Settings) -> None:
    other = create_workspace(settings, engine=engine)
    with other.transaction() as conn:
        logout_everywhere(conn, user, SessionPolicy())


ENDINGS = [_revoke_by_hand, _delete_by_hand, _deactivate_by_hand, _logout_everywhere]


@pytest.mark.parametrize("ending", ENDINGS, ids=["revoked", "deleted", "deactivated", "everywhere"])
def test_a_session_ended_in_another_process_is_refused_on_the_next_change_and_page(
    web: TestClient,
    workspace: Workspace,
    settings: Settings,
    member: int,
    second_engine: Engine,
    ending: Any,
) -> None:
    assert _create(web, "甲").status_code == 201
    assert _create(web, "乙").status_code == 201  # from the kept session
    ending(second_engine, member, settings)
    refused = _create(web, "丙")
    page = web.get("/forms/lead")
    assert refused.status_code == 401, refused.text
    assert page.status_code == 303 and page.headers["location"].startswith("/login"), page.text
    assert _names(workspace) == ["甲", "乙"]


def test_a_user_made_to_change_their_password_is_held_on_the_next_request(
    web: TestClient, workspace: Workspace, member: int, second_engine: Engine
) -> None:
    assert _create(web, "甲").status_code == 201
    with second_engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE sys_user SET must_change_password = true WHERE id = :u"), {"u": member}
        )
    refused = _create(web, "乙")
    assert refused.status_code == 403, refused.text
    assert refused.json()["reason"] == "password_change_required"
    assert _names(workspace) == ["甲"]


def test_a_kept_session_whose_user_lost_a_permission_is_judged_as_they_are_now(
    web: TestClient, workspace: Workspace, settings: Settings, second_engine: Engine
) -> None:
    assert _create(web, "甲").status_code == 201
    other = create_workspace(settings, engine=second_engine)
    with other.transaction() as conn:
        manage.set_form_permissions(
            conn, Actor.system(), "member", get_form(conn, "lead"), {"read": "all"}
        )
    refused = _create(web, "乙")
    assert refused.status_code == 403, refused.text
    assert _names(workspace) == ["甲"]


def test_a_kept_session_is_not_used_past_its_idle_expiry(
    settings: Settings, workspace: Workspace, member: int, fake_clock: Any
) -> None:
    start = datetime.now(UTC)
    fake_clock.follow(lambda: start)
    idle = settings.model_copy(update={"session_idle_minutes": 5})
    shorter = create_workspace(idle, engine=workspace.engine, clock=fake_clock)
    with TestClient(create_app(idle, workspace=shorter), follow_redirects=False) as web:
        web.post("/login", data={"email": EMAIL, "password": PASSWORD, "next": "/"})
        web.headers[CSRF_HEADER] = csrf_token_for(web.cookies[SESSION_COOKIE])
        fake_clock.follow(lambda: start + timedelta(seconds=30))
        assert _create(web, "甲").status_code == 201  # read, then kept
        assert _create(web, "乙").status_code == 201
        fake_clock.follow(lambda: start + timedelta(minutes=6))
        refused = _create(web, "丙")
    assert refused.status_code == 401, refused.text
    assert _names(workspace) == ["甲", "乙"]


def test_an_upload_whose_sender_changed_meanwhile_is_answered_again_with_its_file(
    web: TestClient, member: int, second_engine: Engine
) -> None:
    """A request whose caller changed is answered again from the start; an upload's files are
    still open then (they close with the request), so it is stored whole."""
    assert _create(web, "甲").status_code == 201
    with second_engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM sys_user_role WHERE user_id = :u"), {"u": member})
    sent = web.post("/api/v1/files", files={"file": ("合同.pdf", b"%PDF-1.4 x", "application/pdf")})
    assert sent.status_code == 201, sent.text
    assert web.get(f"/api/v1/files/{sent.json()['id']}").content == b"%PDF-1.4 x"
