"""system tables

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import meridian.db.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Trigram indexes make substring and pinyin search fast on PostgreSQL.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")

    op.create_table(
        "meta_app",
        sa.Column("key", sa.String(length=63), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_meta_app")),
    )
    op.create_table(
        "meta_schema_change",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("form_key", sa.String(length=63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("operation", sa.String(length=40), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column(
            "before",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "after",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meta_schema_change")),
    )
    with op.batch_alter_table("meta_schema_change", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_meta_schema_change_form_key"), ["form_key"], unique=False
        )

    op.create_table(
        "sys_file",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=127), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_path", sa.String(length=400), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_file")),
    )
    op.create_table(
        "sys_outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_type", sa.String(length=80), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", meridian.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_outbox")),
    )
    with op.batch_alter_table("sys_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_sys_outbox_pending", ["dispatched_at", "id"], unique=False)

    op.create_table(
        "sys_record_history",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("form_key", sa.String(length=63), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column(
            "changes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_record_history")),
    )
    with op.batch_alter_table("sys_record_history", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sys_record_history_record", ["form_key", "record_id", "id"], unique=False
        )

    op.create_table(
        "sys_sequence",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sys_sequence")),
    )
    op.create_table(
        "sys_user",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("is_admin", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("locale", sa.String(length=10), server_default="zh-CN", nullable=False),
        sa.Column("created_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_user")),
        sa.UniqueConstraint("email", name=op.f("uq_sys_user_email")),
    )
    op.create_table(
        "meta_form",
        sa.Column("key", sa.String(length=63), nullable=False),
        sa.Column("app_key", sa.String(length=63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "definition",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_key"], ["meta_app.key"], name=op.f("fk_meta_form_app_key_meta_app")
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_meta_form")),
    )
    with op.batch_alter_table("meta_form", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_meta_form_app_key"), ["app_key"], unique=False)

    op.create_table(
        "sys_api_token",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("expires_at", meridian.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", meridian.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", meridian.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["sys_user.id"], name=op.f("fk_sys_api_token_user_id_sys_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sys_api_token_token_hash")),
    )
    with op.batch_alter_table("sys_api_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sys_api_token_user_id"), ["user_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("sys_api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sys_api_token_user_id"))

    op.drop_table("sys_api_token")
    with op.batch_alter_table("meta_form", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meta_form_app_key"))

    op.drop_table("meta_form")
    op.drop_table("sys_user")
    op.drop_table("sys_sequence")
    with op.batch_alter_table("sys_record_history", schema=None) as batch_op:
        batch_op.drop_index("ix_sys_record_history_record")

    op.drop_table("sys_record_history")
    with op.batch_alter_table("sys_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_sys_outbox_pending")

    op.drop_table("sys_outbox")
    op.drop_table("sys_file")
    with op.batch_alter_table("meta_schema_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meta_schema_change_form_key"))

    op.drop_table("meta_schema_change")
    op.drop_table("meta_app")
