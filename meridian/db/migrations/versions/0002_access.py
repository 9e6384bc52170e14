"""Departments, roles, permissions, sessions and the audit trail

Revision ID: 0002
Revises: 0001
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import meridian.db.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PRESET_ROLES = [
    ("administrator", "管理员 Administrator"),
    ("builder", "搭建者 Builder"),
    ("manager", "经理 Manager"),
    ("member", "成员 Member"),
    ("read_only", "只读 Read-only"),
]


def upgrade() -> None:
    op.create_table(
        "sys_audit",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("object_type", sa.String(length=63), server_default="", nullable=False),
        sa.Column("object_id", sa.String(length=200), server_default="", nullable=False),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("ip", sa.String(length=64), server_default="", nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_audit")),
    )
    with op.batch_alter_table("sys_audit", schema=None) as batch_op:
        batch_op.create_index("ix_sys_audit_actor", ["actor_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sys_audit_at"), ["at"], unique=False)
        batch_op.create_index(
            "ix_sys_audit_object", ["object_type", "object_id", "id"], unique=False
        )

    op.create_table(
        "sys_audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_audit_head")),
    )
    op.create_table(
        "sys_department",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("manager_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_department")),
    )
    with op.batch_alter_table("sys_department", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sys_department_parent_id"), ["parent_id"], unique=False
        )

    op.create_table(
        "sys_login_throttle",
        sa.Column("scope", sa.String(length=10), nullable=False),
        sa.Column("key", sa.String(length=254), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", meridian.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_sys_login_throttle")),
    )
    op.create_table(
        "sys_record_share",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("form_key", sa.String(length=63), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("department_id", sa.BigInteger(), nullable=True),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_record_share")),
    )
    with op.batch_alter_table("sys_record_share", schema=None) as batch_op:
        batch_op.create_index("ix_sys_record_share_record", ["form_key", "record_id"], unique=False)
        batch_op.create_index("ix_sys_record_share_user", ["form_key", "user_id"], unique=False)

    op.create_table(
        "sys_role",
        sa.Column("key", sa.String(length=63), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("preset", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sys_role")),
    )
    op.create_table(
        "sys_role_form",
        sa.Column("role_key", sa.String(length=63), nullable=False),
        sa.Column("form_key", sa.String(length=63), nullable=False),
        sa.Column(
            "rules",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("role_key", "form_key", name=op.f("pk_sys_role_form")),
    )
    op.create_table(
        "sys_session",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ip", sa.String(length=64), server_default="", nullable=False),
        sa.Column("user_agent", sa.String(length=400), server_default="", nullable=False),
        sa.Column("revoked_at", meridian.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sys_session_token_hash")),
    )
    with op.batch_alter_table("sys_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sys_session_user_id"), ["user_id"], unique=False)

    op.create_table(
        "sys_user_department",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("department_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "department_id", name=op.f("pk_sys_user_department")),
    )
    with op.batch_alter_table("sys_user_department", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sys_user_department_department_id"), ["department_id"], unique=False
        )

    op.create_table(
        "sys_user_role",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("role_key", sa.String(length=63), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "role_key", name=op.f("pk_sys_user_role")),
    )
    with op.batch_alter_table("sys_user_role", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sys_user_role_role_key"), ["role_key"], unique=False)

    with op.batch_alter_table("sys_api_token", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("scope", sa.String(length=10), server_default="write", nullable=False)
        )
        batch_op.add_column(sa.Column("app_key", sa.String(length=63), nullable=True))
        batch_op.add_column(sa.Column("form_key", sa.String(length=63), nullable=True))

    with op.batch_alter_table("sys_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("department_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("manager_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "must_change_password", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )
        batch_op.create_index(
            batch_op.f("ix_sys_user_department_id"), ["department_id"], unique=False
        )

    head = sa.table(
        "sys_audit_head",
        sa.column("id", sa.Integer),
        sa.column("last_id", sa.BigInteger),
        sa.column("last_hash", sa.String),
    )
    op.bulk_insert(head, [{"id": 1, "last_id": 0, "last_hash": "0" * 64}])
    roles = sa.table(
        "sys_role",
        sa.column("key", sa.String),
        sa.column("label", sa.String),
        sa.column("preset", sa.Boolean),
        sa.column("created_at", meridian.db.types.UTCDateTime),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        roles,
        [
            {"key": key, "label": label, "preset": True, "created_at": now}
            for key, label in PRESET_ROLES
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("sys_user", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sys_user_department_id"))
        batch_op.drop_column("must_change_password")
        batch_op.drop_column("manager_id")
        batch_op.drop_column("department_id")

    with op.batch_alter_table("sys_api_token", schema=None) as batch_op:
        batch_op.drop_column("form_key")
        batch_op.drop_column("app_key")
        batch_op.drop_column("scope")

    with op.batch_alter_table("sys_user_role", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sys_user_role_role_key"))

    op.drop_table("sys_user_role")
    with op.batch_alter_table("sys_user_department", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sys_user_department_department_id"))

    op.drop_table("sys_user_department")
    with op.batch_alter_table("sys_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sys_session_user_id"))

    op.drop_table("sys_session")
    op.drop_table("sys_role_form")
    op.drop_table("sys_role")
    with op.batch_alter_table("sys_record_share", schema=None) as batch_op:
        batch_op.drop_index("ix_sys_record_share_user")
        batch_op.drop_index("ix_sys_record_share_record")

    op.drop_table("sys_record_share")
    op.drop_table("sys_login_throttle")
    with op.batch_alter_table("sys_department", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sys_department_parent_id"))

    op.drop_table("sys_department")
    op.drop_table("sys_audit_head")
    with op.batch_alter_table("sys_audit", schema=None) as batch_op:
        batch_op.drop_index("ix_sys_audit_object")
        batch_op.drop_index(batch_op.f("ix_sys_audit_at"))
        batch_op.drop_index("ix_sys_audit_actor")

    op.drop_table("sys_audit")
