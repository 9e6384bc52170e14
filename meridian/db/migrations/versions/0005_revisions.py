"""Revision tokens that let processes cache derived data safely

Revision ID: 0005
Revises: 0004
"""

import secrets

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
    # Rules made before this revision are cached from the first save on, like later ones.
    op.execute(
        sa.text("INSERT INTO sys_revision (name, token) VALUES ('rules', :token)").bindparams(
            token=secrets.token_hex(16)
        )
    )


def downgrade() -> None:
    op.drop_table("sys_revision")
