"""Code that must react to record events inside the transaction that caused them.

``records`` publishes events without knowing who listens; features (webhooks, and rules as they
arrive) subscribe at start-up through the composition root. A subscriber runs in the writer's
transaction, so whatever it writes — typically jobs — commits or rolls back with the change.
It must be cheap: anything slow belongs in the job it enqueues.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.engine import Connection

from meridian.events.records import RecordEvent

Subscriber = Callable[[Connection, Sequence[RecordEvent]], None]
_subscribers: list[Subscriber] = []


def subscribe(subscriber: Subscriber) -> None:
    """Add ``subscriber`` once (subscribing again is harmless)."""
    if subscriber not in _subscribers:
        _subscribers.append(subscriber)


def notify(conn: Connection, events: Sequence[RecordEvent]) -> None:
    for subscriber in _subscribers:
        subscriber(conn, events)
