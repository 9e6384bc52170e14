"""Reading through a link holds to the linked form's row scope and hidden fields (issue 13).

An outside probe linked a deal to a customer its author could not read and then read the
customer's name through ``expr=STARTS_WITH(customer.name, "…")``, one character at a time
(237 requests for a full company name). Here the same attack runs and learns nothing.

The organisation: 总部 with 华东销售 (and its 上海组 below) and 华南销售. Alice is a member in
华东销售 (she reads her department, not 上海组 below it), Dave a member in 上海组, Carol a
member in 华南销售, Mike manages 华东销售 (he reads the subtree, so Dave's records too), Rita
holds only the roles a test gives her.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from meridian.access import manage, organisation
from meridian.access.actors import load_actor
from meridian.access.permissions import form_access
from meridian.access.tokens import create_token
from meridian.app import create_app
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.expr import compile_expression
from meridian.http.deps import Workspace
from meridian.records.listing import expression_condition
from meridian.records.plan import plan_for
from meridian.records.readable import readable_counts, readable_select
from meridian.schema.catalog import get_form, list_forms
from meridian.schema.compile import compile_form
from meridian.schema.expressions import scope_for, sql_scope_for
from meridian.settings import Settings

PEOPLE = {
    "alice": ("member", "华东销售"),
    "dave": ("member", "总部/华东销售/上海组"),
    "carol": ("member", "华南销售"),
    "mike": ("manager", "华东销售"),
    "rita": ("read_only", "总部"),
}


@pytest.fixture
def crm(client: TestClient, workspace: Workspace) -> dict[str, int]:
    """Users, and the records: GLOBEX is Dave's (out of Alice's reach), ACME and ACME-EAST are
    Alice's; her deal Q3-RENEWAL was linked to GLOBEX by an administrator."""
    assert client.post("/api/v1/apps", json={"key": "sales", "label": "销售"}).status_code == 201
    customer = {
        "key": "customer",
        "label": "客户",
        "title_field": "name",
        "fields": [
            {"key": "name", "label": "客户名称", "type": "text", "required": True},
            {"key": "level", "label": "级别", "type": "text"},
            {"key": "note", "label": "内部备注", "type": "text"},
        ],
    }
    deal = {
        "key": "deal",
        "label": "商机",
        "title_field": "name",
        "fields": [
            {"key": "name", "label": "名称", "type": "text", "required": True},
            {"key": "customer", "label": "客户", "type": "link", "target": "customer"},
            {
                "key": "partners",
                "label": "合作方",
                "type": "link",
                "target": "customer",
                "many": True,
            },
        ],
    }
    for form in (customer, deal):
        assert client.post("/api/v1/apps/sales/forms", json=form).status_code == 201
    parent = {"key": "parent", "label": "上级客户", "type": "link", "target": "customer"}
    added = client.post("/api/v1/forms/customer/fields", json=parent)
    assert added.status_code in (200, 201), added.text
    ids: dict[str, int] = {}
    with workspace.transaction() as conn:
        hq = organisation.create_department(conn=conn, name="总部")
        east = organisation.create_department(conn=conn, name="华东销售", parent_id=hq)
        organisation.create_department(conn=conn, name="上海组", parent_id=east)
        organisation.create_department(conn=conn, name="华南销售", parent_id=hq)
        for person, (role, department) in PEOPLE.items():
            user = manage.add_user(
                conn,
                Actor.system(),
                email=f"{person}@acme.test",
                name=person,
                password="Passw0rd-long",
                passwords=workspace.passwords,
                roles=[role],
                department=department,
                must_change_password=False,
            )
            ids[person] = user["id"]

    def create(form: str, **values: Any) -> int:
        response = client.post(f"/api/v1/forms/{form}/records", json=values)
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    ids["GLOBEX"] = create("customer", name="GLOBEX", level="B", note="x", owner_id=ids["dave"])
    ids["ACME"] = create(
        "customer", name="ACME", level="A", parent=ids["GLOBEX"], owner_id=ids["alice"]
    )
    ids["ACME-EAST"] = create(
        "customer", name="ACME-EAST", level="A", parent=ids["ACME"], owner_id=ids["alice"]
    )
    ids["SOUTHWIND"] = create("customer", name="SOUTHWIND", level="A", owner_id=ids["carol"])
    ids["Q3-RENEWAL"] = create(
        "deal",
        name="Q3-RENEWAL",
        customer=ids["GLOBEX"],
        partners=[ids["GLOBEX"], ids["ACME"]],
        owner_id=ids["alice"],
    )
    ids["ACME-LEAD"] = create("deal", name="ACME-LEAD", customer=ids["ACME"], owner_id=ids["alice"])
    return ids


