"""Plugins: an installed package (tests/plugin_example, a real distribution with a ``meridian``
entry point) adds a field type and a rule action that work through the API exactly like
Meridian's own; the registry refuses two plugins that claim one name."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from meridian.access.tokens import create_token
from meridian.access.users import create_user
from meridian.app import DEFAULT_PLUGINS, create_app
from meridian.db.tables import outbox
from meridian.errors import PluginError
from meridian.http.deps import Workspace
from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import Worker
from meridian.plugins.hookspecs import hookimpl
from meridian.plugins.manager import build_plugins
from meridian.rules.actions import RuleAction
from meridian.schema.fieldtypes import FieldType, field_types_of
from meridian.schema.fieldtypes.scalars import TextType
from meridian.settings import Settings
from meridian.web.inputs import editable_inline
from tests.conftest import workspace_on

ACCOUNT = {
    "key": "account",
    "label": "客户",
    "title_field": "name",
    "fields": [
        {"key": "name", "label": "名称", "type": "text"},
        {"key": "score", "label": "评分", "type": "rating"},
    ],
}


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        password_hashing="argon2-minimal-for-tests",
        load_plugins="ratings",
    )


def _drain(engine: Engine) -> None:
    worker = Worker(engine, job_handlers(workspace_on(engine)), workspace_on(engine).tz)
    while worker.run_once():
        pass


def test_a_plugin_field_type_and_rule_action_work_through_the_api(
    client: TestClient, engine: Engine
) -> None:
    assert client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"}).status_code == 201
    created = client.post("/api/v1/apps/crm/forms", json=ACCOUNT)
    assert created.status_code == 201, created.text
    rule = client.post(
        "/api/v1/rules",
        json={
            "form_key": "account",
            "label": "新客户四星",
            "trigger": {"type": "record_created"},
            "condition": 'name = "ACME-LEAD"',
            "actions": [{"type": "rate", "field": "score", "stars": 4}],
        },
    )
    assert rule.status_code == 201, rule.text

    lead = client.post("/api/v1/forms/account/records", json={"name": "ACME-LEAD"}).json()
    other = client.post("/api/v1/forms/account/records", json={"name": "Q3-RENEWAL", "score": 2})
    assert other.status_code == 201, other.text
    _drain(engine)
    assert client.get(f"/api/v1/forms/account/records/{lead['id']}").json()["score"] == 4
    assert client.get(f"/api/v1/forms/account/records/{other.json()['id']}").json()["score"] == 2

    refused = client.patch(f"/api/v1/forms/account/records/{lead['id']}", json={"score": 9})
    assert refused.status_code == 422
    [error] = refused.json()["errors"]
    assert (error["field"], error["code"], error["value"]) == ("score", "invalid_rating", 9)

    wrong = client.post(
        "/api/v1/rules",
        json={
            "form_key": "account",
            "label": "错的",
            "trigger": {"type": "record_created"},
            "actions": [{"type": "rate", "field": "name", "stars": 6}],
        },
    )
    assert wrong.status_code == 422
    codes = {(e["field"], e["code"]) for e in wrong.json()["errors"]}
    assert codes == {("actions.0.field", "not_a_rating"), ("actions.0.stars", "invalid_rating")}


def test_a_plugin_field_type_is_described_in_openapi_and_edited_in_the_grid(
    client: TestClient, workspace: Workspace
) -> None:
    client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"})
    assert client.post("/api/v1/apps/crm/forms", json=ACCOUNT).status_code == 201
    document = client.get("/api/openapi.json")
    assert document.status_code == 200, document.text
    score = document.json()["components"]["schemas"]["AccountInput"]["properties"]["score"]
    assert score == {
        "type": "integer",
        "minimum": 1,
        "maximum": 5,
        "description": "stars",
        "title": "评分",
    }
    editable = editable_inline(field_types_of(workspace.plugins))
    assert "rating" in editable
    assert not {"child_table", "attachment", "formula", "auto_number"} & editable


def test_committed_events_reach_a_plugins_reaction_once_after_commit(
    client: TestClient, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="meridian_ratings")
    client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"})
    assert client.post("/api/v1/apps/crm/forms", json=ACCOUNT).status_code == 201
    lead = client.post("/api/v1/forms/account/records", json={"name": "ACME-LEAD"}).json()
    refused = client.post("/api/v1/forms/account/records", json={"name": "Q3", "score": 0})
    assert refused.status_code == 422  # rolled back: no event
    edited = client.patch(f"/api/v1/forms/account/records/{lead['id']}", json={"score": 3})
    assert edited.status_code == 200, edited.text
    assert not caplog.messages  # nothing reacts inside the request

    _drain(engine)
    assert caplog.messages == [
        f"RecordCreated account #{lead['id']} v1",
        f"RecordUpdated account #{lead['id']} v2",
    ]
    _drain(engine)
    assert len(caplog.messages) == 2  # each event once
    with engine.connect() as conn:
        pending = conn.scalar(
            sa.select(sa.func.count()).select_from(outbox).where(outbox.c.dispatched_at.is_(None))
        )
    assert pending == 0


def test_only_the_installed_plugins_named_in_the_settings_load() -> None:
    plain = build_plugins(DEFAULT_PLUGINS, installed=())
    assert "rating" not in plain.named("register_field_types")
    assert "rate" not in plain.named("register_rule_actions")
    with_plugin = build_plugins(DEFAULT_PLUGINS, installed=("ratings",))
    assert "rating" in with_plugin.named("register_field_types")


def test_a_workspace_without_the_plugin_refuses_its_field_type(
    tmp_path: Path, database_url: str
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        password_hashing="argon2-minimal-for-tests",
        load_plugins="",
    )
    with TestClient(create_app(settings)) as plain:
        workspace = plain.app.state.workspace
        with workspace.transaction() as conn:
            user_id = create_user(
                conn=conn,
                email="a@acme.test",
                name="A",
                password="pass-word-1",
                is_admin=True,
                passwords=workspace.passwords,
            )
            token = create_token(conn=conn, user_id=user_id, name="t")
        plain.headers["Authorization"] = f"Bearer {token}"
        plain.post("/api/v1/apps", json={"key": "crm", "label": "CRM"})
        refused = plain.post("/api/v1/apps/crm/forms", json=ACCOUNT)
    assert refused.status_code == 422
    [error] = refused.json()["errors"]
    assert error["field"] == "fields.1.type" and "rating" in error["message"]


class _ShadowText:
    """A plugin that claims the built-in name ``text``."""

    @hookimpl
    def register_field_types(self) -> Sequence[FieldType]:
        return [TextType()]


class _ShadowUpdate:
    @hookimpl
    def register_rule_actions(self) -> Sequence[RuleAction]:
        action = RuleAction()
        action.name = "update"  # type: ignore[misc]
        return [action]


@pytest.mark.parametrize(
    ("plugin", "hook"),
    [(_ShadowText(), "register_field_types"), (_ShadowUpdate(), "register_rule_actions")],
)
def test_two_plugins_claiming_one_name_are_refused(plugin: object, hook: str) -> None:
    plugins = build_plugins([*DEFAULT_PLUGINS, plugin], installed=())
    with pytest.raises(PluginError, match="two plugins register"):
        plugins.named(hook)


def test_a_plugin_named_to_load_must_be_installed() -> None:
    with pytest.raises(PluginError, match="no installed plugin is named 'kingdee'"):
        build_plugins(DEFAULT_PLUGINS, installed=("kingdee",))


def _ratings(client: TestClient, flt: object) -> list[str]:
    response = client.get(
        "/api/v1/forms/account/records", params={"filter": json.dumps(flt), "sort": "name"}
    )
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


def test_a_plugin_field_type_is_filtered_with_the_operators_it_declares(
    client: TestClient,
) -> None:
    client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"})
    assert client.post("/api/v1/apps/crm/forms", json=ACCOUNT).status_code == 201
    for name, score in (("ACME-LEAD", 4), ("Q3-RENEWAL", 2), ("GLOBEX", None)):
        created = client.post("/api/v1/forms/account/records", json={"name": name, "score": score})
        assert created.status_code == 201, created.text

    assert _ratings(client, {"field": "score", "op": "gte", "value": 3}) == ["ACME-LEAD"]
    assert _ratings(client, {"field": "score", "op": "lt", "value": "3"}) == ["Q3-RENEWAL"]
    assert _ratings(client, {"field": "score", "op": "in", "value": [2, 4]}) == [
        "ACME-LEAD",
        "Q3-RENEWAL",
    ]
    assert _ratings(client, {"field": "score", "op": "is_blank", "value": True}) == ["GLOBEX"]

    for op, value in (("between", [1, 3]), ("contains", "4")):
        refused = client.get(
            "/api/v1/forms/account/records",
            params={"filter": json.dumps({"field": "score", "op": op, "value": value})},
        )
        assert refused.status_code == 422, refused.text
        [error] = refused.json()["errors"]
        assert error["code"] == "invalid_operator"
    wrong = client.get(
        "/api/v1/forms/account/records",
        params={"filter": json.dumps({"field": "score", "op": "eq", "value": 9})},
    )
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["code"] == "invalid_rating"


def test_a_plugin_field_type_is_read_by_formulas_and_validation_rules(
    client: TestClient,
) -> None:
    client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"})
    scored = {
        **ACCOUNT,
        "fields": [
            *ACCOUNT["fields"],
            {"key": "points", "label": "积分", "type": "formula", "expression": "score * 20"},
        ],
        "validations": [{"expression": "score >= 2", "message": "至少两星"}],
    }
    created = client.post("/api/v1/apps/crm/forms", json=scored)
    assert created.status_code == 201, created.text
    [points] = [f for f in created.json()["fields"] if f["key"] == "points"]
    assert points["result_type"] == "number"

    lead = client.post("/api/v1/forms/account/records", json={"name": "ACME-LEAD", "score": 4})
    assert lead.status_code == 201, lead.text
    assert lead.json()["points"] == "80.00"
    refused = client.post("/api/v1/forms/account/records", json={"name": "Q3", "score": 1})
    assert refused.status_code == 422
    assert "至少两星" in refused.text

    by_points = client.get(
        "/api/v1/forms/account/records",
        params={"filter": json.dumps({"field": "points", "op": "gt", "value": "50"})},
    )
    assert [item["name"] for item in by_points.json()["items"]] == ["ACME-LEAD"]
