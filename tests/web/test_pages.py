"""The pages over HTTP: sign-in, CSRF, validation beside the field, bad input on every form,
permissions, languages — on each database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from meridian.access import manage, organisation
from meridian.access.sessions import csrf_token_for
from meridian.app import create_app
from meridian.core.actor import Actor
from meridian.db.tables import saved_views, users
from meridian.http.deps import SESSION_COOKIE, Workspace
from meridian.records import listing, service
from meridian.schema.catalog import get_form
from meridian.settings import Settings
from tests.forms import STAGE, install_forms, lead_form

PASSWORD = "s3cret-pass"


@pytest.fixture
def web(settings: Settings, workspace: Workspace) -> Iterator[TestClient]:
    system = Actor.system()
    with workspace.transaction() as conn:
        [form] = install_forms(
            conn,
            lead_form(
                {"key": "name", "label": "客户名称", "type": "text", "required": True},
                {"key": "phone", "label": "手机", "type": "phone"},
                {"key": "seats", "label": "机柜数", "type": "integer"},
                {"key": "due", "label": "跟进日期", "type": "date"},
                STAGE,
                {"key": "floor_price", "label": "底价", "type": "money"},
            ),
        )
        for email, roles in (("admin@acme.test", ["administrator"]), ("m@acme.test", ["member"])):
            manage.add_user(
                conn,
                system,
                email=email,
                name=email.split("@")[0],
                password=PASSWORD,
                passwords=workspace.passwords,
                roles=roles,
                must_change_password=False,
            )
        manage.set_form_permissions(
            conn,
            system,
            "member",
            form,
            {
                "create": True,
                "read": "own",
                "update": "own",
                "delete": "own",
                "fields": {"floor_price": "hidden"},
            },
        )
    with TestClient(create_app(settings, workspace=workspace), follow_redirects=False) as client:
        yield client


def log_in(client: TestClient, email: str) -> str:
    response = client.post("/login", data={"email": email, "password": PASSWORD, "next": "/"})
    assert response.status_code == 303, response.text
    return csrf_token_for(client.cookies[SESSION_COOKIE])


def create_through_page(web: TestClient, csrf: str, **values: str) -> int:
    """A record created with the page's form as the signed-in user; its id."""
    created = web.post("/forms/lead/new", data={"csrf_token": csrf, **values})
    assert created.status_code == 303, created.text
    return int(created.headers["location"].rsplit("/", 1)[1])


def change_behind_the_back(workspace: Workspace, record_id: int, **values: str) -> None:
    with workspace.transaction() as conn:
        service.update_record(
            conn=conn,
            actor=Actor.system(),
            form=get_form(conn, "lead"),
            record_id=record_id,
            values=values,
        )


def records(workspace: Workspace, **query: Any) -> list[dict[str, Any]]:
    with workspace.read() as conn:
        return listing.list_records(
            conn=conn,
            actor=Actor.system(),
            form=get_form(conn, "lead"),
            query=listing.RecordQuery(**query),
        ).items


def test_pages_need_a_session_and_come_back_after_login(web: TestClient) -> None:
    response = web.get("/forms/lead?sort=name")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/forms/lead"
    assert web.get("/forms/lead", headers={"HX-Request": "true"}).headers["HX-Redirect"]
    login = web.post(
        "/login", data={"email": "m@acme.test", "password": PASSWORD, "next": "/forms/lead"}
    )
    assert login.headers["location"] == "/forms/lead"
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie


def test_a_wrong_password_is_shown_on_the_login_page(web: TestClient) -> None:
    response = web.post("/login", data={"email": "m@acme.test", "password": "nope"})
    assert response.status_code == 401
    assert "邮箱或密码错误" in response.text
    assert SESSION_COOKIE not in web.cookies
    english = web.post(
        "/login",
        data={"email": "m@acme.test", "password": "nope"},
        headers={"Accept-Language": "en-US,en"},
    )
    assert "the email or password is wrong" in english.text and "Log in" in english.text


def test_login_never_sends_the_browser_to_another_site(web: TestClient) -> None:
    for target in ("//evil.test/x", "https://evil.test", "javascript:alert(1)"):
        response = web.post(
            "/login", data={"email": "m@acme.test", "password": PASSWORD, "next": target}
        )
        assert response.headers["location"] == "/"


