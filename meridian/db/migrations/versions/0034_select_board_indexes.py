"""A select field's index becomes a board index over live rows

Forms made before the board index have a plain index on each select column. A kanban's counts
then visit every row to test ``deleted_at`` (2.7 s at 1M opportunities) and its cards sort on
``updated_at`` outside the index. Each such index is rebuilt in the shape ``schema/compile.py``
gives a select field now: (field, ``updated_at``, ``id``, ``deleted_at``) ``WHERE deleted_at IS
NULL``. One ``CREATE INDEX`` per field, whatever the table's size; an index already in the new
shape is left alone.

Revision ID: 0034
Revises: 0033
"""

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None

BOARD_TYPES = ("select",)
"""The built-in field types grouped on a board (``FieldType.board_grouping``), as of now."""


def _bounded(name: str) -> str:
    """``schema.compile.bounded_name`` as of this revision."""
    if len(name) <= 63:
        return name
    digest = hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{name[:54]}_{digest}"


def _board_fields(definition: Any) -> list[str]:
    form = json.loads(definition) if isinstance(definition, str) else definition
    return [
        field["key"]
        for field in form.get("fields", [])
        if field.get("type") in BOARD_TYPES
        and not field.get("archived")
        and not field.get("unique")
    ]


def upgrade() -> None:
    conn = op.get_bind()
    inspector = sa.inspect(conn)
    tables = set(inspector.get_table_names())
    quote = conn.dialect.identifier_preparer.quote
    for key, definition in conn.execute(sa.text("SELECT key, definition FROM meta_form")):
        table = f"data_{key}"
        if table not in tables:
            continue
        columns = {column["name"] for column in inspector.get_columns(table)}
        indexes = {index["name"]: index["column_names"] for index in inspector.get_indexes(table)}
        for field in _board_fields(definition):
            name = _bounded(f"ix_{table}_{field}")
            if field not in columns or indexes.get(name) == [
                field,
                "updated_at",
                "id",
                "deleted_at",
            ]:
                continue
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {quote(name)}")
            conn.exec_driver_sql(
                f"CREATE INDEX {quote(name)} ON {quote(table)} "
                f"({quote(field)}, updated_at, id, deleted_at) WHERE deleted_at IS NULL"
            )


def downgrade() -> None:
    """The board index serves everything the plain one did: nothing to undo."""
