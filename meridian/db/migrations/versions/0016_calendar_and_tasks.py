"""The work calendar (work week, hours, holidays and 调休 days) and tasks

The calendar is seeded with the company's usual week (Monday to Friday, 09:00–12:00 and
13:30–18:00 in Asia/Shanghai) and every public holiday and make-up work day the pinned
``chinese-calendar`` package knows; an admin edits it from then on.

Revision ID: 0016
Revises: 0011
"""

import secrets

import chinese_calendar
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import meridian.db.types

revision = "0016"
down_revision = "0011"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_AT = meridian.db.types.UTCDateTime(timezone=True)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sys_work_calendar",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("work_days", _JSON, nullable=False),
        sa.Column("work_hours", _JSON, nullable=False),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", _AT, nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sys_work_calendar")),
    )
    days = op.create_table(
        "sys_calendar_day",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=100), server_default="", nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", _AT, nullable=True),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_sys_calendar_day")),
    )
    op.create_table(
        "sys_task",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("notes", sa.Text(), server_default="", nullable=False),
        sa.Column("assignee_id", sa.BigInteger(), nullable=True),
        sa.Column("due_at", _AT, nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("closed_by", sa.BigInteger(), nullable=True),
        sa.Column("closed_at", _AT, nullable=True),
        sa.Column("form_key", sa.String(length=63), nullable=True),
        sa.Column("record_id", sa.BigInteger(), nullable=True),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("source_ref", sa.String(length=200), nullable=True),
        sa.Column("source_key", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("updated_at", _AT, nullable=False),
        sa.Column("overdue_notified_at", _AT, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_task")),
        sa.UniqueConstraint("source_key", name=op.f("uq_sys_task_source_key")),
    )
    with op.batch_alter_table("sys_task", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sys_task_assignee", ["assignee_id", "state", "due_at"], unique=False
        )
        batch_op.create_index("ix_sys_task_record", ["form_key", "record_id"], unique=False)
        batch_op.create_index(
            "ix_sys_task_overdue", ["state", "overdue_notified_at", "due_at"], unique=False
        )

    op.execute(
        sa.text(
            "INSERT INTO sys_work_calendar (key, time_zone, work_days, work_hours)"
            " VALUES ('default', 'Asia/Shanghai', :days, :hours)"
        ).bindparams(
            sa.bindparam("days", [1, 2, 3, 4, 5], type_=_JSON),
            sa.bindparam("hours", [["09:00", "12:00"], ["13:30", "18:00"]], type_=_JSON),
        )
    )
    names = {holiday.value: holiday.chinese for holiday in chinese_calendar.Holiday}
    rows = [
        {"day": day, "kind": "holiday", "name": names.get(name, name or ""), "source": "package"}
        for day, name in sorted(chinese_calendar.holidays.items())
    ] + [
        {"day": day, "kind": "workday", "name": names.get(name, name or ""), "source": "package"}
        for day, name in sorted(chinese_calendar.workdays.items())
        if day.weekday() >= 5
    ]
    op.bulk_insert(days, rows)
    op.execute(
        sa.text("INSERT INTO sys_revision (name, token) VALUES ('calendar', :token)").bindparams(
            token=secrets.token_hex(16)
        )
    )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM sys_revision WHERE name = 'calendar'"))
    with op.batch_alter_table("sys_task", schema=None) as batch_op:
        batch_op.drop_index("ix_sys_task_overdue")
        batch_op.drop_index("ix_sys_task_record")
        batch_op.drop_index("ix_sys_task_assignee")
    op.drop_table("sys_task")
    op.drop_table("sys_calendar_day")
    op.drop_table("sys_work_calendar")
