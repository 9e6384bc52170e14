"""Revision tokens that let processes cache derived data safely

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sys_revision",
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sys_revision")),
    )


def downgrade() -> None:
    op.drop_table("sys_revision")
