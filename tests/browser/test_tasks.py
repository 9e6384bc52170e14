"""My tasks in a real browser: the header's count, the three groups, ticking a task off, and a
task added on a record page showing on its timeline; screenshots in both languages at desktop
and phone width (docs/screenshots/tasks-*.png, record-tasks-*.png), and the work calendar's
administration page (calendar-*.png)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from playwright.sync_api import Browser, Page

from meridian.access.users import create_user
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.db.tables import users
from meridian.flows.tasks import service
from meridian.solutions import idc_crm
from meridian.solutions.loader import install_solution, load_sample_data
from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, Server, log_in, open_watched


def _set_up(server: Server) -> int:
    workspace = server.workspace
    with workspace.transaction() as conn:
        admin_id = create_user(
            conn=conn,
            email="admin@idc.test",
            name="王经理",
            password="demo4meridian",
            passwords=workspace.passwords,
            is_admin=True,
        )
    admin = Actor(user_id=admin_id, is_admin=True, name="王经理")
    app, forms = idc_crm.load_package()
    install_solution(workspace.engine, admin, app, forms)
    load_sample_data(workspace.engine, admin, idc_crm.generate(seed=7, scale=5), owners=[admin_id])
    with workspace.transaction() as conn:
        now = utcnow(conn)
        for title, due, record in (
            ("回访杭州云栖：确认 42U 机柜数量", now - timedelta(days=2), 1),
            ("发送正式报价（附标准服务协议）", now - timedelta(hours=3), 2),
            ("需求调研表：技术团队确认", now + timedelta(minutes=30), 1),
            ("安排机房参观", now + timedelta(days=3), 3),
            ("整理季度续约名单", None, None),
        ):
            service.create_task(
                conn=conn,
                actor=admin,
                title=title,
                assignee_id=admin_id,
                due_at=due,
                form_key="opportunity" if record else None,
                record_id=record,
                tz=workspace.tz,
            )
    return admin_id


def _due_badge(page: Page) -> str:
    return page.get_by_test_id("tasks-due").inner_text()


def test_my_tasks_are_grouped_counted_and_ticked_off(browser: Browser, server: Server) -> None:
    admin_id = _set_up(server)
    # 下午 three o'clock or not, the task due in 30 minutes is "today" unless that is tomorrow.
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page, errors = open_watched(context)
    page.set_default_timeout(10_000)
    log_in(page, server, "admin@idc.test", "demo4meridian")
    page.goto(server.url + "/tasks")
    overdue = page.get_by_test_id("tasks-overdue").get_by_test_id("task")
    today = page.get_by_test_id("tasks-today").get_by_test_id("task")
    upcoming = page.get_by_test_id("tasks-upcoming").get_by_test_id("task")
    assert overdue.count() == 2
    assert today.count() + upcoming.count() == 3
    assert _due_badge(page) == str(2 + today.count())
    assert "回访杭州云栖" in overdue.first.inner_text()
    # Tick the oldest overdue task off with its own button.
    overdue.first.get_by_test_id("complete-task").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_test_id("tasks-overdue").get_by_test_id("task").count() == 1
    assert _due_badge(page) == str(1 + today.count())
    # Select the rest of the overdue ones and the undated one, complete them together.
    page.get_by_test_id("tasks-overdue").locator("input[type=checkbox]").check()
    page.get_by_test_id("tasks-upcoming").get_by_test_id("task").filter(
        has_text="整理季度续约名单"
    ).locator("input[type=checkbox]").check()
    page.get_by_test_id("complete-selected").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_test_id("tasks-overdue").get_by_test_id("task").count() == 0
    assert "整理季度续约名单" not in page.get_by_test_id("tasks-upcoming").inner_text()

    # A task added on a record page is listed there and on its timeline.
    page.goto(server.url + "/forms/opportunity/records/3")
    section = page.get_by_test_id("record-tasks")
    section.get_by_test_id("new-task").locator("summary").click()
    section.get_by_test_id("task-title").fill("电话确认上架时间")
    section.get_by_test_id("task-due").fill("2030-01-15T10:00")
    section.get_by_test_id("task-save").click()
    page.wait_for_load_state("networkidle")
    assert "/forms/opportunity/records/3" in page.url
    listed = page.get_by_test_id("record-tasks").get_by_test_id("task")
    assert listed.count() == 2
    assert "电话确认上架时间" in page.get_by_test_id("record-tasks").inner_text()
    assert "添加了待办 “电话确认上架时间”" in page.get_by_test_id("timeline").inner_text()
    page.get_by_test_id("record-tasks").get_by_test_id("task").filter(
        has_text="电话确认上架时间"
    ).get_by_test_id("complete-task").click()
    page.wait_for_load_state("networkidle")
    assert "完成了待办 “电话确认上架时间”" in page.get_by_test_id("timeline").inner_text()
    context.close()
    assert not errors, errors

    if server.workspace.engine.dialect.name != "sqlite":
        return
    with server.workspace.transaction() as conn:
        now = utcnow(conn)
        for title, due in (
            ("跟进 ACME-LEAD 华东机房扩容", now - timedelta(hours=5)),
            ("复核 Q3-RENEWAL 合同条款", now + timedelta(minutes=45)),
        ):
            service.create_task(
                conn=conn,
                actor=Actor.system(),
                title=title,
                assignee_id=admin_id,
                due_at=due,
                form_key="opportunity",
                record_id=2,
                tz=server.workspace.tz,
            )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for locale in ("zh-CN", "en"):
        with server.workspace.transaction() as conn:
            conn.execute(sa.update(users).where(users.c.id == admin_id).values(locale=locale))
        for device, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            context = browser.new_context(viewport=viewport, locale=locale)
            page, errors = open_watched(context)
            log_in(page, server, "admin@idc.test", "demo4meridian")
            page.goto(server.url + "/tasks")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=SCREENSHOTS / f"tasks-{device}-{locale}.png", full_page=True)
            page.goto(server.url + "/forms/opportunity/records/1#tasks")
            page.get_by_test_id("record-tasks").scroll_into_view_if_needed()
            page.get_by_test_id("record-tasks").screenshot(
                path=SCREENSHOTS / f"record-tasks-{device}-{locale}.png"
            )
            page.goto(server.url + "/admin/calendar?year=2026")
            page.screenshot(path=SCREENSHOTS / f"calendar-{device}-{locale}.png", full_page=True)
            context.close()
            assert not errors, errors
