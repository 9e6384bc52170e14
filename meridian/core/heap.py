"""A long-running process's heap: what it built while starting is kept out of every later
garbage collection.

A server or worker process imports and builds about a hundred thousand objects before its
first request or job — modules, FastAPI's routes and their validators, SQLAlchemy tables,
the plugins — and keeps every one of them until it ends. CPython's full (generation 2)
collection walks every object the collector tracks, each time it runs, in whichever thread
happens to trigger it, holding the GIL: in ``meridian serve`` at 1M records one took 182 ms
inside a create's write transaction, so SQLite's write lock stayed held, and every other
writer waited, for as long as the collector walked objects that can never be garbage
(issue 21). ``gc.freeze()`` moves everything tracked so far into a permanent generation that
collections skip, so a full collection walks only what the process made since.

Each entry point calls ``freeze_started`` once its process has finished starting: the
server's worker processes once the app is built (``app.create_app_from_environment``), the
``meridian serve`` process itself before it hands over to Uvicorn (it runs the background
jobs), and ``meridian worker`` once its handlers are loaded. Pinyin's phrase dictionary is
loaded first: about 200,000 lists, most of a server's heap, which would otherwise arrive with
the first record written in Chinese, after the freeze, and be walked by every full collection
again. A collection first frees the start's own garbage, which a freeze would otherwise keep
for good. Tests and libraries never
call it: a test process builds an app per test and must free each one.
"""

from __future__ import annotations

import gc

from meridian.core.pinyin import load_dictionary


def freeze_started() -> int:
    """Collect the garbage of the start, then freeze every object left; returns how many
    objects are frozen now (a process that calls this twice freezes what came between)."""
    load_dictionary()
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
