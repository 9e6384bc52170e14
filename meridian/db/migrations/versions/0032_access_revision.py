"""Revision tokens kept by the database: who users are, form definitions, pipelines, webhooks

Every subject a process caches gets its token now (``access``, ``forms``, ``pipelines``,
``webhooks``), so even a database made before this revision is cached from its first request.
Triggers replace a subject's token whenever its tables change, whichever code — or hand —
changes them:

- ``access``: a user's name, administrator flag, activity, locale, department or
  password-change duty; their roles or departments; a role's permissions on a form;
- ``forms``: ``meta_form``;
- ``pipelines``: ``flow_pipeline``, ``flow_stage``, ``flow_criterion``;
- ``webhooks``: ``sys_webhook``.

A process that keeps what it derived from a subject by its token notices any such change on
the very next request.

Revision ID: 0032
Revises: 0030
"""

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0030"
branch_labels = None
depends_on = None

_SUBJECTS = ("access", "forms", "pipelines", "webhooks")
_USER_COLUMNS = "name, is_admin, is_active, locale, department_id, must_change_password"
_WATCHED = (
    ("sys_user_role", "access"),
    ("sys_user_department", "access"),
    ("sys_role_form", "access"),
    ("meta_form", "forms"),
    ("flow_pipeline", "pipelines"),
    ("flow_stage", "pipelines"),
    ("flow_criterion", "pipelines"),
    ("sys_webhook", "webhooks"),
)


def _fresh(postgres: bool) -> str:
    return (
        "md5(random()::text || clock_timestamp()::text)"
        if postgres
        else "lower(hex(randomblob(16)))"
    )


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    fresh = _fresh(postgres)
    for name in _SUBJECTS:
        op.execute(
            sa.text(
                f"INSERT INTO sys_revision (name, token) SELECT :name, {fresh} "
                "WHERE NOT EXISTS (SELECT 1 FROM sys_revision WHERE name = :name)"
            ).bindparams(name=name)
        )
    if postgres:
        op.execute(
            "CREATE FUNCTION meridian_revision_changed() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN UPDATE sys_revision SET token = {fresh} WHERE name = TG_ARGV[0]; "
            "RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER sys_user_revision AFTER UPDATE OF {_USER_COLUMNS} ON sys_user "
            "FOR EACH STATEMENT EXECUTE FUNCTION meridian_revision_changed('access')"
        )
        for table, subject in _WATCHED:
            op.execute(
                f"CREATE TRIGGER {table}_revision AFTER INSERT OR UPDATE OR DELETE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION meridian_revision_changed('{subject}')"
            )
        return
    bump = "UPDATE sys_revision SET token = {fresh} WHERE name = '{subject}'"
    op.execute(
        f"CREATE TRIGGER sys_user_revision AFTER UPDATE OF {_USER_COLUMNS} ON sys_user "
        f"BEGIN {bump.format(fresh=fresh, subject='access')}; END"
    )
    for table, subject in _WATCHED:
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_revision_{event.lower()} AFTER {event} ON {table} "
                f"BEGIN {bump.format(fresh=fresh, subject=subject)}; END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS sys_user_revision ON sys_user")
        for table, _ in _WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_revision ON {table}")
        op.execute("DROP FUNCTION IF EXISTS meridian_revision_changed()")
    else:
        op.execute("DROP TRIGGER IF EXISTS sys_user_revision")
        for table, _ in _WATCHED:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_revision_{event}")
    names = ", ".join(f"'{name}'" for name in _SUBJECTS)
    op.execute(f"DELETE FROM sys_revision WHERE name IN ({names})")
