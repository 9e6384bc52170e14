"""Rolling back a whole import: its records to the trash, its updates put back.

The records an import created are read from its outcome rows and moved to the trash through
the bulk delete (``records.bulk.delete_records``: set-based per thousand, each with its history
entry and event), so they can still be restored one by one; records someone deleted since are
left as they are. An update or merge is put back (unless it went into a record the import
created, which is in the trash with it) — the fields it changed get the values they
had — only where the record is still at the version the import left it; a record changed since
is reported and kept, as overwriting someone's later work would be worse than the import. The
whole rollback is one transaction: it happens entirely or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import Text
from meridian.dataio.run_store import FINISHED, ROLLED_BACK, RUNNING, load_import
from meridian.db.engine import transaction
from meridian.db.sets import one_of
from meridian.db.tables import import_rows, imports
from meridian.errors import Conflict
from meridian.records import bulk, service
from meridian.records.bulk import MAX_BULK
from meridian.records.plan import plan_for
from meridian.schema.catalog import get_form


@dataclass(frozen=True)
class Rollback:
    """What a rollback did: records trashed, updates put back, updates kept (changed since)."""

    deleted: int
    reverted: int
    kept: list[int]


def rollback_import(engine: Engine, actor: Actor, import_id: int, tz: ZoneInfo) -> Rollback:
    with transaction(engine) as conn:
        state = load_import(conn, import_id)
        if state.state not in (RUNNING, FINISHED):
            raise Conflict(
                Text("import {value} is already rolled back", value=import_id), id=import_id
            )
        form = get_form(conn, state.form_key)
        form_access(conn, actor, form).require("import")
        table = plan_for(form).tables.main
        # Stop a run that might still be going: its next batch finds the import rolled back.
        conn.execute(
            imports.update()
            .where(imports.c.id == import_id)
            .values(state=ROLLED_BACK, rolled_back_at=utcnow(conn), updated_at=utcnow(conn))
        )
        deleted = 0
        after = -1
        while True:
            chunk = list(
                conn.execute(
                    sa.select(import_rows.c.row_number, import_rows.c.record_id)
                    .where(
                        import_rows.c.import_id == import_id,
                        import_rows.c.outcome == "created",
                        import_rows.c.row_number > after,
                    )
                    .order_by(import_rows.c.row_number)
                    .limit(MAX_BULK)
                )
            )
            if not chunk:
                break
            after = chunk[-1].row_number
            ids = [row.record_id for row in chunk]
            live = list(
                conn.scalars(
                    sa.select(table.c.id).where(
                        one_of(conn, table.c.id, ids), table.c.deleted_at.is_(None)
                    )
                )
            )
            if live:
                deleted += bulk.delete_records(
                    conn=conn, actor=actor, form=form, record_ids=live, tz=tz
                )
        reverted, kept = 0, []
        # A row merged into a record this import created went to the trash with that record.
        made = import_rows.alias("made")
        made_here = (
            sa.select(made.c.record_id)
            .where(
                made.c.import_id == import_id,
                made.c.outcome == "created",
                made.c.record_id == import_rows.c.record_id,
            )
            .exists()
        )
        changed = conn.execute(
            sa.select(import_rows.c.record_id, import_rows.c.detail)
            .where(
                import_rows.c.import_id == import_id,
                import_rows.c.outcome.in_(("updated", "merged")),
                ~made_here,
            )
            .order_by(import_rows.c.row_number.desc())  # the last change first
        ).all()
        for record_id, detail in changed:
            before = (detail or {}).get("before") or {}
            version = conn.scalar(sa.select(table.c._version).where(table.c.id == record_id))
            if version != (detail or {}).get("version"):
                kept.append(record_id)
                continue
            if before:
                service.update_record(
                    conn=conn, actor=actor, form=form, record_id=record_id, values=before, tz=tz
                )
            reverted += 1
        return Rollback(deleted, reverted, kept)
