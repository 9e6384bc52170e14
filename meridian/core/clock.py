"""The one source of the current time: the workspace's clock, so a test moves time for all.

The workspace holds a :class:`Clock` and its engine carries it (an execution option), so code
that holds a connection asks :func:`utcnow` with it and every part of Meridian — the records
writer, sessions, the job queue, rules, formulas' ``NOW()`` — reads the same time. A test gives
the workspace a clock it can move.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

OPTION = "meridian_clock"
"""The execution option under which a workspace's engine carries its clock."""


class Clock:
    """Tells the time in UTC: the system's, unless a subclass says otherwise."""

    def now(self) -> datetime:
        return datetime.now(UTC)


SYSTEM_CLOCK = Clock()


class _HasOptions(Protocol):
    def get_execution_options(self) -> Any: ...


def clock_of(conn: _HasOptions) -> Clock:
    """The clock of the workspace whose engine opened ``conn`` (the system's outside one)."""
    found: Clock = conn.get_execution_options().get(OPTION, SYSTEM_CLOCK)
    return found


def utcnow(conn: _HasOptions) -> datetime:
    """Now, in UTC, as the workspace of ``conn`` tells it."""
    return clock_of(conn).now()
