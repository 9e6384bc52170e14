"""An API token's revocation, expiry or scope replaces the ``access`` revision token

A process may then keep who a bearer token stands for under the ``access`` token (``http.
credentials``) and check it in the very statement its write reads the revisions with: a token
revoked, narrowed, re-pointed or deleted — by any process, or by hand — replaces the token, so the
next request of every process checks the credential afresh. Recording a token's last use
(``last_used_at``) replaces nothing.

Revision ID: 0038
Revises: 0035
"""

from alembic import op

revision = "0038"
down_revision = "0035"
branch_labels = None
depends_on = None

_COLUMNS = "user_id, token_hash, scope, app_key, form_key, expires_at, revoked_at"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # meridian_revision_changed() is 0032's: it replaces the subject named by its argument.
        op.execute(
            f"CREATE TRIGGER sys_api_token_revision AFTER UPDATE OF {_COLUMNS} OR DELETE "
            "ON sys_api_token "
            "FOR EACH STATEMENT EXECUTE FUNCTION meridian_revision_changed('access')"
        )
        return
    bump = "UPDATE sys_revision SET token = lower(hex(randomblob(16))) WHERE name = 'access'"
    op.execute(
        f"CREATE TRIGGER sys_api_token_revision_update AFTER UPDATE OF {_COLUMNS} "
        f"ON sys_api_token BEGIN {bump}; END"
    )
    op.execute(
        f"CREATE TRIGGER sys_api_token_revision_delete AFTER DELETE ON sys_api_token "
        f"BEGIN {bump}; END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS sys_api_token_revision ON sys_api_token")
        return
    op.execute("DROP TRIGGER IF EXISTS sys_api_token_revision_update")
    op.execute("DROP TRIGGER IF EXISTS sys_api_token_revision_delete")
