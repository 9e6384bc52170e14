"""A bulk create's events: one outbox row per record, whose ids the writer gets in the order of
the records; on SQLite read back only when a subscriber asks for them."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from meridian.db.tables import outbox
from meridian.db.types import BigId
from meridian.events.outbox import publish, publish_created
from meridian.events.records import RecordCreated
from meridian.http.deps import Workspace


def _leads(engine: Engine, count: int) -> sa.Table:
    table = sa.Table("outbox_probe_lead", sa.MetaData(), sa.Column("id", BigId, primary_key=True))
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": n} for n in range(1, count + 1)])
    return table


def test_a_bulk_creates_event_ids_name_each_records_own_event(workspace: Workspace) -> None:
    engine = workspace.engine
    table = _leads(engine, 50)
    ids = [7, 3, *range(10, 40), 5]  # not in id order, with a run in it
    with workspace.transaction() as conn:
        publish(conn, [RecordCreated("lead", 3, None, 1)])  # another event of record 3, earlier
        event_ids = publish_created(conn, "ACME-LEAD", table, ids, 1)
        # later events of the same records in another form and of other kinds
        publish(conn, [RecordCreated("Q3-RENEWAL", n, None, 1) for n in ids[:5]])
        stored = conn.execute(
            sa.select(outbox.c.id, outbox.c.payload).where(outbox.c.event_type == "RecordCreated")
        ).all()
        assert len(event_ids) == len(ids)
        asked = list(event_ids)
        assert event_ids[2] == asked[2] and list(event_ids[1:3]) == asked[1:3]
    mine = {
        row.payload["record_id"]: row.id for row in stored if row.payload["form"] == "ACME-LEAD"
    }
    assert asked == [mine[n] for n in ids]
    assert all(
        stored_row.payload["actor_id"] == 1 for stored_row in stored if stored_row.id in asked
    )


def test_nothing_is_read_back_from_the_outbox_until_the_ids_are_asked_for(
    workspace: Workspace,
) -> None:
    """An import writes a thousand records a batch and nothing asks for their events' ids:
    SQLite inserts the rows without RETURNING them (a third of the statement's cost); the
    ids are read when a subscriber (a webhook) asks."""
    engine = workspace.engine
    table = _leads(engine, 20)
    statements: list[str] = []

    def seen(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        with workspace.transaction() as conn:
            event_ids = publish_created(conn, "ACME-LEAD", table, list(range(1, 21)), None)
            written = [s for s in statements if "sys_outbox" in s]
            asked = list(event_ids)
            read = [s for s in statements if "sys_outbox" in s][len(written) :]
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    inserts = [s for s in written if s.lstrip().upper().startswith("INSERT")]
    assert len(inserts) == 1 and len(set(asked)) == 20
    if engine.dialect.name == "sqlite":
        assert "RETURNING" not in inserts[0].upper(), inserts[0]
        assert len(read) == 1 and read[0].lstrip().upper().startswith("SELECT"), read
    else:  # one round trip: the ids come back with the INSERT
        assert "RETURNING" in inserts[0].upper() and read == [], read
