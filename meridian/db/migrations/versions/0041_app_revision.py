"""A change to the apps replaces the ``forms`` revision token

A process keeps the list of apps (every page's menu shows them) with the list of forms, under
the ``forms`` token (``schema.catalog.list_apps``): an app added, renamed or removed — by
Meridian, which also replaces the token itself so its own transaction sees the change, or by
hand — now replaces that token too, so every process lists the apps afresh on its next request.

Revision ID: 0041
Revises: 0040
"""

from alembic import op

revision = "0041"
down_revision = "0040"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # meridian_revision_changed() is 0032's: it replaces the subject named by its argument.
        op.execute(
            "CREATE TRIGGER meta_app_revision AFTER INSERT OR UPDATE OR DELETE ON meta_app "
            "FOR EACH STATEMENT EXECUTE FUNCTION meridian_revision_changed('forms')"
        )
        return
    bump = "UPDATE sys_revision SET token = lower(hex(randomblob(16))) WHERE name = 'forms'"
    for event in ("INSERT", "UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER meta_app_revision_{event.lower()} AFTER {event} ON meta_app "
            f"BEGIN {bump}; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS meta_app_revision ON meta_app")
        return
    for event in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS meta_app_revision_{event}")
