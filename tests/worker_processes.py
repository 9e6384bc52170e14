"""``meridian worker`` processes for the SIGKILL tests, forked from a warm fork server.

A fresh interpreter spends seconds of CPU importing Meridian before the worker says it is
running (far longer on a loaded machine), and the kill tests start one for every kill. The fork
server (``multiprocessing``'s forkserver) imports what ``meridian worker`` needs once per test
process and forks each worker from it: a real, separate process that runs the ``meridian``
command line with its own environment and log and dies of SIGKILL like any other. Only the
imports are shared — the server holds no engine, connection or thread, so nothing else
crosses the fork.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

_FORKSERVER = multiprocessing.get_context("forkserver")
# Every command's imports (``cli.main`` imports the commands, not the web app, which ``serve``
# loads by name): the fork server is started once per test process, each command forked often.
_PRELOAD = ["meridian.cli.main", __name__]


def _redirect(log: str, stdout: str | None) -> None:
    for path, fd in ((log, 2), (stdout, 1)):
        if path is not None:
            out = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            os.dup2(out, fd)
            os.close(out)


def _run(
    argv: list[str], env: dict[str, str], log: str, new_session: bool, stdout: str | None
) -> None:
    """In the new process: a session of its own if asked (its children join its process
    group, for ``os.killpg``), the environment the command reads, stderr to ``log`` (and
    stdout to ``stdout`` if given), then the command line as ``meridian`` runs it."""
    if new_session:
        os.setsid()
    os.environ.clear()
    os.environ.update(env)
    _redirect(log, stdout)
    from meridian.cli import run

    sys.argv = ["meridian", *argv]
    run()


def _call(target: Callable[..., object], args: tuple[object, ...], log: str) -> None:
    """In the new process: stderr to ``log``, then ``target(*args)``."""
    _redirect(log, None)
    target(*args)


def _ready() -> None:
    """Nothing: a process that ends at once, to wait for the fork server."""


def warm_fork_server() -> None:
    """Start the fork server and wait until it has imported Meridian (once per test process),
    so that a test timing its workers' start-ups does not count the server's own."""
    _FORKSERVER.set_forkserver_preload(_PRELOAD)
    process = _FORKSERVER.Process(target=_ready, daemon=True)
    process.start()
    process.join()


def start_meridian(
    argv: list[str],
    env: dict[str, str],
    log: Path,
    *,
    new_session: bool = False,
    stdout: Path | None = None,
) -> BaseProcess:
    """``meridian *argv`` in a new process forked from the warm server; its stderr goes to
    ``log``, its stdout to ``stdout`` if given. Kill it with ``.kill()`` (SIGKILL), reap it with
    ``.join()``; its exit status is ``.exitcode``. One started in a ``new_session`` may start
    processes of its own (it is not a daemon, which ``multiprocessing`` forbids children):
    ``kill_session`` kills them all, and the test must."""
    log.touch()  # there to read from the start, as a redirected stderr would be
    _FORKSERVER.set_forkserver_preload(_PRELOAD)
    process = _FORKSERVER.Process(
        target=_run,
        args=(argv, env, str(log), new_session, None if stdout is None else str(stdout)),
        daemon=not new_session,
    )
    process.start()
    return process


def start_function(
    target: Callable[..., object], args: tuple[object, ...], log: Path
) -> BaseProcess:
    """``target(*args)`` in a new process forked from the warm server, its stderr to ``log``:
    for a test's own piece of Meridian run in another process and killed there. ``target``
    must be a module-level function (the server imports it by name); ``args`` may hold a
    :func:`pipe` end to report through. Kill it with ``.kill()``, reap it with ``.join()``."""
    log.touch()
    _FORKSERVER.set_forkserver_preload(_PRELOAD)
    process = _FORKSERVER.Process(target=_call, args=(target, args, str(log)), daemon=True)
    process.start()
    return process


def pipe() -> tuple[Connection, Connection]:
    """A one-way pipe (receiving end, sending end) a :func:`start_function` process can take."""
    return _FORKSERVER.Pipe(duplex=False)


def worker_env(database_url: str, data_dir: Path, lease_seconds: int = 2) -> dict[str, str]:
    """The environment of a ``meridian worker`` on the test's database and file store, whose
    leases run out ``lease_seconds`` after it dies (so the next worker takes its job over)."""
    return {
        **os.environ,
        "MERIDIAN_DATABASE_URL": database_url,
        "MERIDIAN_DATA_DIR": str(data_dir),
        "MERIDIAN_JOB_LEASE_SECONDS": str(lease_seconds),
    }


def poll_while_alive(
    read: Callable[[], T],
    until: Callable[[T], bool],
    process: BaseProcess,
    log: Path,
    *,
    seconds: float,
    every: float = 0.02,
) -> T:
    """``read()`` again every ``every`` seconds until ``until`` holds of what it read, and
    return that; fail with the end of the process's ``log`` if the process died first or
    ``seconds`` went by."""
    deadline = time.monotonic() + seconds
    while True:
        seen = read()
        if until(seen):
            return seen
        assert process.is_alive(), log.read_text()[-2000:]
        assert time.monotonic() < deadline, f"{seen}: {log.read_text()[-2000:]}"
        time.sleep(every)


def kill_session(process: BaseProcess) -> None:
    """SIGKILL a process started in a ``new_session`` and every process in its group, then
    reap it (one killed before it had its own session is killed alone)."""
    assert process.pid is not None, "never started"
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        process.kill()
    process.join()