@pytest.fixture
def as_user(
    workspace: Workspace, settings: Settings, crm: dict[str, int]
) -> Iterator[Callable[[str], TestClient]]:
    app = create_app(settings, workspace=workspace)
    clients: list[TestClient] = []

    def make(person: str) -> TestClient:
        with workspace.transaction() as conn:
            token = create_token(conn=conn, user_id=crm[person], name="t")
        client = TestClient(app, headers={"Authorization": f"Bearer {token}"})
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def names(client: TestClient, form: str = "deal", **params: Any) -> set[str]:
    response = client.get(f"/api/v1/forms/{form}/records", params=params)
    assert response.status_code == 200, response.text
    return {item["name"] for item in response.json()["items"]}


def prefix_search(ask: Callable[[str], bool], alphabet: str) -> tuple[str, int]:
    """The probe's attack: grow a prefix one character at a time while the oracle says yes;
    returns what it learnt and how many requests that took."""
    known, requests = "", 0
    while True:
        for character in alphabet:
            requests += 1
            if ask(known + character):
                known += character
                break
        else:
            return known, requests


def test_a_condition_through_a_link_learns_nothing_about_a_customer_one_may_not_read(
    client: TestClient, as_user: Callable[[str], TestClient], crm: dict[str, int]
) -> None:
    alice = as_user("alice")
    assert names(alice) == {"Q3-RENEWAL", "ACME-LEAD"}
    assert "GLOBEX" not in names(alice, "customer")

    def oracle(who: TestClient) -> Callable[[str], bool]:
        return lambda prefix: (
            "Q3-RENEWAL" in names(who, expr=f'STARTS_WITH(customer.name, "{prefix}")')
        )

    alphabet = "ABCEGLMOXZ"
    assert prefix_search(oracle(client), alphabet)[0] == "GLOBEX"  # the attack works
    learnt, requests = prefix_search(oracle(alice), alphabet)
    assert learnt == ""
    assert requests == len(alphabet)  # no probe ever answered yes
    # Every question gets the same answer, its negation too: the linked record is empty.
    for condition in (
        'STARTS_WITH(customer.name, "G")',
        'STARTS_WITH(customer.name, "A")',
        'customer.name == "GLOBEX"',
        'customer.name != "GLOBEX"',
        'customer.name < "M"',
        'customer.name >= "M"',
        'customer.level == "B"',
        'NOT(customer.level == "B")',
        'customer.name IN ["GLOBEX", "ACME"]',
        "LEN(customer.name) > 3",
    ):
        assert "Q3-RENEWAL" not in names(alice, expr=condition), condition
        assert "ACME-LEAD" in names(alice, expr=f"{condition} or true")
    assert names(alice, expr="ISBLANK(customer.name)") == {"Q3-RENEWAL"}
    assert names(client, expr="ISBLANK(customer.name)") == set()
    assert names(alice, expr='STARTS_WITH(customer.name, "AC")') == {"ACME-LEAD"}
    # the structured filter answered so already, and still does
    across = json.dumps({"field": "customer.name", "op": "starts_with", "value": "glo"})
    assert names(alice, filter=across) == set()
    assert names(client, filter=across) == {"Q3-RENEWAL"}


def _problem(response: Any, *ids: int) -> tuple[int, str]:
    """Status and body with the given ids written as N, to compare two refusals."""
    text = response.text
    for i in ids:
        text = re.sub(rf"\b{i}\b", "N", text)
    return response.status_code, text


def test_linking_to_a_customer_one_may_not_read_is_refused_as_a_missing_one(
    client: TestClient, as_user: Callable[[str], TestClient], crm: dict[str, int]
) -> None:
    alice = as_user("alice")
    globex, missing = crm["GLOBEX"], 987654321
    trashed = client.post(
        "/api/v1/forms/customer/records", json={"name": "OLD", "owner_id": crm["alice"]}
    ).json()["id"]
    assert client.delete(f"/api/v1/forms/customer/records/{trashed}").status_code in (200, 204)
    lead = f"/api/v1/forms/deal/records/{crm['ACME-LEAD']}"
    attempts: list[Callable[[int], Any]] = [
        lambda i: alice.post("/api/v1/forms/deal/records", json={"name": "X", "customer": i}),
        lambda i: alice.post("/api/v1/forms/deal/records", json={"name": "X", "partners": [i]}),
        lambda i: alice.patch(lead, json={"customer": i}),
        lambda i: alice.patch(lead, json={"partners": [crm["ACME"], i]}),
        lambda i: alice.post(
            "/api/v1/forms/deal/records/update",
            json={"ids": [crm["ACME-LEAD"]], "values": {"customer": i}},
        ),
        lambda i: alice.post("/api/v1/forms/customer/records", json={"name": "Y", "parent": i}),
    ]
    for attempt in attempts:
        refused = attempt(globex)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["code"] == "unknown_reference"
        assert _problem(refused, globex) == _problem(attempt(missing), missing)
        assert _problem(refused, globex) == _problem(attempt(trashed), trashed)
    assert names(client) == {"Q3-RENEWAL", "ACME-LEAD"}  # nothing was written
    assert client.get(lead).json()["customer"] == crm["ACME"]
    # A link left as it is stays, though she cannot read its target.
    q3 = f"/api/v1/forms/deal/records/{crm['Q3-RENEWAL']}"
    kept = alice.patch(
        q3,
        json={"name": "Q3-RENEWAL", "customer": globex, "partners": [crm["ACME"], globex]},
    )
    assert kept.status_code == 200, kept.text
    bulk = "/api/v1/forms/deal/records/update"
    same = alice.post(bulk, json={"ids": [crm["Q3-RENEWAL"]], "values": {"customer": globex}})
    assert same.status_code == 200, same.text
    spread = alice.post(
        bulk,
        json={"ids": [crm["Q3-RENEWAL"], crm["ACME-LEAD"]], "values": {"customer": globex}},
    )
    assert spread.status_code == 422, spread.text
    # Her manager reads Dave's customer, so he may link to it.
    mike = as_user("mike")
    linked = mike.post("/api/v1/forms/deal/records", json={"name": "M", "customer": globex})
    assert linked.status_code == 201, linked.text