def test_a_change_without_the_csrf_token_is_refused(web: TestClient, workspace: Workspace) -> None:
    csrf = log_in(web, "m@acme.test")
    response = web.post("/forms/lead/new", data={"name": "华为云"})
    assert response.status_code == 403
    assert records(workspace) == []
    response = web.post("/forms/lead/new", data={"name": "华为云", "csrf_token": "0" * 40})
    assert response.status_code == 403
    ok = web.post("/forms/lead/new", data={"name": "华为云", "csrf_token": csrf})
    assert ok.status_code == 303


def test_every_error_stands_beside_its_field_and_nothing_is_written(
    web: TestClient, workspace: Workspace
) -> None:
    csrf = log_in(web, "m@acme.test")
    response = web.post(
        "/forms/lead/new",
        data={
            "csrf_token": csrf,
            "name": "",
            "phone": "12345",
            "seats": "3.5",
            "due": "soon",
            "stage": "lost",
        },
    )
    assert response.status_code == 422
    for key in ("name", "phone", "seats", "due", "stage"):
        assert f'data-testid="error-{key}"' in response.text, key
    assert 'value="12345"' in response.text  # what was typed comes back
    assert records(workspace) == []


def test_a_stale_edit_is_refused_and_the_other_change_kept(
    web: TestClient, workspace: Workspace
) -> None:
    csrf = log_in(web, "m@acme.test")
    record_id = create_through_page(web, csrf, name="甲")
    change_behind_the_back(workspace, record_id, name="乙")
    response = web.post(
        f"/forms/lead/records/{record_id}/edit",
        data={"csrf_token": csrf, "_version": "1", "name": "丙"},
    )
    assert response.status_code == 412
    assert records(workspace)[0]["name"] == "乙"


def test_the_grid_reports_a_bad_filter_and_keeps_working(web: TestClient) -> None:
    csrf = log_in(web, "m@acme.test")
    web.post("/forms/lead/new", data={"csrf_token": csrf, "name": "华为云"})
    for bad in ("{not json", '{"field": "nope", "op": "eq", "value": 1}', "[1]"):
        response = web.get("/forms/lead", params={"filter": bad})
        assert response.status_code == 200
        assert 'class="error"' in response.text and "华为云" in response.text
    found = web.get("/forms/lead", params={"q": "hwy"})
    assert "华为云" in found.text


def test_a_hidden_field_cannot_be_shown_sorted_or_filtered(
    web: TestClient, workspace: Workspace
) -> None:
    csrf = log_in(web, "m@acme.test")
    record_id = create_through_page(web, csrf, name="华为云")
    change_behind_the_back(workspace, record_id, floor_price="77777")
    probes = [
        web.get("/forms/lead", params={"columns": "name,floor_price"}),
        web.get("/forms/lead", params={"sort": "-floor_price"}),
        web.get(
            "/forms/lead",
            params={"filter": json.dumps({"field": "floor_price", "op": "gt", "value": 1})},
        ),
        web.get(f"/forms/lead/records/{record_id}"),
        web.get(f"/forms/lead/records/{record_id}/edit"),
        web.get(f"/forms/lead/records/{record_id}/cells/floor_price?edit=true"),
        web.get("/forms/lead/kanban"),
    ]
    for response in probes:
        assert "77777" not in response.text and "77,777" not in response.text
        assert "底价" not in response.text
    # Posting the hidden field does not change it either.
    web.post(
        f"/forms/lead/records/{record_id}/edit",
        data={"csrf_token": csrf, "name": "华为云", "floor_price": "1"},
    )
    assert records(workspace)[0]["floor_price"] == "77777.00"


def test_inline_edit_validates_like_the_form(web: TestClient, workspace: Workspace) -> None:
    csrf = log_in(web, "m@acme.test")
    record_id = create_through_page(web, csrf, name="华为云")
    url = f"/forms/lead/records/{record_id}/cells/phone"
    bad = web.post(url, data={"phone": "12345", "_version": "1"}, headers={"X-CSRF-Token": csrf})
    assert bad.status_code == 200 and 'data-testid="error-phone"' in bad.text
    good = web.post(
        url, data={"phone": "13800138000", "_version": "1"}, headers={"X-CSRF-Token": csrf}
    )
    assert "error-phone" not in good.text and "138" in good.text
    assert records(workspace)[0]["phone"].endswith("13800138000")


