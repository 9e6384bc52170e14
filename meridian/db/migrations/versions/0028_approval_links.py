"""Approval links: deciding a task from a WeCom/DingTalk/Feishu card or an e-mail

``sys_approval_link``: one row per approver's open task when they are told, holding the SHA-256
of a random token (never the token), the task, the user, when it expires and when it was used.

Revision ID: 0028
Revises: 0026
"""

import sqlalchemy as sa
from alembic import op

import meridian.db.types

revision = "0028"
down_revision = "0026"
branch_labels = None
depends_on = None


def _id() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _at() -> meridian.db.types.UTCDateTime:
    return meridian.db.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sys_approval_link",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("task_id", sa.BigInteger, nullable=False),
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("created_at", _at(), nullable=False),
        sa.Column("expires_at", _at(), nullable=False),
        sa.Column("used_at", _at(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_approval_link")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sys_approval_link_token_hash")),
    )
    op.create_index(
        op.f("ix_sys_approval_link_task_id"), "sys_approval_link", ["task_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_sys_approval_link_task_id"), table_name="sys_approval_link")
    op.drop_table("sys_approval_link")
