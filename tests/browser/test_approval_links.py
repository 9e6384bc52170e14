"""An approver opens the link of their approval e-mail in a browser that never signed in, sees
the contract, the flow and the trail, and decides; opening the link again says it was used.
Screenshots in zh-CN and English."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from playwright.sync_api import Browser, expect

from meridian.core.actor import Actor
from meridian.db.tables import jobs
from meridian.flows.approvals import operations
from tests.approvals_support import Company, approver, build_company
from tests.browser.conftest import PHONE, SCREENSHOTS, Server, open_watched


def _link_of(company: Company, email: str) -> str:
    """The approval link of the newest e-mail queued for ``email`` (what the mail carries)."""
    with company.workspace.engine.connect() as conn:
        payloads: list[dict[str, Any]] = [
            row.payload
            for row in conn.execute(
                sa.select(jobs.c.payload)
                .where(jobs.c.kind == "notify.email")
                .order_by(jobs.c.id.desc())
            )
        ]
    return next(str(p["action_path"]) for p in payloads if p["to"] == email)


def _submit(company: Company, amount: str) -> int:
    record_id = company.contract(amount, discount="12")
    with company.workspace.transaction() as conn:
        approval = operations.submit(
            conn=conn,
            actor=company["sales"],
            flow_key="contract_approval",
            record_id=record_id,
            comment="客户要求本月签约",
        )
    return int(approval["id"])


def test_an_approver_decides_from_the_link_without_signing_in(
    browser: Browser, server: Server, admin: Actor
) -> None:
    company = build_company(server.workspace, admin)
    company.flow(
        "contract_approval",
        [approver("legal", company, "legal", label="法务"), approver("vp", company, "vp")],
    )
    shots = server.workspace.engine.dialect.name == "sqlite"
    for locale, amount, act in (("zh-CN", "180000", "approve"), ("en", "95000", "reject")):
        approval_id = _submit(company, amount)
        path = _link_of(company, "legal@acme.test")
        context = browser.new_context(viewport=PHONE, locale=locale)
        tab, errors = open_watched(context)
        tab.set_default_timeout(10_000)
        tab.goto(server.url + path)
        expect(tab.get_by_test_id("link-title")).to_contain_text("ACME-IDC-2026")
        expect(tab.get_by_test_id("link-trail")).to_contain_text("客户要求本月签约")
        acting = "您以 Legal 的身份审批" if locale == "zh-CN" else "You decide as Legal."
        expect(tab.get_by_test_id("link-acting-as")).to_contain_text(acting)
        if shots:
            tab.screenshot(path=SCREENSHOTS / f"approval-link.{locale}.png", full_page=True)
        tab.get_by_test_id("link-comment").fill("同意" if act == "approve" else "价格过低")
        tab.get_by_test_id(f"link-{act}").click()
        expect(tab.get_by_test_id("link-done")).to_be_visible()
        with server.workspace.read() as conn:
            described = operations.describe(conn, approval_id)
        legal = [t for t in described["tasks"] if t["assignee_id"] == company.id("legal")]
        assert [t["state"] for t in legal] == ["approved" if act == "approve" else "rejected"]
        assert described["state"] == ("running" if act == "approve" else "rejected")
        tab.goto(server.url + path)
        used = "此链接已经用过" if locale == "zh-CN" else "this link has already been used"
        expect(tab.get_by_test_id("link-refused")).to_contain_text(used)
        if shots:
            tab.screenshot(path=SCREENSHOTS / f"approval-link-used.{locale}.png", full_page=True)
        context.close()
        assert not errors, errors