def test_views_are_checked_and_sharing_takes_the_right_to_manage(
    web: TestClient, workspace: Workspace
) -> None:
    csrf = log_in(web, "m@acme.test")
    settings = json.dumps({"kind": "grid", "columns": ["name"], "sort": "-name"})
    bad = web.post("/forms/lead/views", data={"csrf_token": csrf, "name": "", "settings": "{]"})
    assert bad.status_code == 422
    shared = web.post(
        "/forms/lead/views",
        data={"csrf_token": csrf, "name": "全部", "settings": settings, "shared": "true"},
    )
    assert shared.status_code == 403
    mine = web.post(
        "/forms/lead/views", data={"csrf_token": csrf, "name": "我的", "settings": settings}
    )
    assert mine.status_code == 303
    with workspace.read() as conn:
        [view] = conn.execute(sa.select(saved_views)).all()
    assert view.name == "我的" and not view.shared and view.settings["sort"] == "-name"
    page = web.get(mine.headers["location"])
    assert "我的" in page.text


def test_kanban_moves_are_validated(web: TestClient, workspace: Workspace) -> None:
    csrf = log_in(web, "m@acme.test")
    record_id = create_through_page(web, csrf, name="甲", stage="new")
    headers = {"X-CSRF-Token": csrf, "Accept": "application/json"}
    bad = web.post(
        f"/forms/lead/records/{record_id}/move",
        json={"field": "stage", "value": "lost", "version": 1},
        headers=headers,
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "stage"
    good = web.post(
        f"/forms/lead/records/{record_id}/move",
        json={"field": "stage", "value": "won", "version": 1},
        headers=headers,
    )
    assert good.status_code == 200 and good.json()["_version"] == 2
    stale = web.post(
        f"/forms/lead/records/{record_id}/move",
        json={"field": "stage", "value": "new", "version": 1},
        headers=headers,
    )
    assert stale.status_code == 412
    assert records(workspace)[0]["stage"] == "won"


def test_kanban_cards_show_their_values_escaped(web: TestClient) -> None:
    """A card is written out in one piece, outside the template's autoescaping: its title and
    its lines are escaped all the same, its link and data attributes name the record."""
    csrf = log_in(web, "m@acme.test")
    name = '<img src=x onerror="alert(1)">&甲'
    record_id = create_through_page(web, csrf, name=name, stage="new", seats="1200")
    page = web.get("/forms/lead/kanban").text
    assert "<img" not in page
    card = page[page.index(f'data-id="{record_id}"') :].split("</article>")[0]
    assert 'data-version="1"' in card
    assert f'href="/forms/lead/records/{record_id}"' in card
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;&amp;甲" in card
    assert '<div class="muted">1,200</div>' in card


def test_kanban_shows_the_blank_column_only_while_records_are_blank(web: TestClient) -> None:
    """Every column's first cards are read with the counts still running beside them
    (``db.beside``), the blank column's too: it is shown when the counts find blank records,
    with its count and cards, and left out when they find none."""
    csrf = log_in(web, "m@acme.test")
    create_through_page(web, csrf, name="甲", stage="new")
    page = web.get("/forms/lead/kanban").text
    assert 'data-testid="column-new"' in page
    assert 'data-testid="column-blank"' not in page
    blank = create_through_page(web, csrf, name="乙")
    page = web.get("/forms/lead/kanban").text
    column = page[page.index('data-testid="column-blank"') :].split("</section>")[0]
    assert f'data-id="{blank}"' in column and "乙" in column


def test_calendar_and_kanban_refuse_bad_parameters(web: TestClient) -> None:
    log_in(web, "m@acme.test")
    assert web.get("/forms/lead/calendar?month=2026-13").status_code == 422
    assert web.get("/forms/lead/calendar?by=name").status_code == 422
    assert web.get("/forms/lead/kanban?by=due").status_code == 422
    assert web.get("/forms/lead/calendar?by=due&month=2026-02").status_code == 200


def test_members_cannot_open_administration_or_the_designer(web: TestClient) -> None:
    log_in(web, "m@acme.test")
    for path in (
        "/admin/users",
        "/admin/roles",
        "/admin/audit",
        "/admin/tokens",
        "/apps/sales/designer",
    ):
        response = web.get(path)
        assert response.status_code == 403, path
        assert "没有权限" in response.text


def test_admin_pages_report_bad_input_and_change_nothing(
    web: TestClient, workspace: Workspace
) -> None:
    csrf = log_in(web, "admin@acme.test")
    weak = web.post(
        "/admin/users",
        data={
            "csrf_token": csrf,
            "email": "new@acme.test",
            "name": "New",
            "password": "short",
            "roles": "member",
        },
    )
    assert weak.status_code == 422 and "至少 8 个字符" in weak.text
    with workspace.read() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(users)) == 2
    ok = web.post(
        "/admin/users",
        data={
            "csrf_token": csrf,
            "email": "new@acme.test",
            "name": "New",
            "password": "good-pass-1",
            "roles": "member",
        },
    )
    assert ok.status_code == 200 and "new@acme.test" in ok.text
    bad_token = web.post(
        "/admin/tokens",
        data={"csrf_token": csrf, "name": "", "expires": "2027-13-45", "form_key": "nope"},
    )
    assert bad_token.status_code == 422
    for field in ("name:", "expires:", "form_key:"):
        assert field in bad_token.text
    assert 'data-testid="new-token"' not in bad_token.text
    token = web.post("/admin/tokens", data={"csrf_token": csrf, "name": "OA", "scope": "read"})
    assert 'data-testid="new-token"' in token.text
    listed = web.get("/admin/tokens")
    assert "OA" in listed.text and 'data-testid="new-token"' not in listed.text
    audit = web.get("/admin/audit", params={"action": "token_created"})
    assert "token_created" in audit.text
    rules = web.post(
        "/admin/roles/member/forms/lead",
        data={"csrf_token": csrf, "lead.read": "expr", "lead.read.expr": "nonsense ((("},
    )
    assert rules.status_code == 422


