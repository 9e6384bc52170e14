"""Whom records may be handed to: the people inside the actor's update scope, found by
pinyin; a transfer to anyone else is refused and changes nothing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from meridian.access import manage, organisation
from meridian.access.actors import load_actor
from meridian.access.tokens import create_token
from meridian.app import create_app
from meridian.core.actor import Actor
from meridian.db.tables import users
from meridian.errors import PermissionDenied, ValidationFailed
from meridian.http.deps import Workspace
from meridian.records import ownership, service
from meridian.records.assignees import assignable_users
from meridian.schema.catalog import get_form
from meridian.settings import Settings
from tests.forms import install_forms, lead_form

PASSWORD = "hand-over-4-fun"
PEOPLE = {  # email: (name, department)
    "zhang@idc.test": ("张伟", "华东销售"),
    "zhao@idc.test": ("赵敏", "上海组"),
    "li@idc.test": ("李娜", "华南销售"),
    "wu@idc.test": ("吴磊", "华东销售"),
}


def _org(workspace: Workspace) -> dict[str, int]:
    system = Actor.system()
    ids = {}
    with workspace.transaction() as conn:
        install_forms(conn, lead_form({"key": "name", "label": "客户名称", "type": "text"}))
        east = organisation.create_department(conn=conn, name="华东销售")
        organisation.create_department(conn=conn, name="上海组", parent_id=east)
        organisation.create_department(conn=conn, name="华南销售")
        for email, (name, department) in PEOPLE.items():
            ids[name] = manage.add_user(
                conn,
                system,
                email=email,
                name=name,
                password=PASSWORD,
                passwords=workspace.passwords,
                roles=["member"],
                department=department,
                must_change_password=False,
            )["id"]
        conn.execute(sa.update(users).where(users.c.id == ids["吴磊"]).values(is_active=False))
    return ids


def _rights(workspace: Workspace, update: str) -> None:
    with workspace.transaction() as conn:
        manage.set_form_permissions(
            conn,
            Actor.system(),
            "member",
            get_form(conn, "lead"),
            {"create": True, "read": update, "update": update},
        )


def _names(workspace: Workspace, actor: Actor, search: str = "") -> list[str]:
    with workspace.read() as conn:
        found = assignable_users(conn=conn, actor=actor, form=get_form(conn, "lead"), search=search)
    return [user["name"] for user in found]


@pytest.mark.parametrize(
    ("update", "expected"),
    [
        ("own", ["张伟"]),
        ("department", ["张伟"]),
        ("subtree", ["张伟", "赵敏"]),
        ("all", ["李娜", "张伟", "赵敏"]),
    ],
)
def test_a_member_hands_records_only_to_people_inside_their_update_scope(
    workspace: Workspace, update: str, expected: list[str]
) -> None:
    ids = _org(workspace)
    _rights(workspace, update)
    with workspace.read() as conn:
        zhang = load_actor(conn, ids["张伟"])
    assert sorted(_names(workspace, zhang)) == sorted(expected)  # never 吴磊: switched off


def test_the_picker_finds_people_by_pinyin_and_email(workspace: Workspace) -> None:
    _org(workspace)
    admin = Actor.system()
    assert _names(workspace, admin, "zw") == ["张伟"]
    assert _names(workspace, admin, "zhaomin") == ["赵敏"]
    assert _names(workspace, admin, "li@") == ["李娜"]
    assert _names(workspace, admin, "李") == ["李娜"]
    assert _names(workspace, admin, "nobody") == []


def test_a_transfer_to_someone_outside_the_scope_is_refused_and_changes_nothing(
    workspace: Workspace,
) -> None:
    ids = _org(workspace)
    _rights(workspace, "subtree")
    with workspace.transaction() as conn:
        zhang = load_actor(conn, ids["张伟"])
        record = service.create_record(
            conn=conn, actor=zhang, form=get_form(conn, "lead"), values={"name": "华为云"}
        )
    with workspace.transaction() as conn, pytest.raises(PermissionDenied) as refused:
        ownership.transfer_owner(
            conn=conn,
            actor=zhang,
            form=get_form(conn, "lead"),
            record_ids=[record["id"]],
            owner_id=ids["李娜"],
        )
    assert refused.value.extra["field"] == "owner_id"
    with workspace.transaction() as conn:
        moved = ownership.transfer_owner(
            conn=conn,
            actor=zhang,
            form=get_form(conn, "lead"),
            record_ids=[record["id"]],
            owner_id=ids["赵敏"],
        )
        owner = conn.scalar(sa.text("SELECT owner_id FROM data_lead"))
    assert (moved, owner) == (1, ids["赵敏"])


def test_a_plain_write_sets_owner_id_only_to_people_the_picker_offers(
    workspace: Workspace,
) -> None:
    """Creating or updating a record with ``owner_id`` (the API's POST/PATCH, a page's form)
    is held to the same people as the owner picker: outside them a 422 naming the field and
    the value, and nothing written."""
    ids = _org(workspace)
    _rights(workspace, "subtree")
    with workspace.transaction() as conn:
        zhang = load_actor(conn, ids["张伟"])
        record = service.create_record(
            conn=conn,
            actor=zhang,
            form=get_form(conn, "lead"),
            values={"name": "华为云", "owner_id": ids["赵敏"]},
        )
    for values in ({"name": "阿里云", "owner_id": ids["李娜"]}, None):
        with workspace.transaction() as conn, pytest.raises(ValidationFailed) as refused:
            form = get_form(conn, "lead")
            if values is None:
                service.update_record(
                    conn=conn,
                    actor=zhang,
                    form=form,
                    record_id=record["id"],
                    values={"owner_id": ids["李娜"]},
                )
            else:
                service.create_record(conn=conn, actor=zhang, form=form, values=values)
        (error,) = refused.value.errors
        assert (error.field, error.code, error.value) == (
            "owner_id",
            "owner_out_of_scope",
            ids["李娜"],
        )
    with workspace.read() as conn:
        rows = conn.execute(sa.text("SELECT owner_id FROM data_lead")).all()
    assert [row.owner_id for row in rows] == [ids["赵敏"]]


def _api_as(settings: Settings, workspace: Workspace, user_id: int, locale: str) -> TestClient:
    with workspace.transaction() as conn:
        token = create_token(conn=conn, user_id=user_id, name="tests")
    return TestClient(
        create_app(settings, workspace=workspace),
        headers={"Authorization": f"Bearer {token}", "Accept-Language": locale},
    )


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_the_api_refuses_an_owner_outside_the_picker_single_and_bulk(
    settings: Settings, workspace: Workspace, locale: str
) -> None:
    """POST, PATCH, bulk create and bulk update with ``owner_id`` outside the people the
    picker offers: 422 ``owner_out_of_scope`` naming the field and the value, in the caller's
    language, and nothing written — while someone inside is taken."""
    ids = _org(workspace)
    _rights(workspace, "subtree")
    base = "/api/v1/forms/lead/records"
    with _api_as(settings, workspace, ids["张伟"], locale) as api:
        made = api.post(base, json={"name": "华为云", "owner_id": ids["赵敏"]})
        assert made.status_code == 201, made.text
        record = made.json()["id"]
        outside = ids["李娜"]
        attempts = {
            "create": api.post(base, json={"name": "阿里云", "owner_id": outside}),
            "update": api.patch(f"{base}/{record}", json={"owner_id": outside}),
            "bulk create": api.post(
                f"{base}/bulk",
                json={"items": [{"name": "腾讯云"}, {"name": "百度云", "owner_id": outside}]},
            ),
            "bulk update": api.post(
                f"{base}/update", json={"ids": [record], "values": {"owner_id": outside}}
            ),
        }
        for how, refused in attempts.items():
            assert refused.status_code == 422, (how, refused.text)
            problem = refused.json()
            [error] = [e for e in problem["errors"] if e["code"] == "owner_out_of_scope"]
            assert error["field"].endswith("owner_id") and error["value"] == outside, how
            said = "不能把记录转给用户" if locale == "zh-CN" else "you may not give records"
            assert said in error["message"], (how, error)
            assert refused.headers["content-language"] == locale
    with workspace.read() as conn:
        rows = conn.execute(sa.text("SELECT name, owner_id FROM data_lead")).all()
    assert [(row.name, row.owner_id) for row in rows] == [("华为云", ids["赵敏"])]
