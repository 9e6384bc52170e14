"""Code that must react to record changes inside the transaction that made them.

``records`` announces its changes without knowing who listens; features (webhooks, rules)
register their subscribers through the ``register_subscribers`` hook, and the writer tells
those of the workspace whose engine opened its connection. A subscriber runs in the writer's
transaction, so whatever it writes — typically jobs — commits or rolls back with the change.
It must be cheap: anything slow belongs in the job it enqueues. To keep it cheap the writer
hands over what it already holds — the form and the rows as saved — so a subscriber need not
read them again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.db.gathering import gathering
from meridian.events.outbox import publish, publish_created
from meridian.events.records import RecordCreated, RecordEvent
from meridian.plugins.manager import plugins_of
from meridian.records.guards import WriteIntent
from meridian.schema.model import Form


@dataclass(frozen=True)
class Changes:
    """One write's events, all about records of ``form``.

    :ivar rows: the stored columns after the change, by record id, for the records the writer
        had in hand (a bulk owner transfer has none); read the others from the table.
    :ivar event_ids: the events' ids in the outbox, in the order of ``events``.
    :ivar intent: what the writer's caller said besides the values (a reason, an override and
        what the write guards let through with it); None for writes that carry none.
    """

    form: Form
    events: Sequence[RecordEvent]
    rows: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    event_ids: Sequence[int] = ()
    intent: WriteIntent | None = None


Subscriber = Callable[[Connection, Changes], None]


def announce(
    conn: Connection,
    form: Form,
    events: Sequence[RecordEvent],
    rows: Mapping[int, Mapping[str, Any]] | None = None,
    intent: WriteIntent | None = None,
) -> None:
    """Write ``events`` to the outbox and tell the subscribers, in the caller's transaction.

    The outbox rows and the jobs of this write — and of every event its subscribers announce in
    turn (a stage entered) — are gathered and written once, when the outermost announcement
    ends (``db.gathering``): one INSERT per table, however many subscribers added to them."""
    if not events:
        return
    with gathering(conn):
        event_ids = publish(conn, events)
        _tell(conn, Changes(form, events, rows or {}, event_ids, intent))


def announce_created(
    conn: Connection,
    form: Form,
    table: sa.Table,
    ids: Sequence[int],
    actor_id: int | None,
    rows: Mapping[int, Mapping[str, Any]],
    intent: WriteIntent | None = None,
) -> None:
    """:func:`announce` for new records of ``table``, their outbox rows written set-based."""
    if not ids:
        return
    with gathering(conn):
        event_ids = publish_created(conn, form.key, table, ids, actor_id)
        events = [RecordCreated(form.key, i, actor_id, 1) for i in ids]
        _tell(conn, Changes(form, events, rows, event_ids, intent))


def _tell(conn: Connection, changes: Changes) -> None:
    plugins = plugins_of(conn)
    if plugins is None:
        return  # a connection outside any workspace (a migration, a bench's raw engine)
    subscriber: Subscriber
    for subscriber in plugins.listed("register_subscribers"):
        subscriber(conn, changes)
