"""Rule runs name their form, so a record's runs outlive a deleted rule

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sys_rule_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("form_key", sa.String(length=63), nullable=True))
    op.execute(
        "UPDATE sys_rule_run SET form_key = "
        "(SELECT sys_rule.form_key FROM sys_rule WHERE sys_rule.id = sys_rule_run.rule_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("sys_rule_run", schema=None) as batch_op:
        batch_op.drop_column("form_key")
