"""Merging two records of one form into one (issue 19, item 4): the survivor takes the values
chosen per field, everything that pointed at the other record points at the survivor, and the
other goes to the trash with a pointer to the survivor (``sys_record_merge``).

Every step goes through the write path or is one set-based statement per place:

1. the chosen values are written to the survivor by :func:`service.update_record` (checks,
   guards, formulas, history, events) — values of unique fields after step 3, since the
   other record holds them until it is trashed, and everything else before it, while the
   other's attachments are still usable;
2. links are repointed: link columns and pair tables of every form (self-links too), link
   columns of line items, tasks and shares; each record whose link changed gets a new
   version and a history entry, and rollups over the links are recomputed;
3. the other record is trashed by :func:`service.delete_record`.

Both histories stay where they were written; :func:`meridian.records.history.read_history`
shows the merged record's entries on the survivor's timeline. Approvals, stage visits and
generated documents stay with the merged record (they are its history). The merge is one
transaction, audited, and takes the right to change the survivor and to delete the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.core.timezones import DEFAULT_TIME_ZONE
from meridian.db.tables import record_merges, record_shares, tasks
from meridian.errors import ErrorCollector
from meridian.events.audit import audit
from meridian.records import service
from meridian.records.history import write_history
from meridian.records.plan import plan_for
from meridian.records.readable import Readable
from meridian.records.reads import get_record, read_row
from meridian.records.writing import refresh_rollups, require_rows
from meridian.schema.catalog import list_forms
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Field, Form

CHOICES = ("keep", "other", "both")
"""Per field: keep the survivor's value, take the other's, or (for lists) both."""


def merge_records(
    *,
    conn: Connection,
    actor: Actor,
    form: Form,
    record_id: int,
    other_id: int,
    fields: Mapping[str, Any] | None = None,
    tz: ZoneInfo = DEFAULT_TIME_ZONE,
) -> dict[str, Any]:
    """Merge record ``other_id`` into ``record_id`` and return the survivor as the API shows
    it. ``fields`` maps a field key to ``keep`` (the default), ``other`` or ``both``.

    Refused, changing nothing: the same id twice (422, ``other``), a record that is not a live
    record of ``form`` the actor may read (404), no right to change the survivor or to delete
    the other (403), an unknown or computed field or an unknown choice (422, naming each).
    """
    errors = ErrorCollector()
    if other_id == record_id:
        errors.add(
            "other",
            "same_record",
            Text("a record cannot be merged with itself"),
            other_id,
        )
        errors.raise_if_any()
    access = form_access(conn, actor, form)
    access.require("update")
    access.require("delete")
    readable = Readable.of(conn, access, tz)
    read_row(conn, readable, record_id)
    read_row(conn, readable, other_id)
    table = plan_for(form).tables.main
    require_rows(conn, access, table, record_id, "update", tz)
    require_rows(conn, access, table, other_id, "delete", tz)
    choices = _choices(access.visible, fields, errors)
    errors.raise_if_any()
    survivor = get_record(conn=conn, actor=actor, form=form, record_id=record_id, tz=tz)
    other = get_record(conn=conn, actor=actor, form=form, record_id=other_id, tz=tz)
    values = {
        key: _chosen(access.visible.get_field(key), choice, survivor.get(key), other.get(key))
        for key, choice in choices.items()
        if choice != "keep"
    }
    unique = {key: value for key, value in values.items() if _unique(form, key)}
    plain = {key: value for key, value in values.items() if key not in unique}
    if plain:
        service.update_record(
            conn=conn, actor=actor, form=form, record_id=record_id, values=plain, tz=tz
        )
    relinked = _relink(conn, actor, form, other_id, record_id)
    service.delete_record(conn=conn, actor=actor, form=form, record_id=other_id, tz=tz)
    if unique:
        service.update_record(
            conn=conn, actor=actor, form=form, record_id=record_id, values=unique, tz=tz
        )
    now = utcnow(conn)
    conn.execute(
        record_merges.insert().values(
            form_key=form.key,
            survivor_id=record_id,
            loser_id=other_id,
            fields=choices,
            relinked=relinked,
            actor_id=actor.user_id,
            at=now,
        )
    )
    versions = dict(
        conn.execute(
            sa.select(table.c.id, table.c._version).where(table.c.id.in_([record_id, other_id]))
        ).all()
    )
    write_history(
        conn,
        form.key,
        [
            (record_id, versions[record_id], "merge", {"merged": [other_id, record_id]}),
            (other_id, versions[other_id], "merged", {"merged": [other_id, record_id]}),
        ],
        actor.user_id,
        now,
    )
    audit(
        conn,
        actor_id=actor.user_id,
        action="record_merged",
        object_type=form.key,
        object_id=record_id,
        detail={"other": other_id, "fields": choices, "relinked": relinked},
    )
    return get_record(conn=conn, actor=actor, form=form, record_id=record_id, tz=tz)


def mergeable_fields(form: Form) -> list[Field]:
    """The fields a merge chooses between: every field a person may write."""
    return [
        f
        for f in form.active_fields
        if not field_type(f).computed
        and not field_type(f).recomputed()
        and not field_type(f).numbered
    ]


def _choices(form: Form, fields: Any, errors: ErrorCollector) -> dict[str, str]:
    if fields is None:
        return {}
    if not isinstance(fields, Mapping):
        errors.add("fields", "invalid_fields", Text("expected an object of field: choice"), fields)
        return {}
    allowed = {f.key: f for f in mergeable_fields(form)}
    choices: dict[str, str] = {}
    for key, choice in fields.items():
        field = allowed.get(key)
        if field is None:
            errors.add(
                f"fields.{key}",
                "unknown_field",
                Text("no field {key!r} to choose a value of", key=key),
                key,
            )
        elif choice not in CHOICES or (choice == "both" and not listed(field)):
            possible = CHOICES if listed(field) else CHOICES[:2]
            errors.add(
                f"fields.{key}",
                "invalid_choice",
                Text("{key} is one of {allowed}", key=key, allowed=", ".join(possible)),
                choice,
            )
        else:
            choices[key] = choice
    return choices


def listed(field: Field) -> bool:
    """Whether the value is a list that two records' values can be joined into."""
    kind = field_type(field)
    return kind.holds_files or kind.holds_lines or kind.list_valued or kind.stored_in_pairs(field)


