"""Sync work of a request run on a thread of this process's own pool.

FastAPI and Starlette hand a sync endpoint to a thread through anyio (``run_in_threadpool``):
a capacity limiter, a cancel scope and the lookups of the running async library around every
call. Under the profiler that machinery was a tenth of a page request's CPU time on the event
loop's side (issue 21). A request's endpoint goes through asyncio's own executor instead, on a
pool of the same size as anyio's default (40), with the request's context variables copied
as anyio copies them (who asks, the kept read, ``http.kept_read``).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

THREADS = 40
"""As many as anyio's default limiter lets run at once."""


@functools.cache
def _pool() -> ThreadPoolExecutor:
    """Made on first use, in the process that uses it (a worker process makes its own)."""
    return ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="meridian-request")


async def in_thread(call: Callable[..., T], *args: Any) -> T:
    """``call(*args)`` on a pooled thread, in a copy of the caller's context.

    A cancelled caller (a server shutting down) still waits for the thread to finish before
    the cancellation goes on, as anyio's ``run_sync`` does: the request's clean-up (ending
    its kept read) must not run while the endpoint still uses the connection."""
    context = contextvars.copy_context()
    loop = asyncio.get_running_loop()
    running = loop.run_in_executor(_pool(), functools.partial(context.run, call, *args))
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError:
        while not running.done():
            try:
                await asyncio.wait([running])
            except asyncio.CancelledError:
                continue
        raise
