"""A user's language is optional: none chosen means each request's Accept-Language decides

``sys_user.locale`` was filled with zh-CN for everyone, so a user who never chose a language
could not be told apart from one who chose Chinese, and the API and pages ignored the
browser's language. New users start with none; existing values are kept (some were chosen).

Revision ID: 0012
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sys_user", schema=None) as batch_op:
        batch_op.alter_column(
            "locale",
            existing_type=sa.String(length=10),
            nullable=True,
            server_default=None,
        )


def downgrade() -> None:
    op.execute("UPDATE sys_user SET locale = 'zh-CN' WHERE locale IS NULL")
    with op.batch_alter_table("sys_user", schema=None) as batch_op:
        batch_op.alter_column(
            "locale",
            existing_type=sa.String(length=10),
            nullable=False,
            server_default="zh-CN",
        )