def _chosen(field: Field | None, choice: str, mine: Any, theirs: Any) -> Any:
    assert field is not None
    if field_type(field).holds_lines:
        theirs = [_line(line) for line in theirs or []]
        mine = [_line(line) for line in mine or []]
    if choice == "other":
        return theirs
    joined = list(mine or [])
    joined.extend(item for item in theirs or [] if item not in joined)
    return joined


def _line(line: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in line.items() if key != "id"}


def _unique(form: Form, key: str) -> bool:
    field = form.get_field(key)
    return field is not None and field.unique


def _relink(conn: Connection, actor: Actor, form: Form, old: int, new: int) -> dict[str, int]:
    """Point every link at ``old`` to ``new``: one UPDATE per link column, pair table and line
    column, then tasks and shares. Returns the rows changed per place."""
    relinked: dict[str, int] = {}
    now = utcnow(conn)
    for source in list_forms(conn):
        tables = plan_for(source).tables
        main = tables.main
        touched: set[int] = set()
        history: dict[int, dict[str, Any]] = {}
        links = [
            f for f in source.active_fields if field_type(f).links_records and f.target == form.key
        ]
        for field in links:
            if field.many:
                pairs = tables.links[field.key]
                holders = set(
                    conn.scalars(sa.select(pairs.c.source_id).where(pairs.c.target_id == old))
                )
                if not holders:
                    continue
                both = set(
                    conn.scalars(
                        sa.select(pairs.c.source_id).where(
                            pairs.c.target_id == new, pairs.c.source_id.in_(sorted(holders))
                        )
                    )
                )
                if both:
                    conn.execute(
                        pairs.delete().where(
                            pairs.c.target_id == old, pairs.c.source_id.in_(sorted(both))
                        )
                    )
                conn.execute(pairs.update().where(pairs.c.target_id == old).values(target_id=new))
            else:
                column = main.c[field.key]
                holders = set(conn.scalars(sa.select(main.c.id).where(column == old)))
                if not holders:
                    continue
                conn.execute(main.update().where(column == old).values({field.key: new}))
            relinked[f"{source.key}.{field.key}"] = len(holders)
            touched |= holders
            for holder in holders:
                history.setdefault(holder, {})[field.key] = [old, new]
        for lines_key, lines_table in tables.lines.items():
            lines_field = source.get_field(lines_key)
            if lines_field is None:
                continue
            for sub in lines_field.fields:
                if not (field_type(sub).links_records and sub.target == form.key):
                    continue
                column = lines_table.c[sub.key]
                parents = set(
                    conn.scalars(
                        sa.select(lines_table.c._parent_id).where(column == old).distinct()
                    )
                )
                if not parents:
                    continue
                conn.execute(lines_table.update().where(column == old).values({sub.key: new}))
                relinked[f"{source.key}.{lines_key}.{sub.key}"] = len(parents)
                touched |= parents
                for parent in parents:
                    history.setdefault(parent, {})[f"{lines_key}.{sub.key}"] = [old, new]
        if not touched:
            continue
        ids = sorted(touched)
        conn.execute(
            main.update()
            .where(main.c.id.in_(ids))
            .values(_version=main.c._version + 1, updated_at=now, updated_by=actor.user_id)
        )
        versions = dict(
            conn.execute(sa.select(main.c.id, main.c._version).where(main.c.id.in_(ids))).all()
        )
        write_history(
            conn,
            source.key,
            [(i, versions[i], "update", history[i]) for i in ids],
            actor.user_id,
            now,
        )
        keys = [f.key for f in links if not f.many]
        if keys:
            refresh_rollups(conn, source, [dict.fromkeys(keys, new), dict.fromkeys(keys, old)])
    for name, table in (("tasks", tasks), ("shares", record_shares)):
        result = conn.execute(
            table.update()
            .where(table.c.form_key == form.key, table.c.record_id == old)
            .values(record_id=new)
        )
        if result.rowcount:
            relinked[name] = int(result.rowcount)
    return relinked


def merged_from(conn: Connection, form_key: str, record_id: int) -> list[dict[str, Any]]:
    """The records merged into ``record_id`` (directly), newest first."""
    rows = conn.execute(
        sa.select(record_merges)
        .where(record_merges.c.form_key == form_key, record_merges.c.survivor_id == record_id)
        .order_by(record_merges.c.id.desc())
    )
    return [dict(row._mapping) for row in rows]
