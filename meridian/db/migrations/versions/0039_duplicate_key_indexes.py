"""Phone, e-mail and USCC fields get an index

Deduplication pairs an imported row with the stored records sharing its phone, e-mail or
USCC (``dataio/dedup.py``), looking every value of a batch up. A unique field has its unique
index; the others had none, so each batch read the whole table once per such field: at 100,000
customers most of an import's time, growing with the table. ``schema/compile.py`` now indexes
these types (``FieldType.always_indexed``); forms made before get the same plain index here,
one ``CREATE INDEX`` per field. An index already there is left alone.

Revision ID: 0039
Revises: 0038
"""

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0039"
down_revision = "0038"
branch_labels = None
depends_on = None

KEY_TYPES = ("phone", "email", "uscc")
"""The built-in field types that are a party's key (``FieldType.duplicate_key``), as of now."""


def _bounded(name: str) -> str:
    """``schema.compile.bounded_name`` as of this revision."""
    if len(name) <= 63:
        return name
    digest = hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{name[:54]}_{digest}"


def _key_fields(definition: Any) -> list[str]:
    form = json.loads(definition) if isinstance(definition, str) else definition
    return [
        field["key"]
        for field in form.get("fields", [])
        if field.get("type") in KEY_TYPES and not field.get("archived") and not field.get("unique")
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
        indexes = {index["name"] for index in inspector.get_indexes(table)}
        for field in _key_fields(definition):
            name = _bounded(f"ix_{table}_{field}")
            if field in columns and name not in indexes:
                conn.exec_driver_sql(
                    f"CREATE INDEX {quote(name)} ON {quote(table)} ({quote(field)})"
                )


def downgrade() -> None:
    """The indexes only speed lookups up: nothing to undo."""
