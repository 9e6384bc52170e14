"""The kanban page's cost in statements: every column's first cards are read by one statement,
and the linked titles they show once for all columns, not once per column; the menu's apps and
forms come from the process's cache while nobody changes them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from httpx import Response

from meridian.access import manage
from meridian.app import create_app
from meridian.core.actor import Actor
from meridian.db.engine import make_engine
from meridian.db.tables import apps
from meridian.http.deps import Workspace
from meridian.records import bulk
from meridian.schema import changes
from meridian.schema.catalog import get_form
from meridian.schema.model import App, Form, parse_model
from meridian.settings import Settings
from tests.forms import install_forms, select_field

PASSWORD = "s3cret-pass"
STAGES = select_field("stage", "阶段", ("lead", "线索"), ("won", "赢单"), ("lost", "输单"))


@pytest.fixture
def board(settings: Settings, workspace: Workspace) -> Iterator[TestClient]:
    system = Actor.system()
    with workspace.transaction() as conn:
        install_forms(
            conn,
            {
                "key": "account",
                "label": "客户",
                "title_field": "name",
                "fields": [{"key": "name", "label": "名称", "type": "text"}],
            },
            {
                "key": "deal",
                "label": "商机",
                "title_field": "name",
                "fields": [
                    {"key": "name", "label": "名称", "type": "text"},
                    {"key": "account", "label": "客户", "type": "link", "target": "account"},
                    STAGES,
                ],
            },
        )
        accounts = bulk.create_records(
            conn=conn,
            actor=system,
            form=get_form(conn, "account"),
            items=[{"name": f"华为云 <{i}>"} for i in range(3)],
        )
        bulk.create_records(
            conn=conn,
            actor=system,
            form=get_form(conn, "deal"),
            items=[
                {"name": f"deal {i}", "account": accounts[i % 3], "stage": stage}
                for i, stage in enumerate(["lead", "won", "lost"] * 3)
            ],
        )
        manage.add_user(
            conn,
            system,
            email="admin@acme.test",
            name="admin",
            password=PASSWORD,
            passwords=workspace.passwords,
            roles=["administrator"],
            must_change_password=False,
        )
    with TestClient(create_app(settings, workspace=workspace), follow_redirects=False) as client:
        login = client.post(
            "/login", data={"email": "admin@acme.test", "password": PASSWORD, "next": "/"}
        )
        assert login.status_code == 303, login.text
        yield client


def _kanban_statements(board: TestClient, workspace: Workspace) -> tuple[Response, list[str]]:
    """The kanban page, and every statement the engine sent for it."""
    seen: list[str] = []

    def keep(*args: object) -> None:
        seen.append(str(args[2]))

    sa.event.listen(workspace.engine, "before_cursor_execute", keep)
    try:
        page = board.get("/forms/deal/kanban?by=stage")
    finally:
        sa.event.remove(workspace.engine, "before_cursor_execute", keep)
    assert page.status_code == 200, page.text
    return page, seen


def test_the_cards_and_their_links_titles_are_one_query_each_for_all_columns(
    board: TestClient, workspace: Workspace
) -> None:
    page, seen = _kanban_statements(board, workspace)
    titles = [s for s in seen if "FROM data_account" in s]
    cards = [s for s in seen if "FROM data_deal" in s and "LIMIT" in s]
    assert len(cards) == 1, seen  # one statement for every column's first cards
    assert cards[0].count("UNION ALL") == 3, cards  # three stages and the blank column
    assert len(titles) == 1, titles  # every column's linked titles at once
    for i in range(3):  # each card shows its account's title, escaped
        assert page.text.count(f"华为云 &lt;{i}&gt;</a>") == 3


def test_the_menus_three_badges_are_one_statement(board: TestClient, workspace: Workspace) -> None:
    _, seen = _kanban_statements(board, workspace)
    badges = [s for s in seen if "sys_notification" in s]
    assert len(badges) == 1, seen  # the bell, the tasks due and the approvals waiting together
    assert "sys_task" in badges[0] and "sys_approval_task" in badges[0], badges


def test_the_menus_apps_and_forms_are_read_again_only_after_a_change(
    board: TestClient, workspace: Workspace, database_url: str
) -> None:
    """Every page's menu lists the apps and forms: kept per process under the ``forms`` token,
    so a page reads neither while nothing changed, and an app made through Meridian or renamed
    by hand in another process shows on the very next page."""
    _kanban_statements(board, workspace)
    _, seen = _kanban_statements(board, workspace)
    assert not [s for s in seen if "FROM meta_app" in s or "FROM meta_form" in s], seen
    with workspace.transaction() as conn:
        changes.create_app(conn=conn, actor=Actor.system(), app=App(key="service", label="服务台"))
        case = {"app_key": "sales", "key": "case", "label": "服务工单", "fields": []}
        changes.create_form(conn=conn, actor=Actor.system(), form=parse_model(Form, case))
    page, seen = _kanban_statements(board, workspace)
    assert "服务台" in page.text and "服务工单" in page.text
    assert [s for s in seen if "FROM meta_app" in s] and [s for s in seen if "FROM meta_form" in s]
    other = make_engine(database_url)  # as an operator would, from another process
    try:
        with other.begin() as conn:
            conn.execute(apps.update().where(apps.c.key == "service").values(label="客服中心"))
    finally:
        other.dispose()
    page, _ = _kanban_statements(board, workspace)
    assert "客服中心" in page.text and "服务台" not in page.text
