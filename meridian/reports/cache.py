"""Report results kept while the database has not changed: a dashboard shown twice with no
write between (the same viewer, filters and minute) is computed once.

A result is only ever reused for the exact question it answered: the same report, the same
actor (user, roles, departments, token — the whole scope the access machinery reads), the
same dashboard filters and time zone, within ``FRESH_FOR`` of the workspace's clock since it
was computed (a report may read "now": hours in a stage, today's period) and at the same
**data revision**, a value that changes with every committed write anywhere in the database:

- SQLite: ``PRAGMA data_version`` read on a connection of the cache's own that never writes;
  SQLite changes it whenever any other connection (of any process) commits;
- PostgreSQL: the text of ``pg_current_snapshot()``, read on the request's own connection
  (no connection more is checked out) before its first statement and again after the result,
  which changes whenever a transaction is given an id (its first write) or ends.

Any write — to records, stage history, tasks, permissions, the report itself — thus turns
every kept result stale, which is coarse but never wrong. A result is kept only when the
revision read before computing it is still the revision after, so no write can fall between
what was read and the revision it is filed under. Each process keeps its own few results
(``MAX_RESULTS``, least recently used dropped first). The SQLite watcher's connection is closed
when its engine is disposed.
"""

from __future__ import annotations

import copy
import sqlite3
import threading
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from meridian.core.clock import utcnow
from meridian.db.engine import snapshot_taken

MAX_RESULTS = 512
FRESH_FOR = timedelta(minutes=5)
"""How long a kept result answers, counted from when its computation began: what a report
reads of "now" (hours in a stage, today's period) is at most this old — a dashboard's
auto-refresh period — while any write makes it stale at once."""
T = TypeVar("T")


class _Watcher:
    """Reads the data revision of one engine's database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.token = uuid.uuid4().hex
        """Names this engine's database in the keys (an engine's ``id`` may be reused)."""
        self.lock = threading.Lock()
        self.sqlite: sqlite3.Connection | None = None
        database = engine.url.database
        self.usable = engine.dialect.name == "postgresql" or (
            engine.dialect.name == "sqlite" and bool(database) and database != ":memory:"
        )

        if engine.dialect.name == "sqlite":
            event.listen(engine, "engine_disposed", self.close)

    def revision(self, conn: Connection) -> str | None:
        if not self.usable:
            return None
        if self.engine.dialect.name == "postgresql":
            return str(conn.exec_driver_sql("SELECT pg_current_snapshot()::text").scalar())
        with self.lock:
            if self.sqlite is None:
                self.sqlite = sqlite3.connect(
                    str(self.engine.url.database), check_same_thread=False, isolation_level=None
                )
            return str(self.sqlite.execute("PRAGMA data_version").fetchone()[0])

    def close(self, _engine: Engine | None = None) -> None:
        """Close the SQLite connection (the engine was disposed); a later read opens it again."""
        with self.lock:
            if self.sqlite is not None:
                self.sqlite.close()
                self.sqlite = None


class ResultCache:
    """Results by question and data revision, shared by the threads of a process."""

    def __init__(self, size: int = MAX_RESULTS) -> None:
        self.size = size
        self.lock = threading.Lock()
        self.results: OrderedDict[Hashable, Any] = OrderedDict()
        self.watchers: weakref.WeakKeyDictionary[Engine, _Watcher] = weakref.WeakKeyDictionary()
        self.enabled = True

    def clear(self) -> None:
        with self.lock:
            self.results.clear()

    def _watcher(self, engine: Engine) -> _Watcher:
        with self.lock:
            watcher = self.watchers.get(engine)
            if watcher is None:
                watcher = self.watchers[engine] = _Watcher(engine)
            return watcher

    def through(self, conn: Connection, question: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``'s result for ``question``, reused while the data is unchanged.

        Call it before ``conn``'s transaction has read anything: its snapshot must not be
        older than the revision read here. A SQLite transaction that had read before it was
        handed on (``db.engine.SNAPSHOT_TAKEN``, an API request's credential read) may reuse
        a kept result but does not keep its own. Each caller gets its own copy of a kept
        result."""
        if not self.enabled:
            return compute()
        try:
            hash(question)
        except TypeError:
            return compute()
        watcher = self._watcher(conn.engine)
        revision = watcher.revision(conn)
        if revision is None:
            return compute()
        started = utcnow(conn)
        key = (watcher.token, question, revision)
        with self.lock:
            if key in self.results:
                at, kept = self.results[key]
                if timedelta(0) <= started - at < FRESH_FOR:
                    self.results.move_to_end(key)
                    return copy.deepcopy(kept)  # type: ignore[no-any-return]
        result = compute()
        if snapshot_taken(conn) and conn.dialect.name == "sqlite":
            # Its snapshot was fixed by an earlier read and may be older than ``revision``:
            # the result may be used now but never filed under a revision it did not see.
            return result
        if watcher.revision(conn) == revision:
            with self.lock:
                self.results[key] = (started, copy.deepcopy(result))
                while len(self.results) > self.size:
                    self.results.popitem(last=False)
        return result


results = ResultCache()
"""The process's kept report results."""
