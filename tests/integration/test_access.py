"""Who sees and changes what: roles × operations × row scopes × field levels, over the API.

The organisation: 总部 with 华东销售 (and its 上海组 below) and 华南销售. Alice and Bob are
members in 华东销售, Dave a member in 上海组, Carol a member in 华南销售, Mike manages 华东销售
(subtree), Rita is read-only. Each owns one customer and one deal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from meridian.access import manage, organisation
from meridian.access.tokens import create_token
from meridian.core.actor import Actor
from meridian.db.tables import departments
from meridian.errors import ValidationFailed
from meridian.http.deps import Workspace
from meridian.settings import Settings
from tests.conftest import KeptApp, KeptDatabase, kept_fixtures, with_app

PEOPLE = {
    "alice": ("member", "华东销售"),
    "bob": ("member", "华东销售"),
    "dave": ("member", "总部/华东销售/上海组"),
    "carol": ("member", "华南销售"),
    "mike": ("manager", "华东销售"),
    "rita": ("read_only", "总部"),
}


def build_organisation(workspace: Workspace, client: TestClient) -> dict[str, int]:
    """The departments, the people and their customers and deals, made once per dialect and
    test process and put back before each test (the tests change roles, owners, shares and
    departments); the people's ids by name."""
    assert client.post("/api/v1/apps", json={"key": "sales", "label": "销售"}).status_code == 201
    for form in (
        {
            "key": "customer",
            "label": "客户",
            "title_field": "name",
            "fields": [
                {"key": "name", "label": "客户名称", "type": "text", "required": True},
                {"key": "level", "label": "级别", "type": "text"},
            ],
        },
        {
            "key": "deal",
            "label": "商机",
            "title_field": "name",
            "fields": [
                {"key": "name", "label": "名称", "type": "text", "required": True},
                {"key": "amount", "label": "金额", "type": "money"},
                {"key": "stage", "label": "阶段", "type": "text"},
                {"key": "secret", "label": "底价说明", "type": "text"},
                {"key": "customer", "label": "客户", "type": "link", "target": "customer"},
            ],
        },
    ):
        assert client.post("/api/v1/apps/sales/forms", json=form).status_code == 201
    system = Actor.system()
    ids: dict[str, int] = {}
    with workspace.transaction() as conn:
        hq = organisation.create_department(conn=conn, name="总部")
        east = organisation.create_department(conn=conn, name="华东销售", parent_id=hq)
        organisation.create_department(conn=conn, name="上海组", parent_id=east)
        organisation.create_department(conn=conn, name="华南销售", parent_id=hq)
        for person, (role, department) in PEOPLE.items():
            user = manage.add_user(
                conn,
                system,
                email=f"{person}@acme.test",
                name=person,
                password="Passw0rd-long",
                passwords=workspace.passwords,
                roles=[role],
                department=department,
                must_change_password=False,
            )
            ids[person] = user["id"]
    for person, user_id in ids.items():
        customer = client.post(
            "/api/v1/forms/customer/records",
            json={"name": f"{person} 客户", "level": "A", "owner_id": user_id},
        ).json()
        deal = client.post(
            "/api/v1/forms/deal/records",
            json={
                "name": f"{person} 商机",
                "amount": "1000.00" if person in ("alice", "carol") else "50.00",
                "stage": "lead",
                "secret": f"{person} 机密底价",
                "customer": customer["id"],
                "owner_id": user_id,
            },
        )
        assert deal.status_code == 201, deal.text
    return ids


Kept = KeptDatabase[KeptApp[dict[str, int]]]


kept, workspace = kept_fixtures(with_app(build_organisation))


@pytest.fixture
def settings(workspace: Workspace) -> Settings:
    return workspace.settings


@pytest.fixture
def admin(kept: Kept, workspace: Workspace) -> Actor:
    return kept.built.admin


@pytest.fixture
def client(kept: Kept, workspace: Workspace) -> Iterator[TestClient]:
    with kept.built.client() as client:
        yield client


@pytest.fixture
def org(kept: Kept, workspace: Workspace) -> dict[str, int]:
    return kept.built.built


@pytest.fixture
def as_user(
    kept: Kept, workspace: Workspace, org: dict[str, int]
) -> Iterator[Callable[[str], TestClient]]:
    yield from people_clients(kept.built.app, workspace, org)


def people_clients(
    app: FastAPI, workspace: Workspace, org: dict[str, int]
) -> Iterator[Callable[[str], TestClient]]:
    """``as_user``: a client of ``app`` for a person of ``org`` by name, with a token of
    their own (scoped as asked); closed after the test."""
    clients: list[TestClient] = []

    def make(person: str, **scope: Any) -> TestClient:
        with workspace.transaction() as conn:
            token = create_token(conn=conn, user_id=org[person], name="t", **scope)
        client = TestClient(app, headers={"Authorization": f"Bearer {token}"})
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def names(client: TestClient, form: str = "deal", **params: Any) -> set[str]:
    response = client.get(f"/api/v1/forms/{form}/records", params=params)
    assert response.status_code == 200, response.text
    return {item["name"].split()[0] for item in response.json()["items"]}


