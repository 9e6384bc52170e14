"""A Word template's document on the record page: generated as .docx, its PDF made by
LibreOffice as a job (the panel shows it converting and refreshes itself), or a plain
sentence where LibreOffice is not installed."""

from __future__ import annotations

import io

import pytest
from docx import Document as WordDocument
from playwright.sync_api import Page, expect

from meridian.access.users import create_user
from meridian.core.actor import Actor
from meridian.documents.templates import save_template
from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import Worker
from meridian.records.files import store_file
from meridian.schema.catalog import get_form
from tests.browser.conftest import SCREENSHOTS, Server, log_in
from tests.documents_support import idc_records, install_idc


def _word_template(server: Server, actor: Actor) -> None:
    word = WordDocument()
    word.add_paragraph("报价单 {{ document.number }}：{{ record.customer }}")
    source = io.BytesIO()
    word.save(source)
    source.seek(0)
    with server.workspace.transaction() as conn:
        stored = store_file(
            conn=conn,
            actor=actor,
            store=server.workspace.settings.file_store_dir,
            name="报价.docx",
            stream=source,
        )
        save_template(
            conn=conn,
            actor=actor,
            form=get_form(conn, "quote"),
            draft={
                "key": "quote_docx",
                "label": "Word 报价",
                "kind": "docx",
                "source_file_id": stored["id"],
                "number_pattern": "WD-{0000}",
            },
            tz=server.workspace.tz,
        )


def test_a_word_document_shows_its_pdf_converting_then_ready_or_why_not(
    page: Page, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_idc(server.workspace)
    with server.workspace.transaction() as conn:
        user_id = create_user(
            conn=conn,
            email="a@acme.test",
            name="王磊",
            password="pass-word-1",
            passwords=server.workspace.passwords,
            is_admin=True,
        )
    actor = Actor(user_id=user_id, is_admin=True, name="王磊")
    ids = idc_records(server.workspace, actor)
    _word_template(server, actor)
    log_in(page, server, "a@acme.test", "pass-word-1")
    page.goto(f"{server.url}/forms/quote/records/{ids['quote']}")
    panel = page.locator("[data-testid=documents-panel]")
    page.select_option("[data-testid=document-template]", label="Word 报价")
    page.click("[data-testid=generate-document]")
    expect(panel.locator("[data-testid=document-pdf]")).to_contain_text("正在转为 PDF")
    panel.screenshot(path=str(SCREENSHOTS / "document-word-converting.png"))

    worker = Worker(server.workspace.engine, job_handlers(server.workspace), server.workspace.tz)
    while worker.run_once():
        pass
    link = panel.locator("[data-testid=document-pdf-link]")
    expect(link).to_have_count(1, timeout=15_000)  # the panel refreshes itself
    download = page.request.get(server.url + (link.get_attribute("href") or ""))
    assert download.ok and download.body().startswith(b"%PDF")

    monkeypatch.setenv("PATH", "/nonexistent")  # a server without LibreOffice
    page.select_option("[data-testid=document-template]", label="Word 报价")
    page.click("[data-testid=generate-document]")
    expect(panel).to_contain_text("服务器未安装 LibreOffice，无法生成 PDF。")
    panel.screenshot(path=str(SCREENSHOTS / "document-word-pdf.png"))
