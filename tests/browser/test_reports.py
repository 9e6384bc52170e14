"""Reports in a real browser (issue 18): a builder drags a funnel and a pivot together, a
manager clicks a bar and lands on exactly the records behind it, and the cockpit is
photographed in both languages and at phone width."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Page, expect

from meridian.access import manage
from meridian.access.users import create_user
from meridian.core.actor import Actor
from meridian.db.tables import users
from meridian.records.bulk import create_records
from meridian.reports import store
from meridian.schema.catalog import get_form
from meridian.solutions import idc_crm
from meridian.solutions.idc_crm.stage_history import seed_stage_history
from meridian.solutions.loader import (
    install_approvals,
    install_pipelines,
    install_solution,
    load_sample_data,
)
from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, Server, drag, log_in, open_watched
from tests.forms import install_forms, select_field

STAGES = (("lead", "线索"), ("proposal", "方案"), ("won", "赢单"))
DEAL = {
    "key": "deal",
    "label": "商机",
    "title_field": "name",
    "fields": [
        {"key": "name", "label": "名称", "type": "text", "required": True},
        select_field("stage", "阶段", *STAGES),
        select_field("level", "等级", ("A", "A级"), ("B", "B级")),
        {"key": "amount", "label": "金额", "type": "money"},
    ],
}
SLOW = 30_000
"""Milliseconds to wait for the page on a busy machine (charts animate, previews load)."""
PLAN = [("lead", "A")] * 5 + [("lead", "B")] * 2 + [("proposal", "A")] * 3 + [("won", "B")] * 4


@pytest.fixture
def sales(server: Server) -> Server:
    with server.workspace.transaction() as conn:
        create_user(
            conn=conn,
            email="builder@acme.test",
            name="Builder",
            password="builder-pass-1",
            passwords=server.workspace.passwords,
            is_admin=True,
        )
        install_forms(conn, DEAL)
        create_records(
            conn=conn,
            actor=Actor.system(),
            form=get_form(conn, "deal"),
            items=[
                {"name": f"ACME-{i}", "stage": stage, "level": level, "amount": "1000"}
                for i, (stage, level) in enumerate(PLAN)
            ],
        )
    return server


def _saved(server: Server, label: str) -> dict:
    with server.workspace.read() as conn:
        found = [
            r
            for r in store.listing(conn=conn, actor=Actor.system(), kind="report")
            if r["label"] == label
        ]
    assert len(found) == 1, label
    return found[0]


def _build(page: Page, server: Server, label: str, chart: str, dimensions: list[str]) -> None:
    page.goto(f"{server.url}/reports/new?app_key=sales&form=deal")
    for ref in dimensions:
        drag(page, f"[data-palette] [data-ref='{ref}']", "[data-zone=dimensions]")
    drag(page, "[data-palette] [data-ref='__count']", "[data-zone=measures]")
    page.select_option("[data-chart-type]", chart)
    page.fill("[data-testid=report-name]", label)
    page.click("[data-save]")
    expect(page.locator("#builder")).not_to_have_attribute("data-report", "null", timeout=SLOW)


def test_a_builder_drags_a_funnel_and_a_pivot_together(page: Page, sales: Server) -> None:
    page.set_default_timeout(SLOW)
    log_in(page, sales, "builder@acme.test", "builder-pass-1")
    _build(page, sales, "阶段漏斗", "funnel", ["stage"])
    funnel = _saved(sales, "阶段漏斗")["definition"]
    assert [d["field"] for d in funnel["dimensions"]] == ["stage"]
    assert [m["agg"] for m in funnel["measures"]] == ["count"]
    assert funnel["chart"]["type"] == "funnel"
    expect(page.locator("[data-testid=preview] canvas")).to_have_count(1, timeout=SLOW)

    _build(page, sales, "阶段 × 等级", "pivot", ["stage", "level"])
    pivot = _saved(sales, "阶段 × 等级")["definition"]
    assert [d["field"] for d in pivot["dimensions"]] == ["stage", "level"]
    assert pivot["totals"] is True and pivot["chart"]["type"] == "pivot"
    table = page.locator("[data-testid=pivot]")
    expect(table).to_be_visible(timeout=SLOW)
    # The grand total is the database's, and it is every deal.
    expect(table.locator("tr.total td").last).to_have_text(str(len(PLAN)), timeout=SLOW)
    expect(table.locator("thead th").nth(1)).to_have_text("A级", timeout=SLOW)


def _on_the_home_dashboard(
    conn: sa.Connection, server: Server, label: str, definition: dict
) -> tuple[dict, dict]:
    """A bar report of deals saved with ``definition`` and the app's home dashboard showing
    it alone, full width."""
    report = store.save(
        conn=conn,
        actor=Actor.system(),
        kind="report",
        document={"app_key": "sales", "label": label, "definition": definition},
        tz=server.workspace.tz,
    )
    board = store.save(
        conn=conn,
        actor=Actor.system(),
        kind="dashboard",
        document={
            "app_key": "sales",
            "label": f"{label}看板",
            "home_for": "*",
            "definition": {"cards": [{"report_id": report["id"], "w": 12, "h": 6}]},
        },
        tz=server.workspace.tz,
    )
    return report, board


def _click_the_bar(page: Page, server: Server, bar: int, value: int) -> None:
    """Sign in, open the app's home dashboard and click the middle of the bar at (``bar``,
    ``value``) in the chart's coordinates; wait for the grid it leads to."""
    log_in(page, server, "builder@acme.test", "builder-pass-1")
    page.goto(f"{server.url}/apps/sales")  # the dashboard is the app's home
    expect(page.locator("[data-testid=card] [data-drawn='1']")).to_have_count(1, timeout=SLOW)
    point = page.evaluate(
        """([bar, value]) => {
          const box = document.querySelector("[data-chart]");
          box.scrollIntoView();
          const [x, y] = box._chart.convertToPixel({seriesIndex: 0}, [bar, value]);
          const frame = box.getBoundingClientRect();
          return {x: frame.left + x, y: frame.top + y};
        }""",
        [bar, value],
    )
    page.mouse.click(point["x"], point["y"])
    page.wait_for_url(lambda url: "/forms/deal?filter=" in url)
    page.wait_for_load_state("networkidle")


