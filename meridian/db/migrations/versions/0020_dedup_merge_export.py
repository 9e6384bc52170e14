"""Duplicate candidates of an import, record merges, and export jobs

``sys_duplicate_candidate`` holds the pairs deduplication found in a file (a row and an
earlier row, or a row and an existing record) with the user's decision; ``sys_record_merge``
points a merged record at the one that lives on; ``sys_export`` is a long export's progress
and its finished file.

Revision ID: 0020
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import meridian.db.types

revision = "0020"
down_revision = "0012"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _id() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        autoincrement=True,
        nullable=False,
    )


def _at(name: str, nullable: bool) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, meridian.db.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "sys_duplicate_candidate",
        _id(),
        sa.Column("batch_key", sa.String(length=64), nullable=False),
        sa.Column("form_key", sa.String(length=63), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("other_row", sa.Integer(), nullable=True),
        sa.Column("record_id", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("field_key", sa.String(length=63), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("value", sa.String(length=500), nullable=False),
        sa.Column("decision", sa.String(length=8), nullable=True),
        sa.Column("decided_by", sa.BigInteger(), nullable=True),
        _at("decided_at", True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_duplicate_candidate")),
    )
    op.create_index(
        "ix_sys_duplicate_candidate_batch", "sys_duplicate_candidate", ["batch_key", "row"]
    )
    op.create_table(
        "sys_record_merge",
        _id(),
        sa.Column("form_key", sa.String(length=63), nullable=False),
        sa.Column("survivor_id", sa.BigInteger(), nullable=False),
        sa.Column("loser_id", sa.BigInteger(), nullable=False),
        sa.Column("fields", _json(), nullable=False),
        sa.Column("relinked", _json(), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        _at("at", False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_record_merge")),
        sa.UniqueConstraint(
            "form_key", "loser_id", name=op.f("uq_sys_record_merge_form_key_loser_id")
        ),
    )
    op.create_index("ix_sys_record_merge_survivor", "sys_record_merge", ["form_key", "survivor_id"])
    op.create_table(
        "sys_export",
        _id(),
        sa.Column("form_key", sa.String(length=63), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=True),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("settings", _json(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("rows_done", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("rows_total", sa.BigInteger(), nullable=True),
        sa.Column("file_token", sa.String(length=32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _at("created_at", False),
        _at("finished_at", True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sys_export")),
    )
    op.create_index("ix_sys_export_owner", "sys_export", ["owner_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_sys_export_owner", table_name="sys_export")
    op.drop_table("sys_export")
    op.drop_index("ix_sys_record_merge_survivor", table_name="sys_record_merge")
    op.drop_table("sys_record_merge")
    op.drop_index("ix_sys_duplicate_candidate_batch", table_name="sys_duplicate_candidate")
    op.drop_table("sys_duplicate_candidate")
