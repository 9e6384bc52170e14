"""A request's sync work on a pooled thread (``http.threads.in_thread``): the caller's context
goes with it, and a cancelled caller waits for the thread before it hears of the
cancellation, so nothing the request cleans up afterwards is still in use."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import pytest

from meridian.http.threads import in_thread

WHO: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")


def test_the_callers_context_goes_with_the_call() -> None:
    async def main() -> tuple[str, str]:
        WHO.set("wang")
        seen = await in_thread(WHO.get)
        return seen, threading.current_thread().name

    seen, caller = asyncio.run(main())
    assert seen == "wang" and caller == "MainThread"


def test_a_cancelled_caller_waits_for_the_thread_to_finish() -> None:
    finished = threading.Event()

    def slow() -> None:
        time.sleep(0.3)
        finished.set()

    async def main() -> bool:
        task = asyncio.ensure_future(in_thread(slow))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return finished.is_set()

    assert asyncio.run(main()), "the cancellation was heard while the thread still ran"