def _grid_shows_the_deals_in(page: Page, stage: str, label: str) -> None:
    expect(page.locator("table.grid tbody tr[data-id]")).to_have_count(
        Counter(s for s, _ in PLAN)[stage], timeout=SLOW
    )
    for cell in page.locator("table.grid tbody td[data-field=stage]").all():
        expect(cell).to_contain_text(label, timeout=SLOW)


def test_a_click_on_a_bar_lands_on_the_records_behind_it(page: Page, sales: Server) -> None:
    page.set_default_timeout(SLOW)
    with sales.workspace.transaction() as conn:
        _, board = _on_the_home_dashboard(
            conn,
            sales,
            "按阶段",
            {
                "form": "deal",
                "dimensions": [{"field": "stage"}],
                "measures": [{"key": "deals", "agg": "count"}],
                "chart": {"type": "bar"},
            },
        )
    _click_the_bar(page, sales, 2, 2)  # the third bar: 赢单
    _grid_shows_the_deals_in(page, "won", "赢单")
    # A resized card is saved with its new size.
    page.goto(f"{sales.url}/dashboards/{board['id']}")
    expect(page.locator("[data-testid=card][data-loaded='1']")).to_have_count(1, timeout=SLOW)
    handle = page.locator("[data-resize]").bounding_box()
    assert handle is not None
    page.mouse.move(handle["x"] + 5, handle["y"] + 5)
    page.mouse.down()
    page.mouse.move(handle["x"] - DESKTOP["width"] / 3, handle["y"] + 5, steps=8)
    page.mouse.up()
    expect(page.locator("#dashboard")).to_have_attribute("data-saved", "1", timeout=SLOW)
    with sales.workspace.read() as conn:
        saved = store.get(conn=conn, actor=Actor.system(), kind="dashboard", item_id=board["id"])
    assert saved["definition"]["cards"][0]["w"] < 12


