"""A Word document keeps its PDF, converted by LibreOffice as a job

``pdf_state`` (NULL: never asked, ``queued``, ``done``, ``failed``), ``pdf_file_id`` (the
converted file) and ``pdf_error`` (why the conversion failed). Existing rows stay NULL: their
PDF is made when asked for.

Revision ID: 0026
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sys_document", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pdf_state", sa.String(10), nullable=True))
        batch_op.add_column(sa.Column("pdf_file_id", sa.BigInteger, nullable=True))
        batch_op.add_column(sa.Column("pdf_error", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sys_document", schema=None) as batch_op:
        batch_op.drop_column("pdf_error")
        batch_op.drop_column("pdf_file_id")
        batch_op.drop_column("pdf_state")