def test_the_language_is_the_users_choice(web: TestClient, workspace: Workspace) -> None:
    csrf = log_in(web, "m@acme.test")
    assert "新建" in web.get("/forms/lead").text
    web.post("/preferences/language", data={"csrf_token": csrf, "locale": "en"})
    page = web.get("/forms/lead")
    assert '<html lang="en">' in page.text and "New" in page.text
    with workspace.read() as conn:
        assert conn.scalar(sa.select(users.c.locale).where(users.c.email == "m@acme.test")) == "en"
    web.post("/preferences/language", data={"csrf_token": csrf, "locale": "xx"})
    assert '<html lang="en">' in web.get("/forms/lead").text


def test_the_designer_answers_problems_as_json(web: TestClient) -> None:
    csrf = log_in(web, "admin@acme.test")
    headers = {"X-CSRF-Token": csrf, "Accept": "application/json"}
    bad = web.post(
        "/apps/sales/designer",
        json={
            "new": True,
            "label": "X",
            "sections": [{"title": "", "columns": 2}],
            "fields": [{"label": "A", "type": "nope"}],
        },
        headers=headers,
    )
    assert bad.status_code == 422 and bad.json()["errors"]
    formula = web.post(
        "/apps/sales/designer/formula",
        json={"expression": "seats * 2 + nmae", "draft": {"key": "lead", "fields": []}},
        headers=headers,
    )
    assert formula.json()["ok"] is False and formula.json()["position"] is not None