NOTE = {
    "key": "note",
    "label": "跟进",
    "fields": [
        {"key": "deal", "label": "商机", "type": "link", "target": "deal"},
        {"key": "at", "label": "时间", "type": "datetime"},
    ],
}


def test_a_bar_of_a_related_report_lands_on_the_records_behind_it(
    page: Page, sales: Server
) -> None:
    """Follow-ups counted per deal (a related aggregate): the grid's filters cannot say
    the bar, so the click goes through the report, found again as the viewer reads it."""
    page.set_default_timeout(SLOW)
    with sales.workspace.transaction() as conn:
        install_more_forms(conn, NOTE)
        deals = create_records_of(conn, "deal")
        create_records(
            conn=conn,
            actor=Actor.system(),
            form=get_form(conn, "note"),
            items=[{"deal": deal, "at": "2026-03-01T10:00:00+08:00"} for deal in deals[:6]],
        )
        _on_the_home_dashboard(
            conn,
            sales,
            "跟进次数",
            {
                "form": "deal",
                "related": [
                    {"key": "touch", "parts": [{"form": "note", "link": "deal", "at": "at"}]}
                ],
                "dimensions": [{"field": "stage"}],
                "measures": [{"key": "touches", "agg": "sum", "field": "touch.count"}],
                "chart": {"type": "bar"},
            },
        )
    _click_the_bar(page, sales, 0, 3)  # the first bar: 线索, 6 follow-ups
    _grid_shows_the_deals_in(page, "lead", "线索")


def install_more_forms(conn: sa.Connection, *definitions: dict) -> None:
    from meridian.schema import changes
    from meridian.schema.model import Form, parse_model

    for definition in definitions:
        changes.create_form(
            conn=conn,
            actor=Actor.system(),
            form=parse_model(Form, {"app_key": "sales", **definition}),
        )


def create_records_of(conn: sa.Connection, form_key: str) -> list[int]:
    table = get_form(conn, form_key)
    from meridian.schema.compile import compile_form

    main = compile_form(table).main
    return list(conn.scalars(sa.select(main.c.id).order_by(main.c.id)))


def test_cockpit_screenshots(browser: Browser, server: Server) -> None:
    if server.workspace.engine.dialect.name != "sqlite":
        pytest.skip("the screenshots are taken once, over SQLite")
    reps = []
    with server.workspace.transaction() as conn:
        admin_id = create_user(
            conn=conn,
            email="admin@idc.test",
            name="王经理",
            password="demo4meridian",
            passwords=server.workspace.passwords,
            is_admin=True,
        )
        for name in ("李娜", "张伟", "陈静"):
            reps.append(
                manage.add_user(
                    conn,
                    Actor.system(),
                    email=f"sales{len(reps)}@idc.test",
                    name=name,
                    password="Passw0rd-long",
                    passwords=server.workspace.passwords,
                    must_change_password=False,
                )["id"]
            )
    admin = Actor(user_id=admin_id, is_admin=True, name="王经理")
    app, forms = idc_crm.load_package()
    install_solution(server.workspace.engine, admin, app, forms, reports=idc_crm.load_reports())
    load_sample_data(
        server.workspace.engine, admin, idc_crm.generate(seed=7, scale=240), owners=reps
    )
    install_approvals(server.workspace.engine, admin, idc_crm.load_approvals())
    install_pipelines(server.workspace.engine, admin, idc_crm.load_pipelines())
    seed_stage_history(server.workspace.engine, seed=7)
    as_of = (date.today() - timedelta(days=20)).isoformat()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for locale in ("zh-CN", "en"):
        with server.workspace.transaction() as conn:
            conn.execute(sa.update(users).where(users.c.id == admin_id).values(locale=locale))
        for device, viewport in (("", DESKTOP), ("-phone", PHONE)):
            context = browser.new_context(viewport=viewport, locale=locale)
            page, errors = open_watched(context)
            log_in(page, server, "admin@idc.test", "demo4meridian")
            response = page.goto(f"{server.url}/apps/idc_crm?date_from=2025-01-01&as_of={as_of}")
            assert response is not None and response.status == 200
            cards = page.locator("[data-testid=card]")
            expect(cards).to_have_count(21, timeout=SLOW)
            expect(page.locator("[data-testid=card][data-loaded='1']")).to_have_count(
                21, timeout=SLOW
            )
            expect(page.locator("[data-testid=as-of]")).to_have_value(as_of)
            page.wait_for_timeout(800)  # the charts' entry animation
            page.screenshot(path=SCREENSHOTS / f"cockpit{device}.{locale}.png", full_page=True)
            context.close()
            assert not errors, f"JavaScript errors or CSP violations: {errors}"


