"""What one write causes in the outbox and the job queue is gathered and written once, when the
outermost announcement ends, inside the writer's transaction: in order, with every event's id
known to whoever asks, and nothing of it when the write fails."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from meridian.db.gathering import gathering
from meridian.db.tables import jobs, outbox
from meridian.events.outbox import publish
from meridian.events.records import RecordCreated, RecordUpdated
from meridian.http.deps import Workspace
from meridian.jobs.queue import enqueue, enqueue_many


@contextmanager
def inserts(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            seen.append(statement.split("(", 1)[0].split()[-1])

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def _events(conn: Connection) -> list[tuple[int, str, int]]:
    rows = conn.execute(
        sa.select(
            outbox.c.id, outbox.c.event_type, outbox.c.payload["record_id"].as_integer()
        ).order_by(outbox.c.id)
    ).all()
    return [(int(i), t, int(r)) for i, t, r in rows]


def _jobs(conn: Connection) -> list[str]:
    return [p["n"] for p in conn.execute(sa.select(jobs.c.payload).order_by(jobs.c.id)).scalars()]


def test_a_scope_writes_its_events_and_jobs_once_each_in_order(workspace: Workspace) -> None:
    with workspace.transaction() as conn, inserts(workspace.engine) as seen:
        before = _events(conn)
        with gathering(conn):
            first = publish(conn, [RecordCreated("lead", 7, None, 1)])
            enqueue_many(conn, "noop", [{"n": "a"}])
            with gathering(conn):  # a subscriber announcing in turn: the outer scope writes
                second = publish(
                    conn,
                    [RecordUpdated("lead", 7, None, 2, {}), RecordCreated("lead", 8, None, 1)],
                )
                enqueue_many(conn, "noop", [{"n": "b"}, {"n": "c"}])
            assert _events(conn) == before and _jobs(conn) == []  # nothing written yet
        events = _events(conn)[len(before) :]
        queued = _jobs(conn)
    assert seen.count("sys_outbox") == 1 and seen.count("sys_job") == 1, seen
    assert [(t, r) for _, t, r in events] == [
        ("RecordCreated", 7),
        ("RecordUpdated", 7),
        ("RecordCreated", 8),
    ]
    assert [*first, *second] == [i for i, _, _ in events]
    assert queued == ["a", "b", "c"]


def test_an_id_asked_for_inside_the_scope_writes_the_events_gathered_so_far(
    workspace: Workspace,
) -> None:
    with workspace.transaction() as conn:
        with gathering(conn):
            first = publish(conn, [RecordCreated("lead", 7, None, 1)])
            [asked] = first  # a webhook keys its delivery by the event's id
            assert _events(conn)[-1] == (asked, "RecordCreated", 7)
            later = publish(conn, [RecordCreated("lead", 8, None, 1)])
            enqueue_many(conn, "noop", [{"n": "gathered"}])
            enqueue(conn, "noop", {"n": "keyed"}, idempotency_key="k-1")  # after, as enqueued
        assert [i for i, _, _ in _events(conn)[-2:]] == [asked, *later]
        assert later[0] > asked
        assert _jobs(conn) == ["gathered", "keyed"]


def test_two_events_of_one_kind_about_one_record_keep_their_order(
    workspace: Workspace,
) -> None:
    with workspace.transaction() as conn:
        with gathering(conn):
            ids = publish(
                conn,
                [
                    RecordUpdated("lead", 7, None, 2, {"a": 1}),
                    RecordUpdated("lead", 7, None, 3, {}),
                ],
            )
        versions = dict(
            conn.execute(
                sa.select(outbox.c.id, outbox.c.payload["version"].as_integer()).where(
                    outbox.c.id.in_(list(ids))
                )
            ).all()
        )
    assert [versions[i] for i in ids] == [2, 3]


def test_a_failed_write_leaves_nothing_gathered_behind(workspace: Workspace) -> None:
    with pytest.raises(RuntimeError), workspace.transaction() as conn:
        with gathering(conn):
            publish(conn, [RecordCreated("lead", 7, None, 1)])
            enqueue_many(conn, "noop", [{"n": "lost"}])
            raise RuntimeError("a subscriber failed")
    # The connection goes back to the pool with no scope open: the next write on it writes at
    # once, and only its own rows.
    with workspace.transaction() as conn:
        publish(conn, [RecordCreated("lead", 9, None, 1)])
        assert [(t, r) for _, t, r in _events(conn)] == [("RecordCreated", 9)]
        assert _jobs(conn) == []
