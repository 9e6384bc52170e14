"""What every response tells the browser: run only this site's scripts, never be framed, never
sniff; and option colours that cannot carry CSS — on each database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from meridian.access import manage
from meridian.access.sessions import csrf_token_for
from meridian.app import create_app
from meridian.core.actor import Actor
from meridian.db.tables import forms
from meridian.http.deps import SESSION_COOKIE, Workspace
from meridian.settings import Settings
from tests.forms import STAGE, install_forms, lead_form

PASSWORD = "s3cret-pass"
HOSTILE_COLOR = "red;background-image:url(http://127.0.0.1:9/leak)"


@pytest.fixture
def web(settings: Settings, workspace: Workspace) -> Iterator[TestClient]:
    with workspace.transaction() as conn:
        install_forms(conn, lead_form({"key": "name", "label": "客户名称", "type": "text"}, STAGE))
        manage.add_user(
            conn,
            Actor.system(),
            email="admin@acme.test",
            name="admin",
            password=PASSWORD,
            passwords=workspace.passwords,
            roles=["administrator"],
            must_change_password=False,
        )
    with TestClient(create_app(settings, workspace=workspace), follow_redirects=False) as client:
        yield client


def _log_in(client: TestClient) -> str:
    response = client.post(
        "/login", data={"email": "admin@acme.test", "password": PASSWORD, "next": "/"}
    )
    assert response.status_code == 303, response.text
    return csrf_token_for(client.cookies[SESSION_COOKIE])


def _framing_and_sniffing_refused(response: object, framing: str = "DENY") -> None:
    headers = response.headers  # type: ignore[attr-defined]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == framing
    assert headers["referrer-policy"] == "same-origin"
    ancestors = "'none'" if framing == "DENY" else "'self'"
    assert f"frame-ancestors {ancestors}" in headers["content-security-policy"]


def test_pages_run_only_this_sites_scripts_and_cannot_be_framed(web: TestClient) -> None:
    login = web.get("/login")
    _log_in(web)
    pages = [
        login,
        web.get("/forms/lead"),
        web.get("/forms/lead/kanban"),
        web.get("/forms/nowhere"),
    ]
    for page in pages:
        assert page.headers["content-type"].startswith("text/html"), page.request.url
        _framing_and_sniffing_refused(page)
        policy = dict(
            directive.strip().split(" ", 1)
            for directive in page.headers["content-security-policy"].split(";")
        )
        assert policy["script-src"] == "'self'"  # no inline script, no eval
        assert policy["img-src"] == "'self' data: blob:"  # CSS cannot fetch other sites
        assert policy["object-src"] == "'none'"
        assert "<script>" not in page.text and " onclick=" not in page.text


def test_api_responses_and_files_are_not_sniffed_framed_or_run(web: TestClient) -> None:
    csrf = _log_in(web)
    for response in (web.get("/api/v1/apps"), web.get("/api/v1/nowhere"), web.get("/healthz")):
        _framing_and_sniffing_refused(response, "SAMEORIGIN")
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
    static = web.get("/static/app.js")
    assert static.status_code == 200
    assert static.headers["x-content-type-options"] == "nosniff"
    pdf = web.post(
        "/api/v1/files",
        files={"file": ("contract.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")},
        headers={"X-CSRF-Token": csrf},
    )
    assert pdf.status_code == 201, pdf.text
    shown = web.get(f"/api/v1/files/{pdf.json()['id']}")
    assert shown.headers["content-type"].startswith("application/pdf")
    # The record page frames it, and the browser's PDF viewer needs no default-src 'none'.
    _framing_and_sniffing_refused(shown, "SAMEORIGIN")
    assert shown.headers["content-security-policy"] == "frame-ancestors 'self'"
    docs = web.get("/api/docs")
    assert docs.status_code == 200 and "<script>" not in docs.text
    assert docs.headers["content-security-policy"].startswith("default-src 'self'")


@pytest.mark.parametrize(
    "color", [HOSTILE_COLOR, "url(//127.0.0.1:9/x)", "#12", "#1234567", "expression(alert(1))"]
)
def test_an_option_colour_that_is_not_a_colour_is_refused_naming_it(
    client: TestClient, color: str
) -> None:
    assert client.post("/api/v1/apps", json={"key": "s", "label": "S"}).status_code == 201
    form = {
        "key": "deal",
        "label": "商机",
        "fields": [
            {
                "key": "stage",
                "label": "阶段",
                "type": "select",
                "options": [
                    {"value": "new", "label": "新", "color": "#1f6feb"},
                    {"value": "won", "label": "赢单", "color": color},
                ],
            }
        ],
    }
    refused = client.post("/api/v1/apps/s/forms", json=form)
    assert refused.status_code == 422, refused.text
    [error] = refused.json()["errors"]
    assert error["field"].endswith("stage") and "'won'" in error["message"]
    assert "colour must be #rgb, #rrggbb" in error["message"]
    assert client.get("/api/v1/forms/deal").status_code == 404
    for good in ("#abc", "#A1B2C3", "green"):
        form["fields"][0]["options"][1]["color"] = good  # type: ignore[index]
        form["key"] = f"deal_{good.strip('#').lower()}"
        assert client.post("/api/v1/apps/s/forms", json=form).status_code == 201


def test_a_bad_colour_stored_before_the_check_is_drawn_grey(
    web: TestClient, workspace: Workspace
) -> None:
    with workspace.transaction() as conn:
        definition = conn.scalar(sa.select(forms.c.definition).where(forms.c.key == "lead"))
        definition["fields"][1]["options"][0]["color"] = HOSTILE_COLOR
        conn.execute(forms.update().where(forms.c.key == "lead").values(definition=definition))
    csrf = _log_in(web)
    created = web.post(
        "/forms/lead/new", data={"csrf_token": csrf, "name": "ACME-LEAD", "stage": "new"}
    )
    assert created.status_code == 303, created.text
    record_page = created.headers["location"]
    for path in ("/forms/lead", "/forms/lead/kanban", record_page):
        page = web.get(path)
        assert page.status_code == 200, path
        assert "leak" not in page.text and "url(" not in page.text, path
        assert "--chip:#8c8c8c" in page.text.replace(" ", ""), path
