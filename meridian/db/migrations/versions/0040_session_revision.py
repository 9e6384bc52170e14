"""A session's revocation, expiry or deletion replaces the ``access`` revision token

A process may then keep who a browser session stands for, as it keeps API tokens (``http.
credentials``), and check it in the very statement its request's transaction reads the
revisions with: a session signed out, signed out everywhere, ended by a password change or
deleted — by any process, or by hand — replaces the token, so the next request of every process
checks the session afresh. Recording a session's use (``last_seen_at``) replaces nothing.

Revision ID: 0040
Revises: 0039
"""

from alembic import op

revision = "0040"
down_revision = "0039"
branch_labels = None
depends_on = None

_COLUMNS = "user_id, token_hash, expires_at, revoked_at"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # meridian_revision_changed() is 0032's: it replaces the subject named by its argument.
        op.execute(
            f"CREATE TRIGGER sys_session_revision AFTER UPDATE OF {_COLUMNS} OR DELETE "
            "ON sys_session "
            "FOR EACH STATEMENT EXECUTE FUNCTION meridian_revision_changed('access')"
        )
        return
    bump = "UPDATE sys_revision SET token = lower(hex(randomblob(16))) WHERE name = 'access'"
    op.execute(
        f"CREATE TRIGGER sys_session_revision_update AFTER UPDATE OF {_COLUMNS} "
        f"ON sys_session BEGIN {bump}; END"
    )
    op.execute(
        f"CREATE TRIGGER sys_session_revision_delete AFTER DELETE ON sys_session BEGIN {bump}; END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS sys_session_revision ON sys_session")
        return
    op.execute("DROP TRIGGER IF EXISTS sys_session_revision_update")
    op.execute("DROP TRIGGER IF EXISTS sys_session_revision_delete")
