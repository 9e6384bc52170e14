"""Jobs, timers, rules, notifications and webhooks

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import meridian.db.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sys_job",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=80), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("run_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", meridian.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("worker", sa.String(length=100), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("created_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", meridian.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_job")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_sys_job_idempotency_key")),
    )
    with op.batch_alter_table("sys_job", schema=None) as batch_op:
        batch_op.create_index("ix_sys_job_due", ["state", "run_at"], unique=False)

    op.create_table(
        "sys_schedule",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("cron", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=80), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("next_run_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sys_schedule")),
    )
    op.create_table(
        "sys_webhook",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("form_key", sa.String(length=63), nullable=False),
        sa.Column(
            "events",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_webhook")),
    )
    with op.batch_alter_table("sys_webhook", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sys_webhook_form_key"), ["form_key"], unique=False)

    op.create_table(
        "sys_webhook_delivery",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("webhook_id", sa.BigInteger(), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(length=80), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_webhook_delivery")),
    )
    with op.batch_alter_table("sys_webhook_delivery", schema=None) as batch_op:
        batch_op.create_index("ix_sys_webhook_delivery_webhook", ["webhook_id", "id"], unique=False)
    op.create_table(
        "sys_rule",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("form_key", sa.String(length=63), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column(
            "trigger",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("condition", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "actions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("scanned_until", meridian.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_rule")),
    )
    with op.batch_alter_table("sys_rule", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sys_rule_form_key"), ["form_key"], unique=False)

    op.create_table(
        "sys_rule_fire",
        sa.Column("rule_id", sa.BigInteger(), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("fire_key", sa.String(length=64), nullable=False),
        sa.Column("fired_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("rule_id", "record_id", "fire_key", name=op.f("pk_sys_rule_fire")),
    )
    op.create_table(
        "sys_rule_run",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("rule_id", sa.BigInteger(), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=True),
        sa.Column("trigger", sa.String(length=40), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column(
            "actions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_rule_run")),
    )
    with op.batch_alter_table("sys_rule_run", schema=None) as batch_op:
        batch_op.create_index("ix_sys_rule_run_record", ["record_id", "id"], unique=False)
        batch_op.create_index("ix_sys_rule_run_rule", ["rule_id", "id"], unique=False)
    op.create_table(
        "sys_bot_channel",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("webhook_url", sa.String(length=2000), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=True),
        sa.Column("created_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_bot_channel")),
    )
    op.create_table(
        "sys_notification",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), server_default="", nullable=False),
        sa.Column("form_key", sa.String(length=63), nullable=True),
        sa.Column("record_id", sa.BigInteger(), nullable=True),
        sa.Column("read_at", meridian.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_notification")),
    )
    with op.batch_alter_table("sys_notification", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sys_notification_inbox", ["user_id", "read_at", "id"], unique=False
        )

    op.create_table(
        "sys_notify_preference",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("email", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_sys_notify_preference")),
    )
    op.create_table(
        "sys_inbound_hook",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("form_key", sa.String(length=63), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "mapping",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_inbound_hook")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sys_inbound_hook_token_hash")),
    )


def downgrade() -> None:
    op.drop_table("sys_inbound_hook")
    op.drop_table("sys_notify_preference")
    with op.batch_alter_table("sys_notification", schema=None) as batch_op:
        batch_op.drop_index("ix_sys_notification_inbox")

    op.drop_table("sys_notification")
    op.drop_table("sys_bot_channel")
    with op.batch_alter_table("sys_rule_run", schema=None) as batch_op:
        batch_op.drop_index("ix_sys_rule_run_rule")
        batch_op.drop_index("ix_sys_rule_run_record")

    op.drop_table("sys_rule_run")
    op.drop_table("sys_rule_fire")
    with op.batch_alter_table("sys_rule", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sys_rule_form_key"))

    op.drop_table("sys_rule")
    with op.batch_alter_table("sys_webhook_delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_sys_webhook_delivery_webhook")

    op.drop_table("sys_webhook_delivery")
    with op.batch_alter_table("sys_webhook", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sys_webhook_form_key"))

    op.drop_table("sys_webhook")
    op.drop_table("sys_schedule")
    with op.batch_alter_table("sys_job", schema=None) as batch_op:
        batch_op.drop_index("ix_sys_job_due")

    op.drop_table("sys_job")
