"""One read transaction for a request that only reads: the credential's check and the answer
see one snapshot, and so does every later read of the request.

An API request without a body checks its credential in a read transaction
(:func:`credential_read`) that stays open, kept for the request, until the request's first
:meth:`Workspace.read <meridian.http.deps.Workspace.read>` takes it over (:func:`request_read`).
So a page of records is one transaction, not two: one pool checkout, one ``BEGIN`` and one end
fewer, and the answer is read from the very snapshot its caller was found valid in. A write
transaction first closes a kept read (:func:`release_kept`), so nothing read after a write can
come from a snapshot older than the write. The request's route (``http.routing.ApiRoute``)
opens the keeping (:func:`keeping_reads`) and closes what nothing took.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar

from sqlalchemy.engine import Connection, Engine

from meridian.db.engine import SNAPSHOT_TAKEN, read_transaction


class KeptRead:
    """The read transaction one request checked its credential in, until a read takes it."""

    def __init__(self) -> None:
        self._held: tuple[Engine, Connection, ExitStack] | None = None
        self._offered = False

    @property
    def holding(self) -> bool:
        return self._held is not None

    def keep(self, engine: Engine, conn: Connection, stack: ExitStack) -> None:
        if self._held is not None and self._held[1] is not conn:
            self._held[2].close()  # another engine's read: one is kept at a time
        self._held = (engine, conn, stack)
        self._offered = True

    def wants(self) -> bool:
        """Whether a credential's read may still be kept: once per request."""
        return not self._offered

    def take(self, engine: Engine) -> tuple[Connection, ExitStack] | None:
        held, self._held = self._held, None
        if held is None:
            return None
        if held[0] is not engine:  # another database's read: not this one's snapshot
            held[2].close()
            return None
        return held[1], held[2]

    def release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held[2].close()


_KEPT: ContextVar[KeptRead | None] = ContextVar("meridian_kept_read", default=None)


@contextmanager
def keeping_reads() -> Iterator[KeptRead]:
    """For the request running in this context: a credential's read may be kept for it. The
    caller releases what is still held when the request is answered."""
    kept = KeptRead()
    token = _KEPT.set(kept)
    try:
        yield kept
    finally:
        _KEPT.reset(token)


@contextmanager
def credential_read(engine: Engine) -> Iterator[Connection]:
    """A read transaction for checking a credential, kept for the request's first read when
    the request keeps reads and the check passes; else closed as usual."""
    kept = _KEPT.get()
    if kept is None or not kept.wants():
        with read_transaction(engine) as conn:
            yield conn
        return
    stack = ExitStack()
    with _lent(kept, engine, stack.enter_context(read_transaction(engine)), stack) as conn:
        yield conn


@contextmanager
def request_read(engine: Engine) -> Iterator[Connection]:
    """A read transaction: the one this request's credential was checked in when it is still
    kept, else a new one. In a request that keeps reads it is kept again afterwards, so every
    read of the request is one transaction, one snapshot (a page's records and its navigation
    alike); the request's route closes it with the answer."""
    kept = _KEPT.get()
    if kept is None:
        with read_transaction(engine) as conn:
            yield conn
        return
    taken = kept.take(engine)
    if taken is None:
        stack = ExitStack()
        conn = stack.enter_context(read_transaction(engine))
    else:
        conn, stack = taken
        conn = conn.execution_options(**{SNAPSHOT_TAKEN: True})
    with _lent(kept, engine, conn, stack) as lent:
        yield lent


@contextmanager
def _lent(
    kept: KeptRead, engine: Engine, conn: Connection, stack: ExitStack
) -> Iterator[Connection]:
    """``conn`` for the block, then kept for the request's next read; closed if the block
    fails."""
    try:
        yield conn
    except BaseException:
        stack.close()
        raise
    kept.keep(engine, conn, stack)


def release_kept() -> None:
    """Close this request's kept read, if any: a write is about to begin."""
    kept = _KEPT.get()
    if kept is not None:
        kept.release()
