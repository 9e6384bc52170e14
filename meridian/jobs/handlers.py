"""Which handler runs which kind of job: the one registry every worker is started with.

Features define their handlers beside their code and are listed here; a job of a kind no
handler knows fails with a clear error and, after its attempts, waits dead for an operator.
"""

from __future__ import annotations

from meridian.documents import batches
from meridian.events.jobs import Handler, JobContext
from meridian.integrations import messaging, webhooks
from meridian.notify.inbox import BOT, EMAIL
from meridian.rules import engine as rules
from meridian.settings import Settings


def _noop(context: JobContext) -> None:
    """Does nothing: lets an operator check that workers are running."""


def job_handlers(settings: Settings) -> dict[str, Handler]:
    return {
        "noop": _noop,
        webhooks.DELIVER: webhooks.deliver,
        rules.RUN: rules.run_rule,
        rules.SCAN: rules.scan_time_rules,
        rules.SCHEDULED: rules.run_scheduled_rule,
        rules.CALL: webhooks.call,
        EMAIL: messaging.email_sender(settings),
        BOT: messaging.bot_sender(settings),
        batches.RUN: batches.batch_runner(settings),
    }
