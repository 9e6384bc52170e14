"""Imports: a run of a file into a form (resumable by batch), each data row's outcome, and
saved column mappings

Revision ID: 0019
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import meridian.db.types

revision = "0019"
down_revision = "0020"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _id() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _at() -> meridian.db.types.UTCDateTime:
    return meridian.db.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sys_import",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("form_key", sa.String(length=63), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("file_hash", sa.String(length=64), nullable=False),
        sa.Column("mapping_hash", sa.String(length=64), nullable=False),
        sa.Column("sheet", sa.String(length=255), nullable=True),
        sa.Column("mapping", _json(), nullable=False),
        sa.Column("on_duplicate", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("rows_done", sa.Integer(), nullable=False),
        sa.Column("batches", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("merged", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("started_at", _at(), nullable=False),
        sa.Column("updated_at", _at(), nullable=False),
        sa.Column("finished_at", _at(), nullable=True),
        sa.Column("rolled_back_at", _at(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_import")),
    )
    op.create_index(
        "ix_sys_import_file",
        "sys_import",
        ["form_key", "file_hash", "mapping_hash", "state"],
        unique=False,
    )
    op.create_table(
        "sys_import_row",
        sa.Column("import_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("row_number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=True),
        sa.Column("detail", _json(), nullable=True),
        sa.PrimaryKeyConstraint("import_id", "row_number", name=op.f("pk_sys_import_row")),
    )
    op.create_index("ix_sys_import_row_record", "sys_import_row", ["record_id"], unique=False)
    op.create_table(
        "sys_import_mapping",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("form_key", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("document", _json(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", _at(), nullable=False),
        sa.Column("updated_at", _at(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_import_mapping")),
        sa.UniqueConstraint("form_key", "name", name=op.f("uq_sys_import_mapping_form_key_name")),
    )


def downgrade() -> None:
    op.drop_table("sys_import_mapping")
    op.drop_index("ix_sys_import_row_record", table_name="sys_import_row")
    op.drop_table("sys_import_row")
    op.drop_index("ix_sys_import_file", table_name="sys_import")
    op.drop_table("sys_import")
