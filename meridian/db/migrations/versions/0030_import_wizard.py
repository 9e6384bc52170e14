"""An import can be prepared before it runs, and shows its pace while it runs

``sys_import`` gains ``rows_total`` (the file's data rows, for the progress bar and the ETA),
``rows_per_second`` (the running pace), ``job_id`` (the job running it) and ``dry_run`` (the
last dry run's counts, sample and report). Its ``state`` may now also be ``draft``: uploaded,
being mapped and reviewed, not yet running. Existing rows keep NULL.

Revision ID: 0030
Revises: 0034
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0030"
down_revision = "0034"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("sys_import", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rows_total", sa.Integer, nullable=True))
        batch_op.add_column(sa.Column("rows_per_second", sa.Float, nullable=True))
        batch_op.add_column(sa.Column("job_id", sa.BigInteger, nullable=True))
        batch_op.add_column(sa.Column("dry_run", _json(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sys_import", schema=None) as batch_op:
        batch_op.drop_column("dry_run")
        batch_op.drop_column("job_id")
        batch_op.drop_column("rows_per_second")
        batch_op.drop_column("rows_total")
