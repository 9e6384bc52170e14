"""Revision tokens for who users are and for the form definitions, kept by the database

Every subject a process caches gets its token now (``access``, ``forms``), so even a database
made before this revision is cached from its first request. ``access`` is replaced by
triggers whenever a user's name, administrator flag, activity, locale, department or
password-change duty changes, or their roles or departments do, or a role's permissions on a
form (``sys_role_form``): a process that keeps actors and permissions by this token notices
any such change on the very next request, whichever code — or hand — made it.

Revision ID: 0032
Revises: 0034
"""

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0034"
branch_labels = None
depends_on = None

_SUBJECTS = ("access", "forms", "pipelines", "webhooks")
_USER_COLUMNS = "name, is_admin, is_active, locale, department_id, must_change_password"
_MEMBERSHIPS = ("sys_user_role", "sys_user_department", "sys_role_form")


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    fresh = (
        "md5(random()::text || clock_timestamp()::text)"
        if postgres
        else "lower(hex(randomblob(16)))"
    )
    for name in _SUBJECTS:
        op.execute(
            sa.text(
                f"INSERT INTO sys_revision (name, token) SELECT :name, {fresh} "
                "WHERE NOT EXISTS (SELECT 1 FROM sys_revision WHERE name = :name)"
            ).bindparams(name=name)
        )
    bump = f"UPDATE sys_revision SET token = {fresh} WHERE name = 'access'"
    if postgres:
        op.execute(
            "CREATE FUNCTION meridian_access_changed() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {bump}; RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER sys_user_access AFTER UPDATE OF {_USER_COLUMNS} ON sys_user "
            "FOR EACH STATEMENT EXECUTE FUNCTION meridian_access_changed()"
        )
        for table in _MEMBERSHIPS:
            op.execute(
                f"CREATE TRIGGER {table}_access AFTER INSERT OR UPDATE OR DELETE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION meridian_access_changed()"
            )
        return
    op.execute(
        f"CREATE TRIGGER sys_user_access AFTER UPDATE OF {_USER_COLUMNS} ON sys_user "
        f"BEGIN {bump}; END"
    )
    for table in _MEMBERSHIPS:
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_access_{event.lower()} AFTER {event} ON {table} "
                f"BEGIN {bump}; END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ("sys_user", *_MEMBERSHIPS):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_access ON {table}")
        op.execute("DROP FUNCTION IF EXISTS meridian_access_changed()")
    else:
        op.execute("DROP TRIGGER IF EXISTS sys_user_access")
        for table in _MEMBERSHIPS:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_access_{event}")
    names = ", ".join(f"'{name}'" for name in _SUBJECTS)
    op.execute(f"DELETE FROM sys_revision WHERE name IN ({names})")
