"""``expand``: replace link ids on a page of records with ``{id, title}`` of the targets."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.core.i18n import Text
from meridian.db.sets import one_of
from meridian.errors import FieldError, ValidationFailed
from meridian.records.readable import Readable
from meridian.schema.catalog import get_form
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Field, Form


def expand_links(
    conn: Connection,
    form: Form,
    records: list[dict[str, Any]],
    keys: Sequence[str],
    actor: Actor,
    tz: ZoneInfo,
) -> None:
    """One query per expanded link field for the whole page, over the linked rows the actor
    may read (:class:`Readable`, live or trashed); a linked record it may not read, or whose
    title field is hidden from it, shows only its id."""
    for key in dict.fromkeys(keys):  # a key asked for twice is expanded once
        link = form.get_field(key)
        if link is None or link.archived or not field_type(link).links_records:
            raise ValidationFailed(
                [
                    FieldError(
                        "expand", "not_a_link", Text("{key!r} is not a link field", key=key), key
                    )
                ]
            )
        ids: set[int] = set()
        for record in records:
            value = record.get(key)
            ids.update(value if isinstance(value, list) else [value] if value else [])
        if not ids:
            continue
        titles = link_titles(conn, link, ids, actor, tz)
        found = {i: {"id": i, "title": title} for i, title in titles.items()}
        for record in records:
            value = record.get(key)
            if isinstance(value, list):
                record[key] = [found.get(i, {"id": i, "title": f"#{i}"}) for i in value]
            elif value:
                record[key] = found.get(value, {"id": value, "title": f"#{value}"})


def link_titles(
    conn: Connection, link: Field, ids: Iterable[int], actor: Actor, tz: ZoneInfo
) -> dict[int, str]:
    """The titles of the linked records ``ids`` (one query) as the actor sees them: a record it
    may not read, or whose title field is hidden from it, is missing (shown as ``#id``);
    trashed records it may read keep their titles, their trash being open to it."""
    target_access = form_access(conn, actor, get_form(conn, link.target or ""))
    rows = Readable.of(conn, target_access, tz, deleted=None)
    target, table = rows.form, rows.table
    title = target.get_field(target.title_field) if target.title_field else None
    columns = [table.c.id, *([table.c[title.key]] if title else [])]
    found: dict[int, str] = {}
    query = rows.select(*columns).where(one_of(conn, table.c.id, sorted(ids)))
    for row in conn.execute(query):
        label = field_type(title).dump(title, row[1]) if title and row[1] is not None else None
        found[row.id] = label if label is not None else f"#{row.id}"
    return found
