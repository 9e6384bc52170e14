"""The audit head names the key its chain is made with

Revision ID: 0009
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The chain itself is re-keyed at the first start with a key (events/audit_keys.py): the
    # key lives outside the database, where a migration cannot reach it.
    with op.batch_alter_table("sys_audit_head", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_id", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sys_audit_head", schema=None) as batch_op:
        batch_op.drop_column("key_id")
