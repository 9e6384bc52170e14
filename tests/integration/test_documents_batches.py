"""Batches print many records into one PDF or a ZIP, as a job with exact progress; Word
templates fill a .docx; ``meridian documents verify`` answers with its exit code."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from docx import Document as WordDocument
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from meridian.access.sessions import csrf_token_for
from meridian.app import create_app
from meridian.cli.main import cli
from meridian.core.actor import Actor
from meridian.documents import batch_run
from meridian.documents.word import libreoffice
from meridian.http.deps import SESSION_COOKIE, Workspace
from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import Worker
from meridian.records import service
from meridian.schema.catalog import get_form
from meridian.settings import Settings
from tests.documents_support import (
    PASSWORD,
    company_pkcs12,
    copy_quote,
    idc_records,
    install_idc,
    pdf_text,
)


def _work(workspace: Workspace) -> None:
    worker = Worker(workspace.engine, job_handlers(workspace), workspace.tz)
    while worker.run_once():
        pass


def test_a_batch_prints_every_quote_into_one_pdf_or_a_zip(
    workspace: Workspace,
    admin: Actor,
    client: TestClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two quotes a chunk, so three quotes make two parts joined into one PDF.
    monkeypatch.setattr(batch_run, "CHUNK", 2)
    install_idc(workspace)
    first = idc_records(workspace, admin)["quote"]
    quotes = [first, copy_quote(workspace, admin, first), copy_quote(workspace, admin, first)]
    queued = client.post(
        "/api/v1/forms/quote/documents/batches",
        json={"template": "quote_pdf", "ids": quotes, "output": "pdf"},
    )
    assert queued.status_code == 202, queued.text
    batch = queued.json()
    assert (batch["state"], batch["done"], batch["total"]) == ("queued", 0, 3)
    _work(workspace)
    finished = client.get(f"/api/v1/documents/batches/{batch['id']}").json()
    assert (finished["state"], finished["done"]) == ("done", 3), finished
    combined = client.get(f"/api/v1/documents/batches/{batch['id']}/file")
    assert combined.headers["content-type"] == "application/pdf"
    text = pdf_text(combined.content, tmp_path)
    assert text.count("\f") == 6  # three 2-page quotes
    numbers = [f"-000{n}" for n in (1, 2, 3)]
    assert all(number in text for number in numbers)
    assert text.count("人民币柒拾柒万伍仟贰佰零伍元柒角") == 3

    zipped = client.post(
        "/api/v1/forms/quote/documents/batches",
        json={"template": "quote_pdf", "ids": quotes, "output": "zip"},
    ).json()
    _work(workspace)
    archive = client.get(f"/api/v1/documents/batches/{zipped['id']}/file")
    names = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
    assert len(names) == 3
    assert all(name.endswith("-v2.pdf") for name in names)  # each quote's second version


def test_a_batch_stops_at_a_record_that_may_not_be_printed(
    workspace: Workspace, admin: Actor, client: TestClient
) -> None:
    install_idc(workspace)
    contract = idc_records(workspace, admin)["contract"]  # a draft: its condition fails
    queued = client.post(
        "/api/v1/forms/contract/documents/batches",
        json={"template": "contract_pdf", "ids": [contract], "output": "zip"},
    ).json()
    _work(workspace)
    failed = client.get(f"/api/v1/documents/batches/{queued['id']}").json()
    assert failed["state"] == "failed"
    assert failed["error"].startswith(f"record {contract}: this record does not meet")
    # Kept as its code: a reader of Chinese reads it in Chinese.
    chinese = client.get(
        f"/api/v1/documents/batches/{queued['id']}", headers={"Accept-Language": "zh-CN"}
    ).json()
    assert f"记录 {contract}" in chinese["error"] and "生成条件" in chinese["error"]
    assert client.get(f"/api/v1/documents/batches/{queued['id']}/file").status_code == 404
    bad = client.post(
        "/api/v1/forms/contract/documents/batches",
        json={"template": "contract_pdf", "ids": [contract], "output": "tar"},
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "output"


def test_a_word_template_is_filled_from_the_record_and_made_a_pdf_by_libreoffice(
    workspace: Workspace,
    admin: Actor,
    client: TestClient,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    install_idc(workspace)
    ids = idc_records(workspace, admin)
    word = WordDocument()
    word.add_paragraph("报价单 {{ document.number }}：{{ record.customer }}")
    word.add_paragraph(
        "合计 {{ record['items'] | total('quantity', 'unit_price', 'months') | money }}"
    )
    word.add_paragraph(
        "大写 {{ record['items'] | total('quantity', 'unit_price', 'months') | rmb_upper }}"
    )
    source = io.BytesIO()
    word.save(source)
    uploaded = client.post(
        "/api/v1/files",
        files={"file": ("报价.docx", source.getvalue(), "application/octet-stream")},
    ).json()
    saved = client.post(
        "/api/v1/forms/quote/templates",
        json={
            "key": "quote_docx",
            "label": "Word 报价",
            "kind": "docx",
            "source_file_id": uploaded["id"],
            "number_pattern": "WD-{0000}",
        },
    )
    assert saved.status_code == 201, saved.text
    made = client.post(
        f"/api/v1/forms/quote/records/{ids['quote']}/documents", json={"template": "quote_docx"}
    )
    assert made.status_code == 201, made.text
    assert made.json()["name"] == "WD-0001.docx"
    filled = client.get(
        f"/api/v1/forms/quote/records/{ids['quote']}/documents/{made.json()['id']}/file"
    )
    paragraphs = [p.text for p in WordDocument(io.BytesIO(filled.content)).paragraphs]
    assert paragraphs == [
        "报价单 WD-0001：华为云计算技术有限公司",
        "合计 ¥816,006.00",
        "大写 捌拾壹万陆仟零陆元整",
    ]
    assert libreoffice() is not None, "make system installs LibreOffice (libreoffice-writer-nogui)"
    pdf_url = f"/api/v1/forms/quote/records/{ids['quote']}/documents/{made.json()['id']}/pdf"
    pending = client.get(pdf_url, headers={"Accept-Language": "zh-CN"})
    assert pending.status_code == 409 and pending.json()["reason"] == "pdf_pending"
    assert "LibreOffice" in pending.json()["detail"] and "请稍后再试" in pending.json()["detail"]
    _work(workspace)  # the conversion job: soffice --headless in a profile of its own
    as_pdf = client.get(pdf_url)
    assert as_pdf.status_code == 200, as_pdf.text
    text = pdf_text(as_pdf.content, tmp_path)
    assert "报价单 WD-0001：华为云计算技术有限公司" in text
    assert "合计 ¥816,006.00" in text and "大写 捌拾壹万陆仟零陆元整" in text
    listed = client.get(f"/api/v1/forms/quote/records/{ids['quote']}/documents").json()["items"]
    assert [(d["name"], d["pdf"]) for d in listed] == [("WD-0001.docx", "ready")]

    # A server without LibreOffice says so, in the reader's language, and queues nothing.
    monkeypatch.setenv("PATH", str(tmp_path / "no-programs"))
    again = client.post(
        f"/api/v1/forms/quote/records/{ids['quote']}/documents", json={"template": "quote_docx"}
    ).json()
    again_url = f"/api/v1/forms/quote/records/{ids['quote']}/documents/{again['id']}/pdf"
    for language, said in (("zh-CN", "未安装"), ("en", "not installed")):
        missing = client.get(again_url, headers={"Accept-Language": language})
        assert missing.status_code == 409 and missing.json()["reason"] == "libreoffice_missing"
        assert "LibreOffice" in missing.json()["detail"] and said in missing.json()["detail"]
        asked = client.post(again_url, headers={"Accept-Language": language})
        assert asked.status_code == 409 and said in asked.json()["detail"]
    panel_url = f"/forms/quote/records/{ids['quote']}/documents"
    with TestClient(create_app(settings, workspace=workspace), follow_redirects=False) as web:
        signed_in = web.post(
            "/login", data={"email": "admin@acme.test", "password": "correct horse", "next": "/"}
        )
        assert signed_in.status_code == 303, signed_in.text
        for language, said in (
            ("zh-CN", "服务器未安装 LibreOffice，无法生成 PDF。"),
            ("en", "PDF needs LibreOffice, which is not installed on this server."),
        ):
            panel = web.get(panel_url, headers={"Accept-Language": language})
            assert said in panel.text
        monkeypatch.undo()
        # Installed again: the page asks for it, the worker makes it.
        csrf = csrf_token_for(web.cookies[SESSION_COOKIE])
        asked = web.post(
            f"{panel_url}/{again['id']}/pdf",
            data={"csrf_token": csrf},
            headers={"Accept-Language": "zh-CN"},
        )
        assert "正在转为 PDF…" in asked.text, asked.text
        _work(workspace)
        panel = web.get(panel_url)
        assert f"/documents/{again['id']}/pdf" in panel.text
    assert "WD-0001" in pdf_text(client.get(again_url).content, tmp_path)
    not_word = client.post(
        "/api/v1/forms/quote/templates",
        json={"key": "x", "label": "x", "kind": "docx", "source_file_id": 999999},
    )
    assert not_word.status_code == 422
    assert not_word.json()["errors"][0]["field"] == "source_file_id"


def test_verify_exits_0_for_an_intact_signature_and_1_otherwise(
    workspace: Workspace, admin: Actor, client: TestClient, tmp_path: Path
) -> None:
    install_idc(workspace)
    contract = idc_records(workspace, admin)["contract"]
    with workspace.transaction() as conn:
        service.update_record(
            conn=conn,
            actor=admin,
            form=get_form(conn, "contract"),
            record_id=contract,
            values={"status": "active"},
        )
    uploaded = client.post(
        "/api/v1/documents/signing-keys",
        files={"file": ("company.p12", company_pkcs12(), "application/x-pkcs12")},
        data={"password": PASSWORD},
    )
    assert uploaded.status_code == 201, uploaded.text
    wrong = client.post(
        "/api/v1/documents/signing-keys",
        files={"file": ("company.p12", company_pkcs12(), "application/x-pkcs12")},
        data={"password": "guess"},
        headers={"Accept-Language": "zh-CN"},
    )
    assert wrong.status_code == 422 and "密码错误" in wrong.json()["errors"][0]["message"]
    made = client.post(
        f"/api/v1/forms/contract/records/{contract}/documents", json={"template": "contract_pdf"}
    ).json()
    signed = client.get(
        f"/api/v1/forms/contract/records/{contract}/documents/{made['id']}/file"
    ).content
    intact = tmp_path / "contract.pdf"
    intact.write_bytes(signed)
    changed = bytearray(signed)
    changed[signed.index(b"/Type /Page") + 2] ^= 0x01
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(bytes(changed))
    unsigned = tmp_path / "unsigned.pdf"
    unsigned.write_bytes(signed[: signed.index(b"/Type /Sig")].rsplit(b"%%EOF", 1)[0] + b"%%EOF\n")

    runner = CliRunner()
    result = runner.invoke(cli, ["documents", "verify", str(intact)])
    assert result.exit_code == 0, result.output
    assert "北京子午数据科技有限公司" in result.stdout
    for broken in (tampered, unsigned, tmp_path / "missing.pdf"):
        assert runner.invoke(cli, ["documents", "verify", str(broken)]).exit_code == 1, broken
