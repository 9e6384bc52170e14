"""Approvals: flows (versioned node trees), approvals, their nodes, tasks, trail, delegations

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import meridian.db.types

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sys_approval",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("flow_key", sa.String(length=63), nullable=False),
        sa.Column("flow_version", sa.Integer(), nullable=False),
        sa.Column("form_key", sa.String(length=63), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("submitter_id", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("round", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", meridian.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_approval")),
    )
    with op.batch_alter_table("sys_approval", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sys_approval_record", ["form_key", "record_id", "state"], unique=False
        )
        batch_op.create_index("ix_sys_approval_submitter", ["submitter_id", "id"], unique=False)

    op.create_table(
        "sys_approval_act",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("approval_id", sa.BigInteger(), nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=True),
        sa.Column("node_id", sa.String(length=63), nullable=True),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("comment", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_approval_act")),
    )
    with op.batch_alter_table("sys_approval_act", schema=None) as batch_op:
        batch_op.create_index("ix_sys_approval_act_approval", ["approval_id", "id"], unique=False)

    op.create_table(
        "sys_approval_delegation",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("delegate_id", sa.BigInteger(), nullable=False),
        sa.Column("starts_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_sys_approval_delegation")),
    )
    op.create_table(
        "sys_approval_flow",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("key", sa.String(length=63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("form_key", sa.String(length=63), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column(
            "definition",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_approval_flow")),
        sa.UniqueConstraint("key", "version", name=op.f("uq_sys_approval_flow_key_version")),
    )
    with op.batch_alter_table("sys_approval_flow", schema=None) as batch_op:
        batch_op.create_index("ix_sys_approval_flow_form", ["form_key", "key"], unique=False)

    op.create_table(
        "sys_approval_node",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("approval_id", sa.BigInteger(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.String(length=63), nullable=False),
        sa.Column("mode", sa.String(length=12), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("created_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", meridian.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_approval_node")),
    )
    with op.batch_alter_table("sys_approval_node", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sys_approval_node_approval", ["approval_id", "state"], unique=False
        )

    op.create_table(
        "sys_approval_task",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("approval_id", sa.BigInteger(), nullable=False),
        sa.Column("node_row_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("assignee_id", sa.BigInteger(), nullable=False),
        sa.Column("delegated_from", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("waits_for", sa.BigInteger(), nullable=True),
        sa.Column("added_by", sa.BigInteger(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("acted_at", meridian.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("due_at", meridian.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("timed_out_at", meridian.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_approval_task")),
    )
    with op.batch_alter_table("sys_approval_task", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sys_approval_task_approval", ["approval_id", "state"], unique=False
        )
        batch_op.create_index("ix_sys_approval_task_due", ["state", "due_at"], unique=False)
        batch_op.create_index(
            "ix_sys_approval_task_inbox", ["assignee_id", "state", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("sys_approval_task", schema=None) as batch_op:
        batch_op.drop_index("ix_sys_approval_task_inbox")
        batch_op.drop_index("ix_sys_approval_task_due")
        batch_op.drop_index("ix_sys_approval_task_approval")

    op.drop_table("sys_approval_task")
    with op.batch_alter_table("sys_approval_node", schema=None) as batch_op:
        batch_op.drop_index("ix_sys_approval_node_approval")

    op.drop_table("sys_approval_node")
    with op.batch_alter_table("sys_approval_flow", schema=None) as batch_op:
        batch_op.drop_index("ix_sys_approval_flow_form")

    op.drop_table("sys_approval_flow")
    op.drop_table("sys_approval_delegation")
    with op.batch_alter_table("sys_approval_act", schema=None) as batch_op:
        batch_op.drop_index("ix_sys_approval_act_approval")

    op.drop_table("sys_approval_act")
    with op.batch_alter_table("sys_approval", schema=None) as batch_op:
        batch_op.drop_index("ix_sys_approval_submitter")
        batch_op.drop_index("ix_sys_approval_record")

    op.drop_table("sys_approval")
