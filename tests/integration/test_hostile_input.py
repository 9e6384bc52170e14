"""Hostile input gets a clear 4xx and changes nothing (issue 13, section 3).

Each test is one class of input an outside probe turned into a server error, parametrized over
the places the class reaches; every case answers 4xx with a problem naming the field, and the
database is exactly as it was.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from typing import Any, get_args

import pytest
import sqlalchemy as sa
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from meridian.core.actor import Actor
from meridian.db.tables import record_history
from meridian.http.deps import Workspace
from meridian.records.service import create_record
from meridian.schema.catalog import get_form
from tests.conftest import KeptApp, KeptDatabase, kept_fixtures, with_app
from tests.forms import install_forms

BIG = 2**70
RECORDS = "/api/v1/forms/lead/records"

CUSTOMER = {
    "key": "customer",
    "label": "客户",
    "title_field": "name",
    "fields": [{"key": "name", "label": "名称", "type": "text", "unique": True}],
}
LEAD = {
    "key": "lead",
    "label": "线索",
    "title_field": "name",
    "fields": [
        {"key": "name", "label": "名称", "type": "text", "unique": True},
        {"key": "amount", "label": "金额", "type": "money"},
        {"key": "qty", "label": "数量", "type": "integer"},
        {"key": "ratio", "label": "比例", "type": "decimal"},
        {"key": "customer", "label": "客户", "type": "link", "target": "customer"},
        {"key": "customers", "label": "客户们", "type": "link", "target": "customer", "many": True},
        {"key": "contact", "label": "联系人", "type": "user"},
        {"key": "note", "label": "备注", "type": "long_text"},
        {"key": "day", "label": "日期", "type": "date"},
    ],
}


def _build(workspace: Workspace, client: TestClient) -> None:
    """ACME-CUSTOMER, and the lead ACME-LEAD linking to it, made through the API by an
    administrator; built once per dialect and test process, put back before each test."""
    with workspace.transaction() as conn:
        install_forms(conn, CUSTOMER, LEAD)
    customer = client.post("/api/v1/forms/customer/records", json={"name": "ACME-CUSTOMER"})
    assert customer.status_code == 201
    created = client.post(
        RECORDS,
        json={
            "name": "ACME-LEAD",
            "amount": "128000.00",
            "customer": customer.json()["id"],
            "customers": [customer.json()["id"]],
        },
    )
    assert created.status_code == 201


kept, workspace = kept_fixtures(with_app(_build))


@pytest.fixture
def api(kept: KeptDatabase[KeptApp[None]], workspace: Workspace) -> Iterator[TestClient]:
    with kept.built.client() as client:
        yield client


def _state(workspace: Workspace) -> list[Any]:
    with workspace.read() as conn:
        return [
            conn.execute(sa.text("SELECT * FROM data_lead ORDER BY id")).all(),
            conn.execute(sa.text("SELECT * FROM data_customer ORDER BY id")).all(),
            conn.execute(sa.select(sa.func.count()).select_from(record_history)).scalar(),
        ]


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _filter(tree: Any) -> dict[str, str]:
    return {"filter": json.dumps(tree)}


def _refused(
    api: TestClient, workspace: Workspace, request: dict[str, Any], status: int = 422
) -> dict[str, Any]:
    """Send ``request``; it must be refused with ``status`` and change nothing."""
    before = _state(workspace)
    response = api.request(**request)
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == "application/problem+json"
    assert _state(workspace) == before
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    return problem


def _field_error(problem: dict[str, Any]) -> dict[str, Any]:
    [error] = problem["errors"]
    assert isinstance(error["field"], str) and error["field"]
    assert len(json.dumps(error["value"])) <= 70  # a short prefix, never the whole value
    return error  # type: ignore[no-any-return]


def _body(method: str, url: str, body: Any) -> dict[str, Any]:
    return {"method": method, "url": url, "json": body}


BEYOND_64_BITS = {
    "record id in the path": {"method": "GET", "url": f"{RECORDS}/{BIG}"},
    "record id in a change": _body("PATCH", f"{RECORDS}/{BIG}", {"name": "X"}),
    "link": _body("POST", RECORDS, {"name": "X", "customer": BIG}),
    "link as text": _body("POST", RECORDS, {"name": "X", "customer": str(BIG)}),
    "many-to-many link": _body("POST", RECORDS, {"name": "X", "customers": [BIG]}),
    "user": _body("POST", RECORDS, {"name": "X", "contact": BIG}),
    "owner": _body("POST", RECORDS, {"name": "X", "owner_id": BIG}),
    "bulk delete ids": _body("POST", f"{RECORDS}/delete", {"ids": [1, BIG]}),
    "bulk edit ids": _body("POST", f"{RECORDS}/update", {"ids": [BIG], "values": {}}),
    "transfer owner": _body("POST", f"{RECORDS}/transfer", {"ids": [1], "owner_id": BIG}),
    "share user": _body("POST", f"{RECORDS}/1/shares", {"user_id": BIG}),
    "filter on id": {
        "method": "GET",
        "url": RECORDS,
        "params": _filter({"field": "id", "op": "eq", "value": BIG}),
    },
    "filter on a link": {
        "method": "GET",
        "url": RECORDS,
        "params": _filter({"field": "customer", "op": "eq", "value": BIG}),
    },
    "filter on a many-to-many link": {
        "method": "GET",
        "url": RECORDS,
        "params": _filter({"field": "customers", "op": "in", "value": [BIG]}),
    },
    "cursor": {"method": "GET", "url": RECORDS, "params": {"cursor": _cursor([BIG])}},
    "document batch": {"method": "GET", "url": f"/api/v1/documents/batches/{BIG}"},
    "document batch's file": {"method": "GET", "url": f"/api/v1/documents/batches/{BIG}/file"},
    "record of documents": {"method": "GET", "url": f"{RECORDS}/{BIG}/documents"},
    "document": {"method": "GET", "url": f"{RECORDS}/1/documents/{BIG}/file"},
    "template version": {
        "method": "GET",
        "url": "/api/v1/forms/lead/templates/quote",
        "params": {"version": BIG},
    },
}


@pytest.mark.parametrize("case", BEYOND_64_BITS.values(), ids=BEYOND_64_BITS.keys())
def test_integers_beyond_64_bits_are_refused(
    api: TestClient, workspace: Workspace, case: dict[str, Any]
) -> None:
    problem = _refused(api, workspace, case)
    error = _field_error(problem)
    assert error["code"] in {"out_of_range", "less_than_equal", "invalid_reference"} or (
        error["field"] == "cursor"
    )


DEEP = 500
NESTED = {
    "filter of nots": {
        "method": "GET",
        "url": RECORDS,
        "params": {"filter": '{"not":' * DEEP + '{"field":"qty","op":"eq","value":1}' + "}" * DEEP},
    },
    "filter of lists": {
        "method": "GET",
        "url": RECORDS,
        "params": {"filter": "[" * 5000 + "]" * 5000},
    },
    "cursor": {
        "method": "GET",
        "url": RECORDS,
        "params": {"cursor": base64.urlsafe_b64encode(b"[" * DEEP + b"]" * DEEP).decode()},
    },
    "body": {
        "method": "POST",
        "url": RECORDS,
        "content": '{"name":' * DEEP + '"X"' + "}" * DEEP,
        "headers": {"content-type": "application/json"},
    },
    "bulk body": {
        "method": "POST",
        "url": f"{RECORDS}/bulk",
        "content": '{"items":' + "[" * 100_000 + "]" * 100_000 + "}",
        "headers": {"content-type": "application/json"},
    },
}


@pytest.mark.parametrize("case", NESTED.values(), ids=NESTED.keys())
def test_deeply_nested_filters_cursors_and_bodies_are_refused(
    api: TestClient, workspace: Workspace, case: dict[str, Any]
) -> None:
    error = _field_error(_refused(api, workspace, case))
    assert error["code"] in {"too_deep", "invalid_cursor"}


NOT_JSON = {
    "text": "text/plain",
    "form": "application/x-www-form-urlencoded",
    "xml": "application/xml",
    "multipart": "multipart/form-data; boundary=x",
    "none": None,
}


@pytest.mark.parametrize("content_type", NOT_JSON.values(), ids=NOT_JSON.keys())
@pytest.mark.parametrize("url", [RECORDS, f"{RECORDS}/bulk", f"{RECORDS}/1"])
def test_a_json_endpoint_refuses_other_media_types_with_415(
    api: TestClient, workspace: Workspace, content_type: str | None, url: str
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    method = "PATCH" if url.endswith("/1") else "POST"
    request = {"method": method, "url": url, "content": b'{"name": "X"}', "headers": headers}
    problem = _refused(api, workspace, request, status=415)
    assert problem["code"] == "unsupported_media_type"
    assert problem["accepts"] == ["application/json"]


NON_FINITE = {
    "NaN integer": '{"name": "X", "qty": NaN}',
    "Infinity integer": '{"name": "X", "qty": Infinity}',
    "-Infinity decimal": '{"name": "X", "ratio": -Infinity}',
    "NaN money": '{"name": "X", "amount": NaN}',
    "1e400 integer": '{"name": "X", "qty": 1e400}',
    "1e400 decimal": '{"name": "X", "ratio": 1e400}',
    "NaN in a bulk item": '{"items": [{"name": "X"}, {"name": "Y", "qty": NaN}]}',
}


@pytest.mark.parametrize("body", NON_FINITE.values(), ids=NON_FINITE.keys())
def test_nan_infinity_and_overflowing_numbers_are_refused(
    api: TestClient, workspace: Workspace, body: str
) -> None:
    url = f"{RECORDS}/bulk" if "items" in body else RECORDS
    request = {
        "method": "POST",
        "url": url,
        "content": body,
        "headers": {"content-type": "application/json"},
    }
    error = _field_error(_refused(api, workspace, request))
    assert error["code"] == "not_finite"
    assert error["field"] in {"qty", "ratio", "amount", "items.1.qty"}


HUGE_NUMBERS = {
    "money 1e999999999": ("amount", "1e999999999"),
    "money 1e-999999999": ("amount", "1e-999999999"),
    "money of 5,000 digits": ("amount", "9" * 5000),
    "decimal 1e999999999": ("ratio", "1e999999999"),
    "integer 1e999999999": ("qty", "1e999999999"),
    "integer of 5,000 digits as text": ("qty", "9" * 5000),
}


@pytest.mark.parametrize("case", HUGE_NUMBERS.values(), ids=HUGE_NUMBERS.keys())
@pytest.mark.parametrize("where", ["body", "filter"])
def test_numbers_beyond_any_field_are_refused(
    api: TestClient, workspace: Workspace, case: tuple[str, str], where: str
) -> None:
    key, text = case
    if where == "body":
        request = _body("POST", RECORDS, {"name": "X", key: text})
    else:
        request = {
            "method": "GET",
            "url": RECORDS,
            "params": _filter({"field": key, "op": "gt", "value": text}),
        }
    error = _field_error(_refused(api, workspace, request))
    assert error["code"] == "out_of_range"


BAD_TEXT = {
    "lone surrogate in a value": (r'{"name": "ACME-\ud800"}', "invalid_character"),
    "lone low surrogate": (r'{"name": "X", "note": "\udfff tail"}', "invalid_character"),
    "lone surrogate in a key": (r'{"\ud800": "X"}', "invalid_character"),
    "NUL in text": (r'{"name": "ACME\u0000LEAD"}', "invalid_character"),
    "NUL in long text": (r'{"name": "X", "note": "a\u0000b"}', "invalid_character"),
}


@pytest.mark.parametrize("case", BAD_TEXT.values(), ids=BAD_TEXT.keys())
def test_text_no_column_can_store_is_refused(
    api: TestClient, workspace: Workspace, case: tuple[str, str]
) -> None:
    body, code = case
    request = {
        "method": "POST",
        "url": RECORDS,
        "content": body,
        "headers": {"content-type": "application/json"},
    }
    assert _field_error(_refused(api, workspace, request))["code"] == code


QUERY_TEXT = {
    "NUL in a filter value": (_filter({"field": "name", "op": "eq", "value": "a\x00b"}), 422),
    "lone surrogate in a filter value": (
        _filter({"field": "name", "op": "contains", "value": "\ud800"}),
        422,
    ),
    "NUL in the search": ({"q": "ACME\x00"}, 400),
    "NUL in an expression": ({"expr": 'name = "a\x00b"'}, 400),
    "NUL in the sort": ({"sort": "name\x00"}, 400),
}


@pytest.mark.parametrize("case", QUERY_TEXT.values(), ids=QUERY_TEXT.keys())
def test_nul_and_lone_surrogates_in_the_query_are_refused(
    api: TestClient, workspace: Workspace, case: tuple[dict[str, str], int]
) -> None:
    params, status = case
    request = {"method": "GET", "url": RECORDS, "params": params}
    problem = _refused(api, workspace, request, status=status)
    if status == 400:
        assert problem["code"] == "invalid_character"
    else:
        assert _field_error(problem)["code"] == "invalid_character"


@pytest.mark.parametrize("expand", ["customer,customer", "customers,customer,customers"])
def test_a_repeated_expand_expands_once(api: TestClient, expand: str) -> None:
    listed = api.get(RECORDS, params={"expand": expand})
    assert listed.status_code == 200
    [lead] = listed.json()["items"]
    one = api.get(f"{RECORDS}/{lead['id']}", params={"expand": expand})
    assert one.status_code == 200
    for record in (lead, one.json()):
        assert record["customer"]["title"] == "ACME-CUSTOMER"
        if "customers" in expand:
            assert [c["title"] for c in record["customers"]] == ["ACME-CUSTOMER"]


WRONG_CURSORS = {
    "object for an id": ({}, [{"a": 1}]),
    "text for an id": ({}, ["abc"]),
    "true for an id": ({}, [True]),
    "list for a text sort": ({"sort": "name"}, [["ACME"], 1]),
    "number for a date sort": ({"sort": "day"}, [5, 1]),
    "text for a money sort": ({"sort": "amount"}, ["lots", 1]),
    "too few values": ({"sort": "name"}, [1]),
    "not a list": ({}, {"id": 1}),
    "not base64": ({}, "%%%"),
    "not UTF-8": ({}, base64.urlsafe_b64encode(b"\xff\xfe\xfa").decode()),
}


@pytest.mark.parametrize("case", WRONG_CURSORS.values(), ids=WRONG_CURSORS.keys())
def test_cursors_of_the_wrong_shape_are_refused(
    api: TestClient, workspace: Workspace, case: tuple[dict[str, str], Any]
) -> None:
    params, value = case
    cursor = value if isinstance(value, str) else _cursor(value)
    request = {"method": "GET", "url": RECORDS, "params": {**params, "cursor": cursor}}
    error = _field_error(_refused(api, workspace, request))
    assert (error["field"], error["code"]) == ("cursor", "invalid_cursor")


def test_an_error_never_echoes_a_large_value(api: TestClient, workspace: Workspace) -> None:
    """Today a 13 MB body returned a 76 MB error; a megabyte of text now gets a short one."""
    request = _body("POST", RECORDS, {"name": "ACME-" + "x" * 1_000_000, "qty": "y" * 500_000})
    before = _state(workspace)
    response = api.request(**request)
    assert response.status_code == 422
    assert len(response.content) < 2_000
    assert _state(workspace) == before
    values = {e["field"]: e["value"] for e in response.json()["errors"]}
    assert values["name"] == "ACME-" + "x" * 55 + "…"
    assert values["qty"] == "y" * 60 + "…"


def test_a_writer_racing_on_a_unique_value_gets_the_pre_checks_422(
    api: TestClient, workspace: Workspace
) -> None:
    """Two writers both pass the unique check before either commits; the one that loses the
    race gets exactly what the check gives once the winner has committed (on PostgreSQL the
    unique index refused it as an IntegrityError, a server error)."""
    racer: dict[str, Any] = {}

    def lose() -> None:
        with TestClient(api.app, headers=dict(api.headers)) as other:
            racer["response"] = other.post(RECORDS, json={"name": "ACME-RACE"})

    loser = threading.Thread(target=lose)
    with workspace.engine.connect() as winner:
        with winner.begin():
            create_record(
                conn=winner,
                actor=Actor.system(),
                form=get_form(winner, "lead"),
                values={"name": "ACME-RACE"},
            )
            loser.start()
            _wait_until_the_loser_waits(workspace, winner)
    loser.join(timeout=30)
    lost = racer["response"]
    assert lost.status_code == 422, lost.text[:500]
    again = api.post(RECORDS, json={"name": "ACME-RACE"})
    assert again.status_code == 422
    assert lost.json() == again.json()
    [error] = lost.json()["errors"]
    assert (error["field"], error["code"], error["value"]) == ("name", "duplicate", "ACME-RACE")


def _wait_until_the_loser_waits(workspace: Workspace, winner: sa.Connection) -> None:
    """PostgreSQL: until the loser's INSERT waits on the winner's uncommitted row. SQLite: the
    loser waits at its BEGIN IMMEDIATE for the winner's write lock; give it time to get there."""
    if workspace.engine.dialect.name != "postgresql":
        time.sleep(0.5)
        return
    winner_pid = winner.execute(sa.text("SELECT pg_backend_pid()")).scalar()
    deadline = time.monotonic() + 20
    with workspace.engine.connect() as watcher:
        while time.monotonic() < deadline:
            waiting = watcher.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE :winner = ANY(pg_blocking_pids(pid))"
                ),
                {"winner": winner_pid},
            ).scalar()
            watcher.rollback()
            if waiting:
                return
            time.sleep(0.05)
    raise AssertionError("the second writer never waited for the first")


def test_every_id_a_route_takes_is_an_id(api: TestClient) -> None:
    """The class of the cases above: an integer in a path, or a query parameter naming a row
    (``…_id``, a version), is typed ``Id`` (1 to 2⁶³ - 1), so a larger one is a 422 naming it
    and never reaches the database (a plain ``int`` did: a 500 from the driver's overflow)."""
    app: Any = api.app
    unbounded = [
        (route.path, param.name)
        for route in app.routes
        if isinstance(route, APIRoute)
        for param in [*route.dependant.path_params, *route.dependant.query_params]
        if int in (param.field_info.annotation, *get_args(param.field_info.annotation))
        and not param.field_info.metadata
        and (
            param in route.dependant.path_params
            or param.name.endswith("_id")
            or param.name in {"version", "status_code"}
        )
    ]
    assert unbounded == []
