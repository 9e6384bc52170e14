"""Files are named by random tokens, and their sniffed kind is kept

Every stored file gets a 128-bit random token (from the database's own random source), and
every attachment column of every form table — line tables too, archived fields too — has its
file ids replaced by the tokens, set-based, one UPDATE per column. Sequential ids then name
nothing a client can send. Record history keeps the ids it recorded.

Revision ID: 0007
Revises: 0010
"""

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

from meridian.schema.compile import bounded_name

revision = "0007"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sys_file", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("kind", sa.String(length=20), nullable=True))
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    random_token = (
        "replace(gen_random_uuid()::text, '-', '')" if postgres else "lower(hex(randomblob(16)))"
    )
    op.execute(f"UPDATE sys_file SET token = {random_token}")
    quote = bind.dialect.identifier_preparer.quote
    for table, column in _attachment_columns(bind):
        op.execute(_to_tokens(quote(table), quote(column), postgres))
    with op.batch_alter_table("sys_file", schema=None) as batch_op:
        batch_op.alter_column("token", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_sys_file_token"), ["token"])


def _attachment_columns(bind: Any) -> list[tuple[str, str]]:
    """(table, column) of every attachment field, read from the stored form definitions."""
    found = []
    for key, definition in bind.execute(sa.text("SELECT key, definition FROM meta_form")):
        if isinstance(definition, str):
            definition = json.loads(definition)
        for field in definition.get("fields", []):
            if field.get("type") == "attachment":
                found.append((f"data_{key}", field["key"]))
            for line in field.get("fields", []) if field.get("type") == "child_table" else []:
                if line.get("type") == "attachment":
                    found.append((bounded_name(f"data_{key}__{field['key']}"), line["key"]))
    return found


def _to_tokens(table: str, column: str, postgres: bool) -> str:
    """Each id list becomes the list of its files' tokens, in order (ids of no file drop out)."""
    if postgres:
        return (
            f"UPDATE {table} SET {column} = (SELECT jsonb_agg(f.token ORDER BY e.n)"
            f" FROM jsonb_array_elements_text({table}.{column}) WITH ORDINALITY AS e(v, n)"
            f" JOIN sys_file f ON f.id::text = e.v)"
            f" WHERE jsonb_typeof({column}) = 'array'"
        )
    return (
        f"UPDATE {table} SET {column} = (SELECT NULLIF(json_group_array(t), '[]') FROM"
        f" (SELECT f.token AS t FROM json_each({table}.{column}) AS e"
        f" JOIN sys_file f ON f.id = e.value ORDER BY e.key))"
        f" WHERE json_type({column}) = 'array'"
    )


def downgrade() -> None:
    """Drops the tokens; attachment columns keep them (there is no way back to the ids)."""
    with op.batch_alter_table("sys_file", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_sys_file_token"), type_="unique")
        batch_op.drop_column("kind")
        batch_op.drop_column("token")
