"""Reports and dashboards: stored definitions, shared per role, versioned by a revision token

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import meridian.db.types

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _common(name: str, *extra: sa.Column) -> None:  # type: ignore[type-arg]
    op.create_table(
        name,
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("app_key", sa.String(length=63), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("definition", _json(), nullable=False),
        sa.Column("roles", _json(), nullable=False),
        *extra,
        sa.Column("revision", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", meridian.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
    )


def upgrade() -> None:
    _common("sys_report")
    op.create_index("ix_sys_report_app", "sys_report", ["app_key"], unique=False)
    _common(
        "sys_dashboard",
        sa.Column("home_for", sa.String(length=63), nullable=False, server_default=""),
    )
    op.create_index("ix_sys_dashboard_app", "sys_dashboard", ["app_key"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sys_dashboard_app", table_name="sys_dashboard")
    op.drop_table("sys_dashboard")
    op.drop_index("ix_sys_report_app", table_name="sys_report")
    op.drop_table("sys_report")