@pytest.mark.parametrize(
    ("person", "visible"),
    [
        ("alice", {"alice", "bob", "mike"}),  # department: 华东销售, not 上海组 below it
        ("dave", {"dave"}),
        ("carol", {"carol"}),
        ("mike", {"alice", "bob", "mike", "dave"}),  # manager: department and below
        ("rita", set(PEOPLE)),  # read-only: all
    ],
)
def test_each_role_reads_exactly_its_row_scope(
    as_user: Callable[..., TestClient], person: str, visible: set[str]
) -> None:
    assert names(as_user(person)) == visible
    assert names(as_user(person), form="customer") == visible


def test_a_record_out_of_scope_is_not_found_not_forbidden(
    as_user: Callable[..., TestClient], client: TestClient
) -> None:
    carol_deal = next(
        d for d in client.get("/api/v1/forms/deal/records").json()["items"] if "carol" in d["name"]
    )
    alice = as_user("alice")
    url = f"/api/v1/forms/deal/records/{carol_deal['id']}"
    for response in (
        alice.get(url),
        alice.patch(url, json={"stage": "won"}),
        alice.delete(url),
        alice.get(f"{url}/history"),
    ):
        assert response.status_code == 404, response.text
    assert alice.get("/api/v1/forms/deal/records/999999").status_code == 404
    assert client.get(url).json()["stage"] == "lead"


def test_members_change_their_own_records_and_only_read_their_colleagues(
    as_user: Callable[..., TestClient], client: TestClient
) -> None:
    alice = as_user("alice")
    deals = {
        d["name"].split()[0]: d for d in alice.get("/api/v1/forms/deal/records").json()["items"]
    }
    own = f"/api/v1/forms/deal/records/{deals['alice']['id']}"
    colleague = f"/api/v1/forms/deal/records/{deals['bob']['id']}"
    assert alice.patch(own, json={"stage": "won"}).status_code == 200
    refused = alice.patch(colleague, json={"stage": "won"})
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert alice.delete(colleague).status_code == 403
    assert client.get(colleague).json()["stage"] == "lead"
    created = alice.post("/api/v1/forms/deal/records", json={"name": "alice 新商机"})
    assert created.status_code == 201 and created.json()["owner_id"] == deals["alice"]["owner_id"]


def test_read_only_users_change_nothing(as_user: Callable[..., TestClient]) -> None:
    rita = as_user("rita")
    some = rita.get("/api/v1/forms/deal/records").json()["items"][0]
    assert rita.post("/api/v1/forms/deal/records", json={"name": "x"}).status_code == 403
    assert (
        rita.patch(f"/api/v1/forms/deal/records/{some['id']}", json={"stage": "x"}).status_code
        == 403
    )
    assert rita.delete(f"/api/v1/forms/deal/records/{some['id']}").status_code == 403


HIDDEN = {
    "create": True,
    "read": "department",
    "update": "own",
    "delete": False,
    "fields": {"amount": "hidden", "secret": "hidden", "stage": "read_only"},
}


@pytest.fixture
def hidden_amount(client: TestClient, org: dict[str, int]) -> None:
    response = client.put("/api/v1/roles/member/forms/deal", json=HIDDEN)
    assert response.status_code == 200, response.text
    assert response.json()["fields"] == HIDDEN["fields"]


@pytest.mark.usefixtures("hidden_amount")
def test_a_hidden_field_is_absent_everywhere_and_cannot_be_used_as_an_oracle(
    as_user: Callable[..., TestClient], client: TestClient
) -> None:
    alice = as_user("alice")
    items = alice.get("/api/v1/forms/deal/records").json()["items"]
    assert items and all("amount" not in i and "secret" not in i for i in items)
    one = alice.get(f"/api/v1/forms/deal/records/{items[0]['id']}").json()
    assert "amount" not in one and "stage" in one
    attempts = [
        {"filter": '{"field": "amount", "op": "gt", "value": "100"}'},
        {"sort": "-amount"},
        {"expr": "amount > 100"},
        {"expr": "{金额} > 100"},
    ]
    for params in attempts:
        response = alice.get("/api/v1/forms/deal/records", params=params)
        assert response.status_code == 422, (params, response.text)
        assert "unknown" in response.text
    # the search text holds hidden values: searching for them finds nothing
    assert names(alice, q="机密") == set()
    assert names(alice, q="alice") == {"alice"}
    assert names(client, q="机密") == set(PEOPLE)
    history = alice.get(f"/api/v1/forms/deal/records/{items[0]['id']}/history").json()["items"]
    assert all("amount" not in entry["changes"] for entry in history)
    # nor is it in the form's definition; the administrator still sees it all
    definition = alice.get("/api/v1/forms/deal").json()
    assert {f["key"] for f in definition["fields"]} == {"name", "stage", "customer"}
    assert "amount" in client.get(f"/api/v1/forms/deal/records/{items[0]['id']}").json()
    assert len(client.get("/api/v1/forms/deal").json()["fields"]) == 5


