"""Documents keep the fields hidden from their generator

A generated document prints the record as its generator read it; ``hidden_fields`` keeps,
per form, the field keys hidden from the generator then, so the document is shown only to
readers who see at least as much. Existing rows stay NULL: made by someone who saw everything.

Revision ID: 0011
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sys_document", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "hidden_fields",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("sys_document", schema=None) as batch_op:
        batch_op.drop_column("hidden_fields")
