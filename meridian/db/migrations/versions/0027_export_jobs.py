"""A long export runs as a job: when its current attempt began and which job runs it

``sys_export`` gains ``started_at`` (the pace and the time left are counted from it; a worker
that takes over a dead worker's export starts it again and sets it anew) and ``job_id`` (the
``export.run`` job, for the operator's jobs page).

Revision ID: 0027
Revises: 0032
"""

import sqlalchemy as sa
from alembic import op

import meridian.db.types

revision = "0027"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sys_export", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("started_at", meridian.db.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("job_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sys_export", schema=None) as batch_op:
        batch_op.drop_column("job_id")
        batch_op.drop_column("started_at")
