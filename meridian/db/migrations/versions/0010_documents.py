"""Documents: templates, generated documents, assets, signing keys, batches

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import meridian.db.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sys_document",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("form_key", sa.String(length=63), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("template_key", sa.String(length=63), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("file_id", sa.BigInteger(), nullable=True),
        sa.Column("signing_key_id", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_document")),
        sa.UniqueConstraint(
            "form_key",
            "record_id",
            "template_key",
            "version",
            name=op.f("uq_sys_document_form_key_record_id_template_key_version"),
        ),
    )
    with op.batch_alter_table("sys_document", schema=None) as batch_op:
        batch_op.create_index("ix_sys_document_record", ["form_key", "record_id"], unique=False)

    op.create_table(
        "sys_document_asset",
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("file_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sys_document_asset")),
    )
    op.create_table(
        "sys_document_batch",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("form_key", sa.String(length=63), nullable=False),
        sa.Column("template_key", sa.String(length=63), nullable=False),
        sa.Column(
            "record_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("output", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("done", sa.Integer(), server_default="0", nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", meridian.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_document_batch")),
    )
    op.create_table(
        "sys_document_template",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("form_key", sa.String(length=63), nullable=False),
        sa.Column("key", sa.String(length=63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("body", sa.Text(), server_default="", nullable=False),
        sa.Column("source_file_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "page",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("condition", sa.Text(), server_default="", nullable=False),
        sa.Column("number_pattern", sa.String(length=64), nullable=False),
        sa.Column("sign", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_document_template")),
        sa.UniqueConstraint(
            "form_key", "key", "version", name=op.f("uq_sys_document_template_form_key_key_version")
        ),
    )
    op.create_table(
        "sys_signing_key",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subject", sa.String(length=400), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("not_after", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_signing_key")),
    )


def downgrade() -> None:
    op.drop_table("sys_signing_key")
    op.drop_table("sys_document_template")
    op.drop_table("sys_document_batch")
    op.drop_table("sys_document_asset")
    with op.batch_alter_table("sys_document", schema=None) as batch_op:
        batch_op.drop_index("ix_sys_document_record")

    op.drop_table("sys_document")