@pytest.mark.usefixtures("hidden_amount")
def test_a_hidden_fields_definition_is_absent_from_the_form_change_log(
    as_user: Callable[..., TestClient], client: TestClient
) -> None:
    tier = {
        "key": "tier",
        "label": "折扣档",
        "type": "select",
        "help": "最低折扣，勿外传",
        "options": [{"value": "floor", "label": "底线七折"}],
    }
    assert client.post("/api/v1/forms/deal/fields", json=tier).status_code == 201
    rules = {**HIDDEN, "fields": {**HIDDEN["fields"], "tier": "hidden"}}
    assert client.put("/api/v1/roles/member/forms/deal", json=rules).status_code == 200
    changed = client.patch("/api/v1/forms/deal/fields/secret", json={"help": "底价只给经理看"})
    assert changed.status_code == 200
    assert (
        client.patch("/api/v1/forms/deal/fields/stage", json={"help": "销售阶段"}).status_code
        == 200
    )

    seen = as_user("alice").get("/api/v1/forms/deal/changes")
    assert seen.status_code == 200
    for secret in ("最低折扣", "底线七折", "底价只给经理看", '"tier"', '"secret"', '"amount"'):
        assert secret not in seen.text
    entries = seen.json()["items"]
    assert [e["operation"] for e in entries] == ["update_field", "create_form"]
    assert entries[0]["after"]["help"] == "销售阶段"
    created = entries[1]["after"]
    assert [f["key"] for f in created["fields"]] == ["name", "stage", "customer"]

    everything = client.get("/api/v1/forms/deal/changes").json()["items"]
    assert [e["operation"] for e in everything] == [
        "update_field",
        "update_field",
        "add_field",
        "create_form",
    ]
    assert "底线七折" in str(everything) and "底价只给经理看" in str(everything)


@pytest.mark.usefixtures("hidden_amount")
def test_hidden_and_read_only_fields_are_refused_on_write(
    as_user: Callable[..., TestClient], client: TestClient
) -> None:
    alice = as_user("alice")
    own = next(
        d for d in alice.get("/api/v1/forms/deal/records").json()["items"] if "alice" in d["name"]
    )
    url = f"/api/v1/forms/deal/records/{own['id']}"
    response = alice.patch(url, json={"amount": "1.00", "stage": "won", "name": "alice 改名"})
    assert response.status_code == 422
    errors = {e["field"]: e["code"] for e in response.json()["errors"]}
    assert errors == {"amount": "unknown_field", "stage": "read_only"}
    assert client.get(url).json()["name"] == "alice 商机"
    created = alice.post("/api/v1/forms/deal/records", json={"name": "y", "secret": "z"})
    assert created.status_code == 422
    assert alice.patch(url, json={"name": "alice 改名"}).status_code == 200


