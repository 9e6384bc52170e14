"""Events published in one call are all written, however many: SQLite takes a bounded number
of values a statement, and a bulk write's events once passed it."""

from __future__ import annotations

import sqlalchemy as sa

from meridian.db.tables import outbox
from meridian.events.outbox import publish
from meridian.events.records import RecordCreated
from meridian.http.deps import Workspace


def test_more_events_than_sqlite_takes_variables_are_written_in_one_publish(
    workspace: Workspace,
) -> None:
    count = 90_000  # three values a row: past the 250,000 variables of Debian's SQLite
    with workspace.transaction() as conn:
        ids = publish(conn, [RecordCreated("lead", n, None, 1) for n in range(1, count + 1)])
        assert len(set(ids)) == count
        stored = dict(
            conn.execute(sa.select(outbox.c.id, outbox.c.payload["record_id"].as_integer())).all()
        )
    assert [stored[i] for i in ids] == list(range(1, count + 1))
