"""After commit: the worker drains the outbox into the reactions the plugins register.

Each pass of every worker takes a batch of committed events (``events.outbox.take_pending``)
and hands it to each ``register_reactions`` reaction. A reaction that fails is logged and the
others still run; the events stay dispatched (see ``events.outbox.Reaction``).
"""

from __future__ import annotations

import logging

from sqlalchemy.engine import Engine

from meridian.db.engine import transaction
from meridian.events.outbox import Reaction, take_pending
from meridian.plugins.manager import plugins_of

log = logging.getLogger(__name__)


def dispatch_events(engine: Engine) -> int:
    """Drain one batch of the outbox into the reactions; returns how many events it held."""
    with transaction(engine) as conn:
        events = take_pending(conn)
    plugins = plugins_of(engine)
    if not events or plugins is None:
        return len(events)
    reaction: Reaction
    for reaction in plugins.listed("register_reactions"):
        try:
            reaction(events)
        except Exception:  # one reaction's failure is its own, never the worker's
            log.exception("reaction %s failed on %d events", reaction, len(events))
    return len(events)
