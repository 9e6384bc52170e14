"""Lifecycle stages: pipelines, stages, gate criteria, checklist ticks and stage visits

Revision ID: 0015
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import meridian.db.types

revision = "0015"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "flow_checklist_tick",
        sa.Column("form_key", sa.String(length=63), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("item", sa.String(length=63), nullable=False),
        sa.Column("ticked_by", sa.BigInteger(), nullable=True),
        sa.Column("ticked_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "form_key", "record_id", "item", name=op.f("pk_flow_checklist_tick")
        ),
    )
    op.create_table(
        "flow_pipeline",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("form_key", sa.String(length=63), nullable=False),
        sa.Column("key", sa.String(length=63), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("label_en", sa.String(length=200), server_default="", nullable=False),
        sa.Column("stage_field", sa.String(length=63), nullable=False),
        sa.Column("selector_field", sa.String(length=63), nullable=True),
        sa.Column("selector_value", sa.String(length=200), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column(
            "override_roles",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_pipeline")),
        sa.UniqueConstraint("form_key", "key", name=op.f("uq_flow_pipeline_form_key_key")),
    )
    op.create_table(
        "flow_stage_visit",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("form_key", sa.String(length=63), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("pipeline_key", sa.String(length=63), nullable=False),
        sa.Column("stage_key", sa.String(length=63), nullable=False),
        sa.Column("category", sa.String(length=8), nullable=False),
        sa.Column("entered_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("entered_by", sa.BigInteger(), nullable=True),
        sa.Column("left_at", meridian.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("left_by", sa.BigInteger(), nullable=True),
        sa.Column("move", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("override_by", sa.BigInteger(), nullable=True),
        sa.Column("override_reason", sa.Text(), nullable=True),
        sa.Column(
            "overridden",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("warn_at", meridian.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("due_at", meridian.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("warned_at", meridian.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("breached_at", meridian.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_stage_visit")),
    )
    with op.batch_alter_table("flow_stage_visit", schema=None) as batch_op:
        batch_op.create_index(
            "ix_flow_stage_visit_due",
            ["due_at"],
            unique=False,
            sqlite_where=sa.text("left_at IS NULL AND breached_at IS NULL"),
            postgresql_where=sa.text("left_at IS NULL AND breached_at IS NULL"),
        )
        batch_op.create_index(
            "ix_flow_stage_visit_record", ["form_key", "record_id", "entered_at"], unique=False
        )
        batch_op.create_index(
            "ix_flow_stage_visit_stage", ["form_key", "stage_key", "entered_at"], unique=False
        )
        batch_op.create_index(
            "ix_flow_stage_visit_warn",
            ["warn_at"],
            unique=False,
            sqlite_where=sa.text("left_at IS NULL AND warned_at IS NULL"),
            postgresql_where=sa.text("left_at IS NULL AND warned_at IS NULL"),
        )
        batch_op.create_index(
            "ux_flow_stage_visit_open",
            ["form_key", "record_id"],
            unique=True,
            sqlite_where=sa.text("left_at IS NULL"),
            postgresql_where=sa.text("left_at IS NULL"),
        )

    op.create_table(
        "flow_stage",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("pipeline_id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(length=63), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("label_en", sa.String(length=200), server_default="", nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=8), nullable=False),
        sa.Column("probability", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "forward_to",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("sla_amount", sa.Integer(), nullable=True),
        sa.Column("sla_unit", sa.String(length=8), server_default="hours", nullable=False),
        sa.Column("sla_business", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("sla_warn_percent", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["flow_pipeline.id"],
            name=op.f("fk_flow_stage_pipeline_id_flow_pipeline"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_stage")),
        sa.UniqueConstraint("pipeline_id", "key", name=op.f("uq_flow_stage_pipeline_id_key")),
    )
    op.create_table(
        "flow_criterion",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("stage_id", sa.BigInteger(), nullable=False),
        sa.Column("phase", sa.String(length=5), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column(
            "config",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("label", sa.String(length=200), server_default="", nullable=False),
        sa.Column("label_en", sa.String(length=200), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["stage_id"], ["flow_stage.id"], name=op.f("fk_flow_criterion_stage_id_flow_stage")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_criterion")),
    )
    with op.batch_alter_table("flow_criterion", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_flow_criterion_stage_id"), ["stage_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("flow_criterion", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flow_criterion_stage_id"))

    op.drop_table("flow_criterion")
    op.drop_table("flow_stage")
    with op.batch_alter_table("flow_stage_visit", schema=None) as batch_op:
        batch_op.drop_index(
            "ux_flow_stage_visit_open",
            sqlite_where=sa.text("left_at IS NULL"),
            postgresql_where=sa.text("left_at IS NULL"),
        )
        batch_op.drop_index(
            "ix_flow_stage_visit_warn",
            sqlite_where=sa.text("left_at IS NULL AND warned_at IS NULL"),
            postgresql_where=sa.text("left_at IS NULL AND warned_at IS NULL"),
        )
        batch_op.drop_index("ix_flow_stage_visit_stage")
        batch_op.drop_index("ix_flow_stage_visit_record")
        batch_op.drop_index(
            "ix_flow_stage_visit_due",
            sqlite_where=sa.text("left_at IS NULL AND breached_at IS NULL"),
            postgresql_where=sa.text("left_at IS NULL AND breached_at IS NULL"),
        )

    op.drop_table("flow_stage_visit")
    op.drop_table("flow_pipeline")
    op.drop_table("flow_checklist_tick")
