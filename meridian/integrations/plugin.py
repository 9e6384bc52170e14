"""Integrations as a plugin: outbound webhooks, rule calls, and the email and robot channels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from meridian.integrations import messaging, webhooks
from meridian.jobs.queue import Handler, JobContext
from meridian.notify.channels import Channel
from meridian.notify.inbox import BOT, EMAIL
from meridian.plugins.hookspecs import hookimpl
from meridian.records.subscribers import Subscriber
from meridian.rules.builtin_actions import CALL

if TYPE_CHECKING:
    from meridian.http.deps import Workspace

NOOP = "noop"


def _noop(context: JobContext) -> None:
    """Does nothing: lets an operator check that workers are running."""


@hookimpl
def register_job_handlers(meridian: Workspace) -> Mapping[str, Handler]:
    return {NOOP: _noop, webhooks.DELIVER: webhooks.deliver, CALL: webhooks.call}


@hookimpl
def register_subscribers() -> Sequence[Subscriber]:
    return [webhooks.on_record_changes]


@hookimpl
def register_channels(meridian: Workspace) -> Sequence[Channel]:
    return [
        Channel("email", EMAIL, messaging.email_sender(meridian.settings)),
        Channel("bot", BOT, messaging.bot_sender(meridian.settings)),
    ]
