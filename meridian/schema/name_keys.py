"""The stored name key of every record (issue 19): the form's title field as
:func:`~meridian.schema.values.company.name_key` gives it (``_name_key``) and the same key
reversed (``_name_rev``), two system columns each with an index over the records that have one.

Duplicate detection looks up a name's look-alikes through these indexes instead of reading
every record: a name within one edit (a character changed, added or dropped) of another shares
with it the first half or the last half of its key, so a prefix range on ``_name_key`` and one
on ``_name_rev`` find it whatever the size of the table (``dataio/dedup.py``). The write path
keeps both columns in the INSERT or UPDATE it makes anyway (``records/writing.py``,
``records/service.py``, ``records/bulk.py``); a change of the form's title field, or of that
field's type, recomputes them for the whole table (:func:`refresh_name_keys`, from
``catalog.store_form``), as revision 0031 filled them for the records made before it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.schema.values.company import name_key

NAME_KEY = "_name_key"
NAME_REVERSED = "_name_rev"
_CHUNK = 5000


def key_column_type() -> sa.types.TypeEngine[str]:
    """Text compared byte by byte on both dialects (SQLite's default; ``COLLATE "C"`` on
    PostgreSQL), so a range ``>= p AND < p⁺`` is exactly "starts with p" and a B-tree serves it
    whatever the database's collation."""
    byte_order = sa.UnicodeText(collation="C")  # sa.Text("C") would read as a message
    return sa.UnicodeText().with_variant(byte_order, "postgresql")


def name_key_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column(NAME_KEY, key_column_type(), nullable=True),
        sa.Column(NAME_REVERSED, key_column_type(), nullable=True),
    ]


def keys_of(name: Any) -> tuple[str | None, str | None]:
    """The two stored keys of a title value: (key, key reversed), or Nones when it has none."""
    if not isinstance(name, str):
        return None, None
    key = name_key(name)
    return (key, key[::-1]) if key else (None, None)


def name_key_values(field_key: str | None, row: Mapping[str, Any]) -> dict[str, str | None]:
    """The name key columns of a row about to be written (``field_key``: the form's name
    field, None when it has none)."""
    key, reversed_key = keys_of(row.get(field_key) if field_key is not None else None)
    return {NAME_KEY: key, NAME_REVERSED: reversed_key}


def name_source(table: sa.Table, title_field: str | None) -> str | None:
    """The column the keys are made from: the title field's, when it is stored as text."""
    if title_field is None or title_field not in table.c:
        return None
    return title_field if isinstance(table.c[title_field].type, sa.String) else None


def fill_name_keys(conn: Connection, table: sa.Table, source: str | None) -> None:
    """Recompute both key columns of every record of ``table`` from column ``source`` (None:
    clear them), set-based: one UPDATE calling the key function on SQLite; on PostgreSQL,
    which cannot call Python, one UPDATE … FROM (VALUES …) per 5,000 records read in id order."""
    keys, reverse = table.c[NAME_KEY], table.c[NAME_REVERSED]
    if source is None:
        conn.execute(table.update().where(keys.is_not(None)).values({keys: None, reverse: None}))
        return
    column = table.c[source]
    if conn.dialect.name == "sqlite":
        raw = conn.connection.driver_connection
        assert raw is not None
        raw.create_function("meridian_name_key", 1, _sql_key, deterministic=True)
        raw.create_function("meridian_name_rev", 1, _sql_reversed, deterministic=True)
        conn.execute(
            table.update().values(
                {
                    keys: sa.func.meridian_name_key(column),
                    reverse: sa.func.meridian_name_rev(column),
                }
            )
        )
        return
    after = 0
    while True:
        rows = conn.execute(
            sa.select(table.c.id, column)
            .where(table.c.id > after)
            .order_by(table.c.id)
            .limit(_CHUNK)
        ).all()
        if not rows:
            return
        after = rows[-1][0]
        computed = sa.values(
            sa.column("id", sa.BigInteger),
            sa.column("k", sa.Text),
            sa.column("r", sa.Text),
            name="computed",
        ).data([(record_id, *keys_of(name)) for record_id, name in rows])
        conn.execute(
            table.update()
            .where(table.c.id == computed.c.id)
            .values({keys: computed.c.k, reverse: computed.c.r})
        )


def _sql_key(name: Any) -> str | None:
    return keys_of(name)[0]


def _sql_reversed(name: Any) -> str | None:
    return keys_of(name)[1]


def refresh_name_keys(conn: Connection, table: sa.Table, title_field: str | None) -> None:
    """Bring the keys in line with the form's (new) title field."""
    fill_name_keys(conn, table, name_source(table, title_field))
