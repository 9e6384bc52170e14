"""Telling assignees that a task is overdue: exactly once per task and due time.

A scan (a scheduled job, every minute) claims a batch of open, assigned, overdue tasks not yet
told about by stamping ``overdue_notified_at`` in one UPDATE … RETURNING, and writes their
notices (inbox entries and email jobs) in the same transaction as the job's completion. A
worker killed before the commit leaves nothing behind and the next scan claims the same
tasks; after it, the stamp keeps every later scan away. Concurrent scans on PostgreSQL both
re-check ``overdue_notified_at IS NULL`` on the rows they update, so a task goes to one.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from meridian.core.clock import utcnow
from meridian.core.i18n import N_
from meridian.db.tables import tasks, users
from meridian.flows.calendar.store import load_calendar
from meridian.jobs.queue import JobContext, enqueue
from meridian.notify.inbox import Notice, notify_each

OVERDUE_SCAN = "tasks.overdue"
SCAN_CRON = "* * * * *"
BATCH = 500

_WORDS = {
    "zh-CN": ("待办已逾期：{title}", "截止时间 {due}"),
    "en": (N_("Task overdue: {title}"), N_("It was due {due}")),
}
"""The notice in the assignee's language; the words are the catalog's ("Task overdue: …")."""


def notify_overdue(conn: Connection, *, limit: int = BATCH) -> int:
    """Claim up to ``limit`` overdue tasks and notify their assignees; returns how many."""
    now = utcnow(conn)
    due = (
        sa.select(tasks.c.id)
        .where(
            tasks.c.state == "open",
            tasks.c.overdue_notified_at.is_(None),
            tasks.c.due_at <= now,
            tasks.c.assignee_id.is_not(None),
        )
        .order_by(tasks.c.due_at, tasks.c.id)
        .limit(limit)
    )
    claimed = conn.execute(
        tasks.update()
        .where(tasks.c.id.in_(due.scalar_subquery()), tasks.c.overdue_notified_at.is_(None))
        .values(overdue_notified_at=now)
        .returning(
            tasks.c.id,
            tasks.c.title,
            tasks.c.assignee_id,
            tasks.c.due_at,
            tasks.c.form_key,
            tasks.c.record_id,
        )
    ).all()
    if not claimed:
        return 0
    locales = dict(
        conn.execute(
            sa.select(users.c.id, users.c.locale).where(
                users.c.id.in_({row.assignee_id for row in claimed})
            )
        ).all()
    )
    tz = load_calendar(conn).tz
    notify_each(
        conn,
        [_notice(row, locales.get(row.assignee_id, ""), tz) for row in claimed],
    )
    return len(claimed)


def _notice(task: Row[Any], locale: str, tz: ZoneInfo) -> Notice:
    heading, line = _WORDS.get(locale, _WORDS["zh-CN"])
    due = task.due_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    return Notice(
        task.assignee_id,
        heading.format(title=task.title),
        line.format(due=due),
        task.form_key,
        task.record_id,
    )


def scan_overdue(context: JobContext) -> None:
    """The job: one batch, committed with the job; a full batch asks for another scan now."""
    with context.transaction() as conn:
        if notify_overdue(conn) == BATCH:
            enqueue(conn, OVERDUE_SCAN, {})