def test_expand_and_search_do_not_show_a_customer_one_may_not_read(
    client: TestClient, as_user: Callable[[str], TestClient], crm: dict[str, int]
) -> None:
    alice = as_user("alice")
    globex, acme = crm["GLOBEX"], crm["ACME"]
    hidden = {"id": globex, "title": f"#{globex}"}
    listed = alice.get("/api/v1/forms/deal/records", params={"expand": "customer,partners"})
    by_name = {item["name"]: item for item in listed.json()["items"]}
    assert by_name["Q3-RENEWAL"]["customer"] == hidden
    assert by_name["Q3-RENEWAL"]["partners"] == [hidden, {"id": acme, "title": "ACME"}]
    one = alice.get(
        f"/api/v1/forms/deal/records/{crm['Q3-RENEWAL']}", params={"expand": "customer"}
    )
    assert one.json()["customer"] == hidden
    assert alice.get(f"/api/v1/forms/customer/records/{globex}").status_code == 404
    shown = client.get(
        f"/api/v1/forms/deal/records/{crm['Q3-RENEWAL']}", params={"expand": "customer"}
    )
    assert shown.json()["customer"] == {"id": globex, "title": "GLOBEX"}
    assert "GLOBEX" in str(
        client.get("/api/v1/forms/customer/records", params={"q": "glob"}).json()
    )
    for query in ("glob", "GLOBEX", "globex"):
        assert names(alice, "customer", q=query) == set()
        assert names(alice, q=query) == set()
    across = json.dumps({"field": "partners", "op": "contains", "value": [globex]})
    assert names(alice, filter=across) == {"Q3-RENEWAL"}  # her deal's own link ids


def test_a_manager_whose_scope_holds_the_customer_reads_it_through_the_link(
    as_user: Callable[[str], TestClient], crm: dict[str, int]
) -> None:
    mike = as_user("mike")
    assert names(mike, expr='STARTS_WITH(customer.name, "GLO")') == {"Q3-RENEWAL"}
    assert names(mike, expr="ISBLANK(customer.name)") == set()
    item = mike.get(
        f"/api/v1/forms/deal/records/{crm['Q3-RENEWAL']}", params={"expand": "customer"}
    ).json()
    assert item["customer"] == {"id": crm["GLOBEX"], "title": "GLOBEX"}
    # Carol's customer is beyond him; Rita (read-only: all) reads everything.
    assert names(mike, "customer", expr='STARTS_WITH(parent.name, "GLO")') == {"ACME"}
    rita = as_user("rita")
    assert names(rita, expr='STARTS_WITH(customer.name, "GLO")') == {"Q3-RENEWAL"}


def test_a_hidden_field_of_the_linked_form_is_unknown_through_the_link(
    client: TestClient, as_user: Callable[[str], TestClient]
) -> None:
    rules = {"create": True, "read": "department", "update": "own", "fields": {"note": "hidden"}}
    assert client.put("/api/v1/roles/member/forms/customer", json=rules).status_code == 200
    alice = as_user("alice")
    deals = "/api/v1/forms/deal/records"
    for hidden, unknown, name, other_name in (
        ({"expr": 'customer.note == "x"'}, {"expr": 'customer.nope == "x"'}, "note", "nope"),
        (
            {"expr": "ISBLANK({客户}.{内部备注})"},
            {"expr": "ISBLANK({客户}.{没有字段})"},
            "内部备注",
            "没有字段",
        ),
        (
            {"filter": json.dumps({"field": "customer.note", "op": "eq", "value": "x"})},
            {"filter": json.dumps({"field": "customer.nope", "op": "eq", "value": "x"})},
            "note",
            "nope",
        ),
    ):
        refused, other = alice.get(deals, params=hidden), alice.get(deals, params=unknown)
        assert refused.status_code == other.status_code == 422, refused.text
        # word for word the answer for a field that does not exist
        assert refused.text.replace(name, other_name) == other.text
        assert client.get(deals, params=hidden).status_code == 200  # the administrator may
    assert names(alice, "customer", expr='STARTS_WITH(parent.name, "AC")') == {"ACME-EAST"}


