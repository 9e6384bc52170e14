"""SOP checklist items ticked on a record: who ticked what, and when.

A ``checklist`` gate criterion reads these ticks. Ticking needs the right to change the
record (the same access check as an update), and each tick or untick is audited.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.core.timezones import DEFAULT_TIME_ZONE
from meridian.db.tables import checklist_ticks
from meridian.errors import FieldError, PermissionDenied, ValidationFailed
from meridian.events.audit import audit
from meridian.flows.stages.model import load_pipelines
from meridian.records.plan import plan_for
from meridian.records.reads import load_row
from meridian.records.writing import require_rows
from meridian.schema.model import KEY_PATTERN, Form


def set_tick(
    conn: Connection,
    *,
    actor: Actor,
    form: Form,
    record_id: int,
    item: str,
    ticked: bool,
    tz: ZoneInfo = DEFAULT_TIME_ZONE,
) -> None:
    """Tick (or untick) ``item`` on the record; the actor must be allowed to change it."""
    if not KEY_PATTERN.match(item):
        message = Text("a checklist item is a key of lower-case letters, digits and _")
        raise ValidationFailed([FieldError("item", "invalid_key", message, item)])
    _require_role(conn, actor, form, item)
    table = plan_for(form).tables.main
    access = form_access(conn, actor, form)
    load_row(conn, table, record_id, visible_to=access.rows(conn, table, "read", tz))
    require_rows(conn, access, table, record_id, "update", tz)
    key = (
        checklist_ticks.c.form_key == form.key,
        checklist_ticks.c.record_id == record_id,
        checklist_ticks.c.item == item,
    )
    if ticked:
        insert_of = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        conn.execute(
            insert_of(checklist_ticks)
            .values(
                form_key=form.key,
                record_id=record_id,
                item=item,
                ticked_by=actor.user_id,
                ticked_at=utcnow(conn),
            )
            .on_conflict_do_nothing()
        )
    else:
        conn.execute(checklist_ticks.delete().where(*key))
    audit(
        conn,
        actor_id=actor.user_id,
        action="stage.checklist.tick" if ticked else "stage.checklist.untick",
        object_type=form.key,
        object_id=record_id,
        detail={"item": item},
    )


def _require_role(conn: Connection, actor: Actor, form: Form, item: str) -> None:
    """An item whose criterion names ``roles`` ("confirmed by the technical team") is ticked
    only by a member of one of them (or an administrator)."""
    if actor.is_admin:
        return
    for pipeline in load_pipelines(conn, form.key).pipelines:
        for stage in pipeline.stages:
            for criterion in stage.criteria:
                roles = criterion.config.get("roles") if criterion.kind == "checklist" else None
                if criterion.config.get("item") == item and roles and not actor.roles & set(roles):
                    raise PermissionDenied(
                        Text("only {roles} may tick {item!r}", roles=", ".join(roles), item=item),
                        item=item,
                        roles=roles,
                    )


def ticks_of(conn: Connection, form_key: str, record_id: int) -> dict[str, dict[str, object]]:
    """The record's ticked items: item → who ticked it and when."""
    rows = conn.execute(
        sa.select(checklist_ticks).where(
            checklist_ticks.c.form_key == form_key, checklist_ticks.c.record_id == record_id
        )
    )
    return {row.item: {"by": row.ticked_by, "at": row.ticked_at} for row in rows}
