"""The notification channel contract: a way a message leaves Meridian.

A channel is carried by jobs of its own kind, so sending happens after the change commits and
a failing receiver is retried with backoff. Meridian's channels (email, group robots) live in
``meridian.integrations``; a plugin adds one (an OA callback, a finance system's push) through
``register_channels``.
"""

from __future__ import annotations

from dataclasses import dataclass

from meridian.jobs.queue import Handler


@dataclass(frozen=True)
class Channel:
    """One channel.

    :ivar name: what people call it, e.g. ``email``.
    :ivar job_kind: the kind of the jobs that carry its messages.
    :ivar send: the handler that sends one message (raising when it was not taken).
    """

    name: str
    job_kind: str
    send: Handler