def test_the_builder_sets_formulas_expression_filters_and_sort(page: Page, sales: Server) -> None:
    page.set_default_timeout(SLOW)
    log_in(page, sales, "builder@acme.test", "builder-pass-1")
    page.goto(f"{sales.url}/reports/new?app_key=sales&form=deal")
    drag(page, "[data-palette] [data-ref='stage']", "[data-zone=dimensions]")
    drag(page, "[data-palette] [data-ref='__count']", "[data-zone=measures]")
    drag(page, "[data-palette] [data-ref='amount']", "[data-zone=measures]")
    page.fill("[data-zone=measures] .builder-item >> nth=1 >> [data-where]", 'level = "A"')
    page.click("[data-testid=add-formula]")
    formula = page.locator("[data-formula]").first
    formula.locator("[data-formula-key]").fill("per_deal")
    formula.locator("[data-formula-expression]").fill("sum_amount / records")
    page.fill("[data-testid=report-where]", 'stage != "won"')
    page.select_option("[data-chart-type]", "table")
    page.select_option("[data-testid=sort]", "records")
    page.fill("[data-testid=report-name]", "A 级金额")
    page.click("[data-save]")
    expect(page.locator("#builder")).not_to_have_attribute("data-report", "null", timeout=SLOW)
    saved = _saved(sales, "A 级金额")["definition"]
    assert saved["where"] == 'stage != "won"'
    assert [(m["key"], m.get("where")) for m in saved["measures"]] == [
        ("records", None),
        ("sum_amount", 'level = "A"'),
    ]
    assert [(f["key"], f["expression"]) for f in saved["formulas"]] == [
        ("per_deal", "sum_amount / records")
    ]
    assert saved["sort"] == [{"key": "records", "descending": True}]
    # The preview: lead (7 deals, 5 of level A) before proposal (3, all A); no won.
    rows = page.locator("[data-testid=preview] table tbody tr")
    expect(rows).to_have_count(2, timeout=SLOW)
    expect(rows.nth(0)).to_contain_text("5,000.00")
    expect(rows.nth(0)).to_contain_text("714.29")
    expect(rows.nth(1)).to_contain_text("1,000.00")
    if sales.workspace.engine.dialect.name == "sqlite":
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(300)
        page.screenshot(path=SCREENSHOTS / "report-builder-formulas.zh-CN.png")


def test_the_builder_keeps_what_it_does_not_edit(page: Page, sales: Server) -> None:
    """A report copied and changed in the builder keeps its filter, sources and measure
    filters: the sales analytics a solution ships stay what they were."""
    page.set_default_timeout(SLOW)
    definition = {
        "form": "deal",
        "dimensions": [{"field": "stage"}],
        "measures": [
            {"key": "deals", "agg": "count", "label": "Deals"},
            {
                "key": "a_deals",
                "agg": "count",
                "label": "A deals",
                "filter": {"field": "level", "op": "eq", "value": "A"},
            },
        ],
        "formulas": [{"key": "a_share", "expression": "a_deals / deals * 100", "places": 1}],
        "filter": {"field": "stage", "op": "ne", "value": "won"},
        "date_field": None,
        "chart": {"type": "table"},
    }
    with sales.workspace.transaction() as conn:
        report = store.save(
            conn=conn,
            actor=Actor.system(),
            kind="report",
            document={"app_key": "sales", "label": "A 占比", "definition": definition},
            tz=sales.workspace.tz,
        )
    log_in(page, sales, "builder@acme.test", "builder-pass-1")
    page.goto(f"{sales.url}/reports/{report['id']}/edit")
    expect(page.locator("[data-testid=preview] table tbody tr")).to_have_count(2, timeout=SLOW)
    page.fill("[data-testid=report-name]", "A 占比（改）")
    page.click("[data-save]")
    expect(page.locator("[data-testid=builder-status]")).to_have_text("")
    page.wait_for_function(
        "() => JSON.parse(document.getElementById('builder').dataset.report)"
        ".label.endsWith('（改）')"
    )
    saved = _saved(sales, "A 占比（改）")["definition"]
    assert saved["filter"] == definition["filter"]
    assert saved["date_field"] is None
    assert saved["measures"][1]["filter"] == definition["measures"][1]["filter"]
    assert [f["key"] for f in saved["formulas"]] == ["a_share"]


