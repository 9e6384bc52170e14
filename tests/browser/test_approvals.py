"""Approvals in the browser: a builder designs a flow with a branch and a 会签 through the
designer's forms (a refused save shows the problem at its node), a salesperson submits a
contract from its page, two approvers approve from their inbox and a third from the record
page, and the record shows the trail and unlocks. Screenshots in both languages."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from meridian.access.users import set_locale
from meridian.core.actor import Actor
from tests.approvals_support import Company, approver, build_company
from tests.browser.conftest import DESKTOP, SCREENSHOTS, Server, log_in, open_watched

PASSWORD = "correct horse"


def _nodes(company: Company) -> list[dict[str, object]]:
    return [
        {
            "id": "by_amount",
            "type": "condition",
            "branches": [
                {
                    "condition": "amount > 100000",
                    "nodes": [approver("vp", company, "vp", label="副总裁")],
                },
                {"nodes": []},
            ],
        },
        approver("legal_finance", company, "legal", "finance", mode="all", label="法务与财务会签"),
        {
            "id": "tell_cfo",
            "type": "cc",
            "approvers": [{"type": "user", "ids": [company.id("cfo")]}],
        },
    ]


def _as(
    browser: Browser, server: Server, who: str, locale: str = "zh-CN"
) -> tuple[Page, list[str]]:
    context = browser.new_context(viewport=DESKTOP, locale=locale)
    tab, errors = open_watched(context)
    tab.set_default_timeout(10_000)
    log_in(tab, server, f"{who}@acme.test", PASSWORD)
    return tab, errors


def _shoot(page: Page, name: str, locale: str) -> None:
    page.screenshot(path=SCREENSHOTS / f"approvals-{name}.{locale}.png", full_page=False)


def test_design_submit_and_approve_in_the_browser(
    browser: Browser, server: Server, admin: Actor, page: Page
) -> None:
    company = build_company(server.workspace, admin)
    record_id = company.contract("250000")
    shots = server.workspace.engine.dialect.name == "sqlite"

    # The builder designs the flow through the designer's forms: a condition branch (written
    # with the filter row) to the VP, then a 会签 of legal and finance.
    log_in(page, server, "admin@acme.test", PASSWORD)
    page.goto(f"{server.url}/admin/approvals/new?form=contract")
    page.fill("[data-testid=flow-key]", "contract_approval")
    page.fill("[data-testid=flow-label]", "合同审批")
    panel = page.locator("input[name=panel]")

    def add(slot: str, kind: str) -> None:
        page.get_by_test_id(f"add-{slot}").locator("summary").click()
        page.get_by_test_id(f"add-{slot}-{kind}").click()

    add("top", "condition")
    expect(panel).to_have_value("condition_1")
    page.get_by_test_id("filter-0-field").select_option("amount")
    page.get_by_test_id("filter-0-op").select_option(">")
    page.get_by_test_id("filter-0-value").fill("100000")
    page.get_by_test_id("filter-0-add").click()
    expect(page.get_by_test_id("branch-0-condition")).to_have_value("amount > 100000")
    expect(page.get_by_test_id("default-branch")).to_be_visible()
    add("condition_1.0", "approver")
    expect(panel).to_have_value("approver_1")
    page.get_by_test_id("node-label").fill("副总裁")
    page.get_by_test_id("src-users").select_option(label="Vp")
    add("condition_1", "approver")
    expect(panel).to_have_value("approver_2")
    expect(page.get_by_test_id("node-approver_1")).to_contain_text("Vp")
    page.get_by_test_id("node-label").fill("法务与财务会签")
    page.get_by_test_id("node-mode").select_option("all")
    expect(page.get_by_test_id("node-approver_2")).to_contain_text("会签")
    # Saved before it names its approvers: refused, and the problem is shown at the node.
    page.click("[data-testid=save-flow]")
    expect(page.get_by_test_id("node-problem-approver_2")).to_contain_text("审批人")
    expect(page.get_by_test_id("flow-node-problems")).to_be_visible()
    expect(panel).to_have_value("approver_2")
    page.get_by_test_id("src-users").select_option(label=["Legal", "Finance"])
    page.get_by_test_id("node-editable").select_option("note")
    page.click("[data-testid=save-flow]")
    page.wait_for_url(f"{server.url}/admin/approvals/contract_approval?saved=1")
    expect(page.get_by_test_id("flow-saved")).to_be_visible()
    expect(page.get_by_test_id("node-approver_1")).to_contain_text("Vp")
    expect(page.get_by_test_id("node-approver_2")).to_contain_text("会签")
    expect(page.get_by_test_id("node-approver_2")).to_contain_text("Legal")
    page.get_by_test_id("open-approver_2").click()
    expect(panel).to_have_value("approver_2")
    if shots:
        _shoot(page, "designer", "zh-CN")

    # The salesperson submits the contract from its page.
    sales, sales_errors = _as(browser, server, "sales")
    record_url = f"{server.url}/forms/contract/records/{record_id}"
    sales.goto(record_url)
    sales.get_by_test_id("submit-for-approval").click()
    sales.wait_for_load_state("networkidle")
    expect(sales.get_by_test_id("approval-state")).to_contain_text("审批中")

    # The VP approves from the inbox; legal too, with a comment.
    for who in ("vp", "legal"):
        tab, errors = _as(browser, server, who)
        tab.goto(f"{server.url}/approvals")
        expect(tab.get_by_test_id("count-pending")).to_have_text("1")
        expect(tab.get_by_test_id("approvals-pending")).to_have_text("1")
        if shots and who == "legal":
            _shoot(tab, "inbox", "zh-CN")
        tab.locator("[data-testid^=comment-]").fill("同意" if who == "vp" else "条款已审")
        tab.locator("[data-testid^=approve-]").click()
        tab.wait_for_load_state("networkidle")
        expect(tab.get_by_test_id("count-pending")).to_have_text("0")
        expect(tab.get_by_test_id("count-done")).to_have_text("1")
        assert not errors, errors
        tab.context.close()

    # Finance approves from the record page; the record shows the trail and unlocks.
    finance, finance_errors = _as(browser, server, "finance")
    finance.goto(record_url)
    expect(finance.get_by_test_id("approval-state")).to_contain_text("审批中")
    if shots:
        _shoot(finance, "record", "zh-CN")
    finance.get_by_test_id("record-approve").click()
    finance.wait_for_load_state("networkidle")
    expect(finance.get_by_test_id("approval-state")).to_have_count(0)
    sales.goto(record_url)
    trail = sales.locator("[data-testid^=approval-trail-]")
    expect(trail).to_contain_text("审批结束: 已通过")
    expect(trail).to_contain_text("条款已审")
    expect(sales.get_by_test_id("submit-for-approval")).to_be_visible()  # unlocked: it may go again
    assert not sales_errors and not finance_errors


def test_screenshots_in_english(browser: Browser, server: Server, admin: Actor) -> None:
    if server.workspace.engine.dialect.name != "sqlite":
        pytest.skip("the screenshots are taken once, over SQLite")
    company = build_company(server.workspace, admin)
    company.flow("contract_approval", _nodes(company))
    from meridian.flows.approvals import operations

    for amount in ("250000", "80000"):
        record_id = company.contract(amount)
        with server.workspace.transaction() as conn:
            operations.submit(
                conn=conn, actor=company["sales"], flow_key="contract_approval", record_id=record_id
            )
    with server.workspace.transaction() as conn:
        for who in ("legal", "admin"):
            user_id = company.admin.user_id if who == "admin" else company.id(who)
            set_locale(conn=conn, user_id=user_id, locale="en")
    legal, errors = _as(browser, server, "legal", "en")
    legal.goto(f"{server.url}/approvals")
    expect(legal.get_by_test_id("count-pending")).to_have_text("1")  # the large one is at the VP
    _shoot(legal, "inbox", "en")
    legal.goto(f"{server.url}/forms/contract/records/{record_id}")
    expect(legal.get_by_test_id("approval-state")).to_contain_text("In approval")
    _shoot(legal, "record", "en")
    admin_tab, admin_errors = _as(browser, server, "admin", "en")
    admin_tab.goto(f"{server.url}/admin/approvals/contract_approval")
    expect(admin_tab.get_by_test_id("node-vp")).to_be_visible()
    admin_tab.get_by_test_id("open-legal_finance").click()
    expect(admin_tab.locator("input[name=panel]")).to_have_value("legal_finance")
    _shoot(admin_tab, "designer", "en")
    assert not errors and not admin_errors