def test_bulk_actions_are_all_or_nothing(web: TestClient, workspace: Workspace) -> None:
    csrf = log_in(web, "m@acme.test")
    ids = [create_through_page(web, csrf, name=name) for name in ("甲", "乙", "丙")]
    headers = {"X-CSRF-Token": csrf, "Accept": "application/json"}
    bad = web.post(
        "/forms/lead/bulk",
        data={"ids": [str(i) for i in ids], "action": "edit", "field": "seats", "value": "x"},
        headers=headers,
    )
    assert bad.status_code == 422
    assert [r["seats"] for r in records(workspace)] == [None, None, None]
    none = web.post("/forms/lead/bulk", data={"action": "delete"}, headers=headers)
    assert none.status_code == 422 and none.json()["errors"][0]["field"] == "ids"
    edited = web.post(
        "/forms/lead/bulk",
        data={"ids": [str(i) for i in ids[:2]], "action": "edit", "field": "seats", "value": "4"},
        headers=headers,
    )
    assert edited.status_code == 204
    assert sorted(r["seats"] or 0 for r in records(workspace)) == [0, 4, 4]
    deleted = web.post(
        "/forms/lead/bulk", data={"ids": [str(ids[2])], "action": "delete"}, headers=headers
    )
    assert deleted.status_code == 204 and len(records(workspace)) == 2


def test_an_administrator_edits_and_switches_off_a_user_on_their_page(
    web: TestClient, workspace: Workspace
) -> None:
    csrf = log_in(web, "admin@acme.test")
    with workspace.read() as conn:
        member = conn.scalar(sa.select(users.c.id).where(users.c.email == "m@acme.test"))
    listed = web.get("/admin/users")
    assert f'href="/admin/users/{member}"' in listed.text
    page_ = web.get(f"/admin/users/{member}")
    assert page_.status_code == 200 and 'value="m"' in page_.text
    refused = web.post(f"/admin/users/{member}", data={"csrf_token": csrf, "name": "M"})
    assert refused.status_code == 422 and "roles:" in refused.text
    saved = web.post(
        f"/admin/users/{member}",
        data={"csrf_token": csrf, "name": "Ming", "roles": ["member", "read_only"]},
    )
    assert saved.status_code == 200 and "用户已保存" in saved.text, saved.text
    with workspace.read() as conn:
        row = conn.execute(sa.select(users).where(users.c.id == member)).one()
    assert (row.name, row.is_active) == ("Ming", False)  # the box was not ticked: switched off
    assert web.get("/admin/users/999999").status_code == 404