def test_the_builder_drags_stage_history_and_related_aggregates(
    browser: Browser, sales: Server
) -> None:
    """The palette offers the stage history's columns (when the report reads the history)
    and the aggregates of the forms linking here; dropped, they make the report they say."""
    from meridian.flows.stages.pipelines import save_pipeline

    with sales.workspace.transaction() as conn:
        install_more_forms(conn, NOTE)
        save_pipeline(
            conn,
            actor=Actor.system(),
            form=get_form(conn, "deal"),
            document={
                "key": "sales",
                "label": "销售",
                "stage_field": "stage",
                "override_roles": [],
                "stages": [
                    {"key": "lead", "label": "线索", "category": "open", "probability": 10},
                    {"key": "proposal", "label": "方案", "category": "open", "probability": 50},
                    {"key": "won", "label": "赢单", "category": "won", "probability": 100},
                ],
            },
        )
        admin_id = conn.scalar(sa.select(users.c.id).where(users.c.email == "builder@acme.test"))
    for locale in ("zh-CN", "en"):
        with sales.workspace.transaction() as conn:
            conn.execute(sa.update(users).where(users.c.id == admin_id).values(locale=locale))
        context = browser.new_context(viewport=DESKTOP, locale=locale)
        page, errors = open_watched(context)
        page.set_default_timeout(SLOW)
        log_in(page, sales, "builder@acme.test", "builder-pass-1")
        page.goto(f"{sales.url}/reports/new?app_key=sales&form=deal")
        history = page.locator("[data-palette] [data-ref='visit.stage']")
        expect(history).to_be_hidden()
        page.select_option("[data-source-switch]", "stage_visits")
        expect(history).to_be_visible()
        drag(page, "[data-palette] [data-ref='visit.stage']", "[data-zone=dimensions]")
        drag(page, "[data-palette] [data-ref='visit.days']", "[data-zone=measures]")
        page.select_option("[data-zone=measures] [data-agg]", "avg")
        drag(page, "[data-palette] [data-ref='note_deal.count']", "[data-zone=measures]")
        page.select_option("[data-chart-type]", "bar")
        expect(page.locator("[data-testid=preview] canvas")).to_have_count(1, timeout=SLOW)
        expect(page.locator("[data-testid=builder-status]")).to_have_text("")
        page.screenshot(path=SCREENSHOTS / f"report-builder-history.{locale}.png", full_page=True)
        label = f"停留与跟进 {locale}"
        page.fill("[data-testid=report-name]", label)
        page.click("[data-save]")
        expect(page.locator("#builder")).not_to_have_attribute("data-report", "null", timeout=SLOW)
        saved = _saved(sales, label)["definition"]
        assert saved["source"] == "stage_visits"
        assert [d["field"] for d in saved["dimensions"]] == ["visit.stage"]
        assert [(m["agg"], m.get("field")) for m in saved["measures"]] == [
            ("avg", "visit.days"),
            ("sum", "note_deal.count"),
        ]
        assert (
            saved["related"]
            == [
                {
                    "key": "note_deal",
                    "parts": [{"form": "note", "link": "deal", "at": "at", "tasks": False}],
                    "period": False,
                }
            ]
            or saved["related"][0]["key"] == "note_deal"
        )
        context.close()
        assert not errors, f"JavaScript errors or CSP violations: {errors}"
