"""A message written long before anyone reads it (a job's or a delivery's error, a failed PDF,
a notification) is kept as its catalog code and parameters, and each reader reads it in their
own language — on the pages, in the API and in an email — on each database."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from meridian.access import manage
from meridian.access.sessions import csrf_token_for
from meridian.access.users import set_locale
from meridian.app import create_app
from meridian.core.actor import Actor
from meridian.core.i18n import Text, Translator, localized, restored, stored
from meridian.db.tables import jobs, notifications, users, webhook_deliveries
from meridian.documents import word_pdf
from meridian.http.deps import SESSION_COOKIE, Workspace
from meridian.integrations.webhooks import create_webhook
from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import Worker
from meridian.notify.inbox import EMAIL, notify_users
from meridian.settings import Settings
from tests.conftest import workspace_on
from tests.forms import install_forms, lead_form

PASSWORD = "s3cret-pass-9"
UNREACHABLE = "http://127.0.0.1:9/hook"
READERS = {"zh-CN": "zh@acme.test", "en": "en@acme.test"}


@pytest.fixture
def readers(settings: Settings, workspace: Workspace) -> Iterator[dict[str, TestClient]]:
    """Two administrators, one reading Chinese and one English, each logged in."""
    with workspace.transaction() as conn:
        install_forms(conn, lead_form({"key": "name", "label": "客户名称", "type": "text"}))
        for locale, email in READERS.items():
            user = manage.add_user(
                conn,
                Actor.system(),
                email=email,
                name=locale,
                password=PASSWORD,
                passwords=workspace.passwords,
                roles=["administrator"],
                must_change_password=False,
            )
            set_locale(conn=conn, user_id=user["id"], locale=locale)
    app = create_app(settings, workspace=workspace)
    clients = {}
    for locale, email in READERS.items():
        client = TestClient(app, follow_redirects=False)
        client.__enter__()
        answer = client.post("/login", data={"email": email, "password": PASSWORD, "next": "/"})
        assert answer.status_code == 303, answer.text
        clients[locale] = client
    yield clients
    for client in clients.values():
        client.__exit__(None, None, None)


def run_jobs(engine: Engine) -> None:
    Worker(engine, job_handlers(workspace_on(engine)), ZoneInfo("Asia/Shanghai")).run_once()


def _kept(engine: Engine, column: sa.Column[str]) -> str:
    with engine.connect() as conn:
        found = conn.scalar(sa.select(column).where(column.is_not(None)))
    assert isinstance(found, str)
    return found


def test_a_failed_delivery_is_kept_as_its_code_and_read_in_each_readers_language(
    readers: dict[str, TestClient], workspace: Workspace, engine: Engine
) -> None:
    with workspace.transaction() as conn:
        hook = create_webhook(
            conn, Actor.system(), form_key="lead", events=["RecordCreated"], url=UNREACHABLE
        )
    writer = readers["en"]
    made = writer.post(
        "/api/v1/forms/lead/records",
        json={"name": "华东数据"},
        headers={"X-CSRF-Token": csrf_token_for(writer.cookies[SESSION_COOKIE])},
    )
    assert made.status_code == 201, made.text
    run_jobs(engine)

    # Kept: the sentence's code and the network error's own English as its parameter.
    for column in (webhook_deliveries.c.error, jobs.c.last_error):
        kept = json.loads(_kept(engine, column))
        assert kept["msgid"] == "the receiver could not be reached: {reason}", kept
        assert kept["params"]["reason"].startswith("ConnectError")
    assert "traceback" in json.loads(_kept(engine, jobs.c.last_error))["trace"].lower()

    said = {
        "zh-CN": "无法连接接收方：ConnectError",
        "en": "the receiver could not be reached: ConnectError",
    }
    for locale, client in readers.items():
        other = said["en" if locale == "zh-CN" else "zh-CN"]
        [delivery] = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json()["items"]
        assert delivery["error"].startswith(said[locale]), delivery
        page = client.get(f"/admin/webhooks/{hook['id']}")
        assert page.status_code == 200, page.text
        assert said[locale] in page.text and other not in page.text
        assert '{"msgid"' not in page.text
        [job] = client.get("/api/v1/jobs", params={"kind": "webhook.deliver"}).json()["items"]
        assert job["last_error"].startswith(said[locale]), job
        jobs_page = client.get("/admin/jobs", params={"state": "ready"}).text
        # The error in the reader's words; the traceback below it is the operators' English.
        [shown] = re.findall(r'data-testid="job-error">([^<]*)<', jobs_page)
        assert shown.startswith(said[locale]) and other not in shown


def test_a_failed_pdf_says_its_kept_reason_in_the_readers_language() -> None:
    """The download's 409 quotes the reason kept on the document, said again in the reader's
    words (not its code, not cut to a quoted value's length)."""
    took = Text(
        "LibreOffice did not finish converting the document within {seconds} s", seconds=120
    )
    kept = stored(took)
    refusal = word_pdf.pdf_refusal("failed", kept)
    english, chinese = (
        Translator("en").text(refusal.detail),
        Translator("zh-CN").text(refusal.detail),
    )
    assert english == (
        "the PDF could not be made: LibreOffice did not finish converting the document within 120 s"
    )
    assert chinese.startswith("无法生成 PDF") and "120" in chinese and "finish" not in chinese


def test_a_notification_is_kept_as_its_code_and_said_to_each_recipient_in_theirs(
    readers: dict[str, TestClient], workspace: Workspace, engine: Engine
) -> None:
    with workspace.transaction() as conn:
        people = conn.scalars(sa.select(users.c.id).order_by(users.c.id)).all()
        title = Text("To approve: {form} #{record_id}", form="合同", record_id=7)
        notify_users(conn, people, title=title, form_key="lead", record_id=7)
        kept = conn.scalars(sa.select(notifications.c.title)).all()
        emails = conn.execute(sa.select(jobs.c.payload).where(jobs.c.kind == EMAIL)).all()
    assert kept and all(json.loads(t)["msgid"] == "To approve: {form} #{record_id}" for t in kept)
    # An email is said when it is sent, to its recipient: the job knows their language.
    by_address = {payload["to"]: payload for (payload,) in emails}
    for locale, email in READERS.items():
        payload = by_address[email]
        assert payload["locale"] == locale
        assert (
            localized(payload["title"], locale)
            == {
                "zh-CN": "待审批：合同 #7",
                "en": "To approve: 合同 #7",
            }[locale]
        )
    said = {"zh-CN": "待审批：合同 #7", "en": "To approve: 合同 #7"}
    for locale, client in readers.items():
        [item] = client.get("/api/v1/notifications").json()["items"]
        assert item["title"] == said[locale]
        page = client.get("/inbox")
        assert said[locale] in page.text


def test_kept_messages_round_trip_and_older_text_still_reads() -> None:
    inner = Text("{field} must be filled in", field="客户名称")
    outer = Text("record {record_id}: {message}", record_id=3, message=inner)
    kept = stored(outer)
    assert json.loads(kept)["params"]["message"]["msgid"] == "{field} must be filled in"
    assert restored(kept) == outer and restored(kept).params["message"].msgid == inner.msgid
    assert localized(kept, "en") == "record 3: 客户名称 must be filled in"
    assert localized(kept, "zh-CN") != localized(kept, "en")
    # Too long for its column: the English sentence, never half a JSON document.
    assert stored(outer, limit=20) == str(outer)[:20]
    # Plain text is kept as it is; rows written before keep reading by their half.
    assert stored("合同到期") == "合同到期"
    assert localized("the receiver answered 500 / 接收方返回 500", "zh-CN") == "接收方返回 500"
    assert localized("the receiver answered 500 / 接收方返回 500", "en") == (
        "the receiver answered 500"
    )
    assert localized("TCP / UDP", "zh-CN") == "TCP / UDP"
    assert localized("华南 / 深圳", "en") == "华南 / 深圳"