def test_an_administrator_renames_moves_and_removes_a_department_on_its_page(
    web: TestClient, workspace: Workspace
) -> None:
    csrf = log_in(web, "admin@acme.test")
    with workspace.transaction() as conn:
        hq = organisation.create_department(conn=conn, name="总部")
        east = organisation.create_department(conn=conn, name="华东销售", parent_id=hq)
        team = organisation.create_department(conn=conn, name="上海组", parent_id=east)
    assert f'href="/admin/departments/{team}"' in web.get("/admin/departments").text
    shown = web.get(f"/admin/departments/{east}")
    assert shown.status_code == 200 and 'value="华东销售"' in shown.text
    # Neither itself nor 上海组 below it is offered as its parent.
    assert f'<option value="{hq}"' in shown.text and f'<option value="{team}"' not in shown.text
    refused = web.post(
        f"/admin/departments/{east}",
        data={"csrf_token": csrf, "name": "华东销售", "parent_id": str(team)},
    )
    assert refused.status_code == 422 and "部门不能移到自身或其下级部门之下" in refused.text
    tampered = web.post(
        f"/admin/departments/{east}",
        data={"csrf_token": csrf, "name": "华东销售", "parent_id": "x"},
    )
    assert tampered.status_code == 422 and "parent_id" in tampered.text  # not "top of the tree"
    with workspace.read() as conn:
        assert organisation.describe_department(conn, east)["parent_id"] == hq
    saved = web.post(
        f"/admin/departments/{team}",
        data={"csrf_token": csrf, "name": "苏州组", "parent_id": str(hq), "manager_id": ""},
    )
    assert saved.status_code == 200 and "部门已保存" in saved.text, saved.text
    with workspace.read() as conn:
        assert organisation.describe_department(conn, team)["parent_id"] == hq
    busy = web.post(f"/admin/departments/{hq}/delete", data={"csrf_token": csrf})
    assert busy.status_code == 409 and "下仍有 2 个下级部门" in busy.text
    gone = web.post(
        f"/admin/departments/{team}/delete", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert gone.status_code == 303 and gone.headers["location"] == "/admin/departments"
    assert "苏州组" not in web.get("/admin/departments").text
    assert web.get(f"/admin/departments/{team}").status_code == 404


def test_a_record_is_shared_and_taken_back_on_its_page(
    web: TestClient, workspace: Workspace, settings: Settings
) -> None:
    with workspace.transaction() as conn:
        other = manage.add_user(
            conn,
            Actor.system(),
            email="n@acme.test",
            name="Niu",
            password=PASSWORD,
            passwords=workspace.passwords,
            roles=["member"],
            must_change_password=False,
        )["id"]
    csrf = log_in(web, "m@acme.test")
    record_id = create_through_page(web, csrf, name="华为云", stage="new")
    url = f"/forms/lead/records/{record_id}"
    page_ = web.get(url)
    assert "仅角色权限可见的人" in page_.text and f'value="user:{other}"' in page_.text
    with TestClient(web.app, follow_redirects=False) as niu:
        log_in(niu, "n@acme.test")
        assert niu.get(url).status_code == 404
        refused = web.post(
            f"{url}/shares", data={"csrf_token": csrf, "target": "", "level": "read"}
        )
        assert refused.status_code == 422 and "请选择共享给哪位用户或哪个部门" in refused.text
        shared = web.post(
            f"{url}/shares", data={"csrf_token": csrf, "target": f"user:{other}", "level": "read"}
        )
        assert shared.status_code == 303 and shared.headers["location"] == f"{url}#sharing"
        listed = web.get(url).text
        assert "Niu" in listed and "可查看" in listed
        seen = niu.get(url)
        assert seen.status_code == 200 and 'data-testid="share-form"' not in seen.text  # reads only
        [share] = web.get(f"/api/v1/forms/lead/records/{record_id}/shares").json()["items"]
        taken = web.post(f"{url}/shares/{share['id']}/delete", data={"csrf_token": csrf})
        assert taken.status_code == 303
        assert niu.get(url).status_code == 404
        assert "仅角色权限可见的人" in web.get(url).text


def test_an_administrator_renames_and_removes_a_role_on_its_page(
    web: TestClient, workspace: Workspace
) -> None:
    csrf = log_in(web, "admin@acme.test")
    with workspace.transaction() as conn:
        manage.create_role(conn, Actor.system(), "finance", "财务")
    page_ = web.get("/admin/roles/finance")
    assert 'value="财务"' in page_.text and 'data-testid="delete-role"' in page_.text
    assert 'data-testid="delete-role"' not in web.get("/admin/roles/member").text
    refused = web.post("/admin/roles/finance/rename", data={"csrf_token": csrf, "label": ""})
    assert refused.status_code == 422 and "名称为 1 到 200 个字符" in refused.text
    saved = web.post("/admin/roles/finance/rename", data={"csrf_token": csrf, "label": "财务部"})
    assert saved.status_code == 200 and "角色已保存" in saved.text
    preset = web.post("/admin/roles/member/delete", data={"csrf_token": csrf})
    assert preset.status_code == 409 and "预置角色「成员 Member」不能删除" in preset.text, (
        preset.text
    )
    gone = web.post("/admin/roles/finance/delete", data={"csrf_token": csrf})
    assert gone.status_code == 303 and gone.headers["location"] == "/admin/roles"
    assert "财务部" not in web.get("/admin/roles").text


def test_the_jobs_page_names_job_kinds_and_states_in_the_readers_language(
    web: TestClient, workspace: Workspace
) -> None:
    from meridian.jobs import queue

    with workspace.transaction() as conn:
        queue.enqueue(conn, "rules.run", {"rule_id": 1, "record_id": 1})
        queue.enqueue(conn, "example.plugin_kind", {})
    csrf = log_in(web, "admin@acme.test")
    shown = {}
    for locale in ("zh-CN", "en"):
        web.post("/preferences/language", data={"csrf_token": csrf, "locale": locale})
        page = web.get("/admin/jobs?state=ready")
        assert page.status_code == 200, page.text
        shown[locale] = page.text
    assert ">运行规则<" in shown["zh-CN"] and ">等待中<" in shown["zh-CN"]
    assert ">Run a rule<" in shown["en"] and ">waiting<" in shown["en"]
    for text in shown.values():
        assert ">rules.run<" not in text  # the code stays only as the cell's title
        assert ">example.plugin_kind<" in text  # a plugin's kind by its name