def test_a_condition_scope_holds_through_links_and_self_links(
    client: TestClient,
    as_user: Callable[[str], TestClient],
    workspace: Workspace,
    crm: dict[str, int],
) -> None:
    """A role reading only A-level customers: GLOBEX (level B) is out of its reach, also as
    the parent of a customer it reads (a link from the customer form to itself)."""
    assert client.post("/api/v1/roles", json={"key": "key_accounts", "label": "大客户"}).is_success
    rules = {"read": {"expr": 'level == "A"'}}
    assert client.put("/api/v1/roles/key_accounts/forms/customer", json=rules).status_code == 200
    assert client.put("/api/v1/roles/key_accounts/forms/deal", json={"read": "all"}).is_success
    with workspace.transaction() as conn:
        organisation.set_user_roles(conn, crm["rita"], ["key_accounts"])
    rita = as_user("rita")
    assert names(rita, "customer") == {"ACME", "ACME-EAST", "SOUTHWIND"}
    assert names(rita, "customer", expr='STARTS_WITH(parent.name, "AC")') == {"ACME-EAST"}
    assert names(rita, "customer", expr='STARTS_WITH(parent.name, "GL")') == set()
    assert names(rita, "customer", expr="ISBLANK(parent.name)") == {"ACME", "SOUTHWIND"}
    assert names(client, "customer", expr='STARTS_WITH(parent.name, "GL")') == {"ACME"}
    for value, admin_sees in (("glo", {"ACME"}), ("acme", {"ACME-EAST"})):
        across = json.dumps({"field": "parent.name", "op": "starts_with", "value": value})
        assert names(client, "customer", filter=across) == admin_sees
        assert names(rita, "customer", filter=across) == (admin_sees - {"ACME"})
    assert names(rita, expr='STARTS_WITH(customer.name, "GLO")') == set()
    assert names(rita, expr='STARTS_WITH(customer.name, "ACM")') == {"ACME-LEAD"}


EXPRESSIONS = (
    'STARTS_WITH(customer.name, "GLO")',
    "ISBLANK(customer.name)",
    'customer.level == "A" or customer.name == "GLOBEX"',
    "LEN(customer.note) > 0",
)


def test_an_administrator_reads_links_exactly_as_before(
    client: TestClient, workspace: Workspace, admin: Actor, crm: dict[str, int]
) -> None:
    """For one who reads every row the statements are the system's own, condition for
    condition — no join, no subquery, no scope — and so are the answers."""
    tz = workspace.tz
    with workspace.read() as conn:
        deal = get_form(conn, "deal")
        tables = compile_form(deal)
        access = form_access(conn, admin, deal)
        now = utcnow(conn).astimezone(tz)
        for source in EXPRESSIONS:
            ours = expression_condition(conn, plan_for(deal), source, access, tz)
            system = compile_expression(source, scope_for(conn, deal)).to_sql(
                sql_scope_for(conn, deal, tables), dialect=conn.dialect, today=now.date(), now=now
            )
            assert str(ours.compile(conn)) == str(system.compile(conn)), source
            expected = set(
                conn.scalars(
                    sa.select(tables.main.c.name).where(system, tables.main.c.deleted_at.is_(None))
                )
            )
            assert names(client, expr=source) == expected, source
        plain = sa.select(tables.main).where(tables.main.c.deleted_at.is_(None))
        ours_select = readable_select(conn=conn, actor=admin, form=deal, tz=tz)
        assert str(ours_select.compile(conn)) == str(plain.compile(conn))


def test_the_home_page_counts_what_each_reader_may_read(
    workspace: Workspace, admin: Actor, crm: dict[str, int]
) -> None:
    with workspace.read() as conn:
        forms = list_forms(conn, "sales")
        counts = {
            person: {
                form.key: count
                for form, count in readable_counts(
                    conn=conn, actor=actor, forms=forms, tz=workspace.tz
                )
            }
            for person, actor in (
                ("admin", admin),
                ("alice", load_actor(conn, crm["alice"])),
                ("carol", load_actor(conn, crm["carol"])),
            )
        }
    assert counts == {
        "admin": {"customer": 4, "deal": 2},
        "alice": {"customer": 2, "deal": 2},
        "carol": {"customer": 1, "deal": 0},
    }
