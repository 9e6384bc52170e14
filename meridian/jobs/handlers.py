"""Which handler runs which kind of job: the one mapping every worker is started with.

Built from the workspace's plugins — Meridian's own and the installed ones — through
``register_job_handlers`` and the senders of ``register_channels``. A job of a kind no handler
knows fails with a clear error and, after its attempts, waits dead for an operator.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from meridian.jobs.queue import Handler
from meridian.plugins.manager import merge_named

if TYPE_CHECKING:
    from meridian.http.deps import Workspace
    from meridian.notify.channels import Channel


def job_handlers(workspace: Workspace) -> Mapping[str, Handler]:
    """Every job kind the workspace's plugins handle; a kind claimed twice is refused."""
    hook = workspace.plugins.hook
    channels: list[Channel] = [
        channel for found in hook.register_channels(meridian=workspace) for channel in found
    ]
    return merge_named(
        "register_job_handlers",
        [
            *hook.register_job_handlers(meridian=workspace),
            {channel.job_kind: channel.send for channel in channels},
        ],
    )