def test_a_permission_document_is_checked_whole(client: TestClient, org: dict[str, int]) -> None:
    response = client.put(
        "/api/v1/roles/member/forms/deal",
        json={
            "read": "everyone",
            "create": "yes",
            "delete_all": True,
            "update": {"expr": "amout > 1"},
            "fields": {"nope": "hidden", "amount": "invisible", "owner_id": "hidden"},
        },
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {
        "read",
        "create",
        "delete_all",
        "update.expr",
        "fields.nope",
        "fields.amount",
        "fields.owner_id",
    }
    assert client.get("/api/v1/roles/member/forms/deal").json()["read"] == "department"
    assert client.put("/api/v1/roles/nobody/forms/deal", json={}).status_code == 404


def test_a_condition_as_row_scope_and_custom_roles(
    client: TestClient,
    as_user: Callable[..., TestClient],
    workspace: Workspace,
    org: dict[str, int],
) -> None:
    assert (
        client.post("/api/v1/roles", json={"key": "big_deals", "label": "大单"}).status_code == 201
    )
    assert client.post("/api/v1/roles", json={"key": "big_deals", "label": "x"}).status_code == 409
    rules = {"read": {"expr": "amount >= 1000"}, "fields": {"secret": "hidden"}}
    assert client.put("/api/v1/roles/big_deals/forms/deal", json=rules).status_code == 200
    with workspace.transaction() as conn:
        organisation.set_user_roles(conn, org["rita"], ["big_deals"])
    rita = as_user("rita")
    assert names(rita) == {"alice", "carol"}
    assert rita.get("/api/v1/forms/customer/records").status_code == 403  # no document: no access


def test_sharing_a_record_lets_one_more_person_read_or_edit_it(
    as_user: Callable[..., TestClient], org: dict[str, int]
) -> None:
    carol, alice = as_user("carol"), as_user("alice")
    deal = carol.get("/api/v1/forms/deal/records").json()["items"][0]
    url = f"/api/v1/forms/deal/records/{deal['id']}"
    assert alice.get(url).status_code == 404
    assert (
        alice.post(f"{url}/shares", json={"level": "read", "user_id": org["alice"]}).status_code
        == 404
    )
    shared = carol.post(f"{url}/shares", json={"level": "read", "user_id": org["alice"]})
    assert shared.status_code == 201, shared.text
    assert alice.get(url).status_code == 200
    assert alice.patch(url, json={"stage": "won"}).status_code == 403
    assert (
        carol.post(f"{url}/shares", json={"level": "edit", "user_id": org["alice"]}).status_code
        == 201
    )
    assert alice.patch(url, json={"stage": "won"}).status_code == 200
    bad = carol.post(f"{url}/shares", json={"level": "own", "user_id": 999999})
    assert bad.status_code == 422 and len(bad.json()["errors"]) == 2


def test_owners_are_transferred_in_bulk_with_history(
    client: TestClient, as_user: Callable[..., TestClient], org: dict[str, int]
) -> None:
    deals = client.get("/api/v1/forms/deal/records").json()["items"]
    ids = [d["id"] for d in deals if d["name"].split()[0] in ("alice", "bob")]
    response = client.post(
        "/api/v1/forms/deal/records/transfer", json={"ids": ids, "owner_id": org["carol"]}
    )
    assert response.json() == {"transferred": 2}
    assert names(as_user("carol")) == {"alice", "bob", "carol"}
    history = client.get(f"/api/v1/forms/deal/records/{ids[0]}/history").json()["items"]
    assert history[-1]["changes"]["owner_id"][1] == org["carol"]
    alice = as_user("alice")
    refused = alice.post(
        "/api/v1/forms/deal/records/transfer", json={"ids": ids, "owner_id": org["alice"]}
    )
    assert refused.status_code == 404  # they are Carol's now: out of Alice's sight
    missing = client.post(
        "/api/v1/forms/deal/records/transfer",
        json={"ids": [ids[0], 999999], "owner_id": org["bob"]},
    )
    assert missing.status_code == 404
    assert names(as_user("carol")) == {"alice", "bob", "carol"}


def test_tokens_can_be_read_only_or_limited_to_one_form(
    as_user: Callable[..., TestClient],
) -> None:
    reader = as_user("alice", scope="read")
    assert names(reader) == {"alice", "bob", "mike"}
    assert reader.post("/api/v1/forms/deal/records", json={"name": "x"}).status_code == 403
    one_form = as_user("alice", form_key="customer")
    assert names(one_form, form="customer") == {"alice", "bob", "mike"}
    assert one_form.get("/api/v1/forms/deal/records").status_code == 403


def test_injection_through_filters_sorts_keys_and_search_is_refused_or_harmless(
    as_user: Callable[..., TestClient], client: TestClient
) -> None:
    alice = as_user("alice")
    bad = [
        {"filter": '{"field": "name; DROP TABLE data_deal; --", "op": "eq", "value": "x"}'},
        {"filter": '{"field": "name", "op": "eq) OR 1=1 --", "value": "x"}'},
        {"sort": "name; DROP TABLE data_deal"},
        {"sort": "owner_id desc, (SELECT 1)"},
        {"expr": 'name = "x" or 1 = 1; DROP TABLE data_deal'},
        {"expand": "customer; DROP TABLE data_deal"},
    ]
    for params in bad:
        assert alice.get("/api/v1/forms/deal/records", params=params).status_code == 422, params
    harmless = [
        {"q": "'; DROP TABLE data_deal; --"},
        {"q": "%' OR '1'='1"},
        {"filter": '{"field": "name", "op": "eq", "value": "x\' OR \'1\'=\'1"}'},
        {"expr": 'name = "x\\" or 1=1 --"'},
    ]
    for params in harmless:
        assert names(alice, **params) == set(), params
    assert names(alice) == {"alice", "bob", "mike"}
    assert len(client.get("/api/v1/forms/deal/records").json()["items"]) == len(PEOPLE)


def test_the_dossier_needs_the_export_permission(
    as_user: Callable[..., TestClient], client: TestClient
) -> None:
    alice, mike = as_user("alice"), as_user("mike")
    own = next(
        d for d in alice.get("/api/v1/forms/deal/records").json()["items"] if "alice" in d["name"]
    )
    url = f"/api/v1/forms/deal/records/{own['id']}/dossier"
    assert alice.get(url).status_code == 403  # members may not export by default
    assert mike.get(url).status_code == 200  # managers export their subtree
    carol_deal = next(
        d for d in client.get("/api/v1/forms/deal/records").json()["items"] if "carol" in d["name"]
    )
    assert mike.get(f"/api/v1/forms/deal/records/{carol_deal['id']}/dossier").status_code == 404


def test_reading_a_sensitive_field_is_audited_unless_it_is_hidden(
    client: TestClient, as_user: Callable[..., TestClient]
) -> None:
    changed = client.patch("/api/v1/forms/deal/fields/secret", json={"sensitive": True})
    assert changed.status_code == 200, changed.text
    alice = as_user("alice")
    deal = alice.get("/api/v1/forms/deal/records", params={"q": "alice"}).json()["items"][0]
    alice.get(f"/api/v1/forms/deal/records/{deal['id']}")
    reads = client.get("/api/v1/audit", params={"action": "sensitive_read"}).json()["items"]
    assert [(e["object_id"], e["detail"]["records"]) for e in reads] == [
        (str(deal["id"]), [deal["id"]]),
        (str(deal["id"]), [deal["id"]]),
    ]
    assert client.put("/api/v1/roles/member/forms/deal", json=HIDDEN).status_code == 200
    alice.get(f"/api/v1/forms/deal/records/{deal['id']}")
    assert (
        len(client.get("/api/v1/audit", params={"action": "sensitive_read"}).json()["items"]) == 2
    )


def test_a_first_page_built_for_one_who_reads_everything_is_not_served_to_anyone_else(
    as_user: Callable[..., TestClient], client: TestClient, org: dict[str, int]
) -> None:
    """The statement of a first page is kept for actors who read every row; the same query
    from someone with a narrower scope, or with a field hidden, must not get it."""
    query = {
        "sort": "-name",
        "limit": 50,
        "filter": '{"field": "stage", "op": "eq", "value": "lead"}',
    }
    assert names(client, **query) == set(PEOPLE)
    assert names(as_user("rita"), **query) == set(PEOPLE)
    assert names(as_user("carol"), **query) == {"carol"}
    assert names(as_user("alice"), **query) == {"alice", "bob", "mike"}
    everything = client.get("/api/v1/forms/deal/records", params=query).json()["items"]
    assert all("amount" in item for item in everything)
    response = client.put(
        "/api/v1/roles/read_only/forms/deal", json={"read": "all", "fields": {"amount": "hidden"}}
    )
    assert response.status_code == 200, response.text
    reply = as_user("rita").get("/api/v1/forms/deal/records", params=query)
    assert reply.status_code == 200, reply.text
    hidden = reply.json()["items"]
    assert len(hidden) == len(PEOPLE) and not any("amount" in item for item in hidden)


def test_an_administrator_changes_a_users_roles_departments_and_manager(
    client: TestClient,
    as_user: Callable[..., TestClient],
    org: dict[str, int],
    workspace: Workspace,
) -> None:
    carol = as_user("carol")
    assert names(carol) == {"carol"}
    with workspace.read() as conn:
        east = organisation.department_id_by_name(conn, "华东销售")
    response = client.patch(
        f"/api/v1/users/{org['carol']}",
        json={"roles": ["manager"], "department": east, "manager_id": org["mike"], "name": "Carol"},
    )
    assert response.status_code == 200, response.text
    changed = response.json()
    assert (
        changed["name"],
        changed["roles"],
        changed["department_ids"],
        changed["manager_id"],
    ) == (
        "Carol",
        ["manager"],
        [east],
        org["mike"],
    )
    assert names(carol) == {"alice", "bob", "mike", "dave", "carol"}  # now a manager in 华东
    entry = client.get("/api/v1/audit", params={"action": "user_updated"}).json()["items"][0]
    assert entry["detail"]["before"]["roles"] == ["member"]


def test_a_switched_off_user_is_locked_out_at_once(
    client: TestClient, as_user: Callable[..., TestClient], org: dict[str, int]
) -> None:
    dave = as_user("dave")
    session = TestClient(client.app)
    login = session.post(
        "/api/v1/auth/login", json={"email": "dave@acme.test", "password": "Passw0rd-long"}
    )
    assert login.status_code == 200, login.text
    assert dave.get("/api/v1/forms/deal/records").status_code == 200
    assert session.get("/api/v1/forms/deal/records").status_code == 200
    off = client.patch(f"/api/v1/users/{org['dave']}", json={"is_active": False})
    assert off.status_code == 200 and off.json()["is_active"] is False
    assert dave.get("/api/v1/forms/deal/records").status_code == 401
    assert session.get("/api/v1/forms/deal/records").status_code == 401
    again = session.post(
        "/api/v1/auth/login", json={"email": "dave@acme.test", "password": "Passw0rd-long"}
    )
    assert again.status_code == 401
    back = client.patch(f"/api/v1/users/{org['dave']}", json={"is_active": True})
    assert back.status_code == 200
    assert dave.get("/api/v1/forms/deal/records").status_code == 200
    session.close()


def test_bad_user_changes_are_named_together_and_change_nothing(
    client: TestClient,
    as_user: Callable[..., TestClient],
    org: dict[str, int],
    workspace: Workspace,
    admin: Actor,
) -> None:
    before = client.get("/api/v1/users").json()["items"]
    response = client.patch(
        f"/api/v1/users/{org['alice']}",
        json={
            "roles": ["member", "wizard"],
            "department": 999999,
            "manager_id": org["alice"],
            "is_active": "yes",
            "name": "",
            "email": "new@acme.test",
        },
    )
    assert response.status_code == 422, response.text
    assert {(e["field"], e["code"]) for e in response.json()["errors"]} == {
        ("roles", "unknown_role"),
        ("department", "unknown_department"),
        ("manager_id", "invalid_manager"),
        ("is_active", "invalid_flag"),
        ("name", "invalid_name"),
        ("email", "unknown_field"),
    }
    myself = client.patch(f"/api/v1/users/{admin.user_id}", json={"is_active": False})
    assert myself.status_code == 422 and myself.json()["errors"][0]["code"] == "self"
    demoted = client.patch(f"/api/v1/users/{admin.user_id}", json={"roles": ["member"]})
    assert demoted.status_code == 422
    with workspace.transaction() as conn, pytest.raises(ValidationFailed) as refused:
        manage.update_user(conn, Actor.system(), admin.user_id or 0, {"is_active": False})
    assert refused.value.errors[0].code == "last_administrator"
    assert client.patch("/api/v1/users/999999", json={"name": "x"}).status_code == 404
    assert client.get("/api/v1/users").json()["items"] == before
    member = as_user("alice").patch(f"/api/v1/users/{org['bob']}", json={"name": "x"})
    assert member.status_code == 403


def department_ids(workspace: Workspace, *names: str) -> list[int]:
    with workspace.read() as conn:
        return [organisation.department_id_by_name(conn, name) for name in names]


def department_tree(client: TestClient) -> dict[str, tuple[str | None, int | None]]:
    """Each department's name → (its parent's name, its manager)."""
    items = client.get("/api/v1/departments").json()["items"]
    by_id = {d["id"]: d["name"] for d in items}
    return {d["name"]: (by_id.get(d["parent_id"]), d["manager_id"]) for d in items}


def test_moving_a_department_changes_what_its_old_and_new_managers_see(
    client: TestClient,
    as_user: Callable[..., TestClient],
    org: dict[str, int],
    workspace: Workspace,
) -> None:
    mike = as_user("mike")
    assert "dave" in names(mike)
    shanghai, south = department_ids(workspace, "上海组", "华南销售")
    moved = client.patch(
        f"/api/v1/departments/{shanghai}",
        json={"parent_id": south, "name": " 深圳组 ", "manager_id": org["carol"]},
    )
    assert moved.status_code == 200, moved.text
    assert department_tree(client)["深圳组"] == ("华南销售", org["carol"])
    assert names(mike) == {"alice", "bob", "mike"}  # 上海组 is no longer below 华东销售
    assert names(as_user("dave")) == {"dave"}  # members stay in the department
    entry = client.get("/api/v1/audit", params={"action": "department_updated"}).json()["items"][0]
    assert entry["detail"]["before"]["name"] == "上海组"
    assert entry["detail"]["after"] == {
        "id": shanghai,
        "name": "深圳组",
        "parent_id": south,
        "manager_id": org["carol"],
    }
    top = client.patch(f"/api/v1/departments/{shanghai}", json={"parent_id": None})
    assert top.status_code == 200 and department_tree(client)["深圳组"][0] is None
    # A name from before "/" was refused does not block changing anything else.
    with workspace.transaction() as conn:
        conn.execute(departments.update().where(departments.c.id == south).values(name="华南/港澳"))
    manager = client.patch(f"/api/v1/departments/{south}", json={"manager_id": org["mike"]})
    assert manager.status_code == 200, manager.text
    audited = client.get("/api/v1/audit", params={"action": "department_updated"}).json()["items"]
    same = client.patch(f"/api/v1/departments/{south}", json={"manager_id": org["mike"]})
    assert same.status_code == 200  # nothing changed: nothing written, nothing audited
    again = client.get("/api/v1/audit", params={"action": "department_updated"}).json()["items"]
    assert len(again) == len(audited)


def test_bad_department_changes_are_named_together_and_change_nothing(
    client: TestClient,
    as_user: Callable[..., TestClient],
    org: dict[str, int],
    workspace: Workspace,
) -> None:
    hq, shanghai, south = department_ids(workspace, "总部", "上海组", "华南销售")
    before = department_tree(client)
    response = client.patch(
        f"/api/v1/departments/{hq}",
        json={"name": "a/b", "parent_id": shanghai, "manager_id": 999999, "colour": "red"},
    )
    assert response.status_code == 422, response.text
    errors = {e["field"]: (e["code"], e["value"]) for e in response.json()["errors"]}
    assert errors == {
        "name": ("invalid_name", "a/b"),
        "parent_id": ("cycle", shanghai),  # 上海组 is below 总部
        "manager_id": ("unknown_user", 999999),
        "colour": ("unknown_field", "red"),
    }
    itself = client.patch(f"/api/v1/departments/{hq}", json={"parent_id": hq})
    assert itself.status_code == 422 and itself.json()["errors"][0]["code"] == "cycle"
    twin = client.patch(f"/api/v1/departments/{south}", json={"name": "华东销售"})
    assert twin.status_code == 409 and "华东销售" in twin.json()["detail"]
    assert client.patch("/api/v1/departments/999999", json={"name": "x"}).status_code == 404
    assert (
        as_user("mike").patch(f"/api/v1/departments/{south}", json={"name": "x"}).status_code == 403
    )
    assert department_tree(client) == before


def test_only_an_empty_department_can_be_removed(
    client: TestClient,
    as_user: Callable[..., TestClient],
    org: dict[str, int],
    workspace: Workspace,
) -> None:
    east, south = department_ids(workspace, "华东销售", "华南销售")
    busy = client.delete(f"/api/v1/departments/{east}")
    assert busy.status_code == 409
    assert "1 sub-departments" in busy.json()["detail"] and "3 members" in busy.json()["detail"]
    empty = client.post("/api/v1/departments", json={"name": "西北销售"}).json()["id"]
    deal = client.get("/api/v1/forms/deal/records").json()["items"][0]["id"]
    shared = client.post(
        f"/api/v1/forms/deal/records/{deal}/shares", json={"level": "read", "department_id": empty}
    )
    assert shared.status_code == 201, shared.text
    held = client.delete(f"/api/v1/departments/{empty}")
    assert held.status_code == 409 and "1 shared records" in held.json()["detail"]
    share = shared.json()["id"]
    assert client.delete(f"/api/v1/forms/deal/records/{deal}/shares/{share}").status_code == 204
    assert as_user("mike").delete(f"/api/v1/departments/{empty}").status_code == 403
    assert client.delete(f"/api/v1/departments/{empty}").status_code == 204
    assert "西北销售" not in department_tree(client)
    assert client.delete(f"/api/v1/departments/{empty}").status_code == 404
    entry = client.get("/api/v1/audit", params={"action": "department_deleted"}).json()["items"][0]
    assert entry["detail"]["before"]["name"] == "西北销售"
    # Carol is 华南销售's only member: once she moves, it can go.
    assert (
        client.patch(f"/api/v1/users/{org['carol']}", json={"department": east}).status_code == 200
    )
    assert client.delete(f"/api/v1/departments/{south}").status_code == 204


def test_a_share_is_listed_on_its_record_and_taken_back_by_who_may_share_it(
    client: TestClient, as_user: Callable[..., TestClient], org: dict[str, int]
) -> None:
    carol, alice = as_user("carol"), as_user("alice")
    deal = next(
        item["id"]
        for item in carol.get("/api/v1/forms/deal/records").json()["items"]
        if item["name"].startswith("carol")
    )
    url = f"/api/v1/forms/deal/records/{deal}/shares"
    share = carol.post(url, json={"level": "read", "user_id": org["alice"]}).json()
    assert "carol" in names(alice)
    listed = carol.get(url)
    assert listed.status_code == 200
    assert listed.json()["items"] == [
        {
            "id": share["id"],
            "record_id": deal,
            "user_id": org["alice"],
            "department_id": None,
            "level": "read",
        }
    ]
    assert alice.get(url).status_code == 200  # she reads the record, so she sees its shares
    assert alice.delete(f"{url}/{share['id']}").status_code == 403  # but may not change it
    assert as_user("dave").get(url).status_code == 404  # nor leak it to who cannot read it
    assert carol.delete(f"{url}/999999").status_code == 404
    assert carol.delete(f"{url}/{share['id']}").status_code == 204
    assert "carol" not in names(alice)
    assert carol.get(url).json()["items"] == []
    entry = client.get("/api/v1/audit", params={"action": "record_unshared"}).json()["items"][0]
    assert entry["detail"] == {
        "id": share["id"],
        "record_id": deal,
        "user_id": org["alice"],
        "department_id": None,
        "level": "read",
    }


def test_the_user_list_describes_each_user_as_their_own_page_does(
    client: TestClient, org: dict[str, int], workspace: Workspace, admin: Actor
) -> None:
    south, shanghai = department_ids(workspace, "华南销售", "上海组")
    both = client.patch(
        f"/api/v1/users/{org['dave']}",
        json={"roles": ["member", "read_only"], "other_departments": [south, shanghai]},
    )
    assert both.status_code == 200, both.text
    assert both.json()["department_ids"] == [shanghai, south]  # main first, then the others
    listed = client.get("/api/v1/users").json()["items"]
    with workspace.read() as conn:
        assert listed == [manage.describe_user(conn, user["id"]) for user in listed]
    assert {u["id"] for u in listed} >= set(org.values())


def test_bulk_delete_touches_only_what_the_actor_may_delete_or_nothing(
    client: TestClient, as_user: Callable[..., TestClient], org: dict[str, int]
) -> None:
    deals = {
        item["name"].split()[0]: item["id"]
        for item in client.get("/api/v1/forms/deal/records").json()["items"]
    }
    alice = as_user("alice")
    url = "/api/v1/forms/deal/records/delete"
    unseen = alice.post(url, json={"ids": [deals["alice"], deals["carol"]]})
    assert unseen.status_code == 404 and str(deals["carol"]) in unseen.json()["detail"]
    refused = alice.post(url, json={"ids": [deals["alice"], deals["bob"]]})  # reads, may not delete
    assert refused.status_code == 403 and str(deals["bob"]) in refused.json()["detail"]
    assert names(alice) == {"alice", "bob", "mike"}
    assert as_user("rita").post(url, json={"ids": [deals["rita"]]}).status_code == 403
    done = alice.post(url, json={"ids": [deals["alice"]]})
    assert done.status_code == 200 and done.json() == {"deleted": 1}
    assert names(alice) == {"bob", "mike"}


def test_a_role_is_renamed_and_removed_once_nobody_holds_it(
    client: TestClient, as_user: Callable[..., TestClient], org: dict[str, int]
) -> None:
    assert client.post("/api/v1/roles", json={"key": "finance", "label": "财务"}).status_code == 201
    permit = client.put("/api/v1/roles/finance/forms/deal", json={"read": "all"})
    assert permit.status_code == 200, permit.text
    renamed = client.patch("/api/v1/roles/finance", json={"label": "财务部"})
    assert renamed.status_code == 200 and renamed.json()["label"] == "财务部"
    labels = {r["key"]: r["label"] for r in client.get("/api/v1/roles").json()["items"]}
    assert labels["finance"] == "财务部"
    assert client.patch("/api/v1/roles/finance", json={"label": " "}).status_code == 422
    assert client.patch("/api/v1/roles/nope", json={"label": "x"}).status_code == 404
    assert as_user("mike").patch("/api/v1/roles/finance", json={"label": "x"}).status_code == 403
    assert (
        client.patch(f"/api/v1/users/{org['rita']}", json={"roles": ["finance"]}).status_code == 200
    )
    assert len(names(as_user("rita"))) == len(PEOPLE)  # finance reads every deal
    held = client.delete("/api/v1/roles/finance")
    assert held.status_code == 409 and "held by 1 users" in held.json()["detail"]
    preset = client.delete("/api/v1/roles/member")
    assert preset.status_code == 409 and "preset" in preset.json()["detail"]
    back = client.patch(f"/api/v1/users/{org['rita']}", json={"roles": ["read_only"]})
    assert back.status_code == 200
    assert client.delete("/api/v1/roles/finance").status_code == 204
    assert "finance" not in {r["key"] for r in client.get("/api/v1/roles").json()["items"]}
    assert client.get("/api/v1/roles/finance/forms/deal").status_code == 404
    # A role created again under the same key starts with nothing, not the old permissions.
    assert client.post("/api/v1/roles", json={"key": "finance", "label": "财务"}).status_code == 201
    assert client.get("/api/v1/roles/finance/forms/deal").json()["read"] is False
    actions = [
        e["action"]
        for e in client.get("/api/v1/audit", params={"object_type": "role"}).json()["items"]
    ]
    assert {"role_updated", "role_deleted"} <= set(actions)


def test_an_edit_share_lets_a_user_without_update_rights_bulk_edit_that_record(
    client: TestClient, as_user: Callable[..., TestClient], org: dict[str, int]
) -> None:
    carol, rita = as_user("carol"), as_user("rita")
    deal = next(
        item["id"]
        for item in carol.get("/api/v1/forms/deal/records").json()["items"]
        if item["name"].startswith("carol")
    )
    url = "/api/v1/forms/deal/records/update"
    change = {"ids": [deal], "values": {"stage": "won"}}
    assert rita.post(url, json=change).status_code == 403  # read-only reads it, may not edit
    shared = carol.post(
        f"/api/v1/forms/deal/records/{deal}/shares", json={"level": "edit", "user_id": org["rita"]}
    )
    assert shared.status_code == 201
    assert (
        rita.patch(f"/api/v1/forms/deal/records/{deal}", json={"stage": "lead"}).status_code == 200
    )
    edited = rita.post(url, json=change)
    assert edited.status_code == 200, edited.text
    assert carol.get(f"/api/v1/forms/deal/records/{deal}").json()["stage"] == "won"
    deleting = "/api/v1/forms/deal/records/delete"
    assert rita.post(deleting, json={"ids": [999999]}).status_code == 404  # as for one record
    assert rita.post(deleting, json={"ids": [deal]}).status_code == 403


def test_a_token_limited_to_one_form_reads_no_share_of_another(
    as_user: Callable[..., TestClient], org: dict[str, int]
) -> None:
    carol = as_user("carol")
    deal = carol.get("/api/v1/forms/deal/records").json()["items"][0]
    url = f"/api/v1/forms/deal/records/{deal['id']}"
    shared = carol.post(f"{url}/shares", json={"level": "edit", "user_id": org["alice"]})
    assert shared.status_code == 201, shared.text
    assert as_user("alice").get(url).status_code == 200
    one_form = as_user("alice", form_key="customer")
    assert one_form.get(url).status_code in (403, 404)
    assert one_form.get(f"{url}/history").status_code in (403, 404)
    assert one_form.patch(url, json={"stage": "won"}).status_code in (403, 404)
    reader = as_user("alice", scope="read")
    assert reader.get(url).status_code == 200
    assert reader.patch(url, json={"stage": "won"}).status_code == 403
    assert carol.get(url).json()["stage"] == deal["stage"]
