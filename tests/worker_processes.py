"""``meridian worker`` processes for the SIGKILL tests, forked from a warm fork server.

A fresh interpreter spends seconds of CPU importing Meridian before the worker says it is
running (far longer on a loaded machine), and the kill tests start one for every kill. The fork
server (``multiprocessing``'s forkserver) imports Meridian once per test process and forks each
worker from it: a real, separate process that runs the ``meridian`` command line with its own
environment and log and dies of SIGKILL like any other. Only the imports are shared — the
server holds no engine, connection or thread, so nothing else crosses the fork.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from multiprocessing.process import BaseProcess
from pathlib import Path

_FORKSERVER = multiprocessing.get_context("forkserver")


def _run(argv: list[str], env: dict[str, str], log: str) -> None:
    """In the new process: the environment the command reads, stderr to ``log``, then the
    command line as ``meridian`` runs it."""
    os.environ.clear()
    os.environ.update(env)
    out = os.open(log, os.O_WRONLY | os.O_APPEND)
    os.dup2(out, 2)
    os.close(out)
    from meridian.cli.main import main

    sys.argv = ["meridian", *argv]
    main()


def _ready() -> None:
    """Nothing: a process that ends at once, to wait for the fork server."""


def warm_fork_server() -> None:
    """Start the fork server and wait until it has imported Meridian (once per test process),
    so that a test timing its workers' start-ups does not count the server's own."""
    _FORKSERVER.set_forkserver_preload(["meridian.cli.main", __name__])
    process = _FORKSERVER.Process(target=_ready, daemon=True)
    process.start()
    process.join()


def start_meridian(argv: list[str], env: dict[str, str], log: Path) -> BaseProcess:
    """``meridian *argv`` in a new process forked from the warm server; its stderr goes to
    ``log``. Kill it with ``.kill()`` (SIGKILL), reap it with ``.join()``."""
    log.touch()  # there to read from the start, as a redirected stderr would be
    _FORKSERVER.set_forkserver_preload(["meridian.cli.main", __name__])
    process = _FORKSERVER.Process(target=_run, args=(argv, env, str(log)), daemon=True)
    process.start()
    return process
