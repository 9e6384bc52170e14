"""``meridian worker``: runs background jobs; imports only what the jobs need.

A worker process imports the workspace, the plugins and their job handlers, and not the web
application, the API or the command line's other commands (an import-linter contract in
``pyproject.toml`` holds this): started often (one per host, again after every deploy, in the
tests once for each SIGKILL), it is ready in a fraction of the time the whole CLI takes.
"""

from __future__ import annotations

import sys

import typer

from meridian.core.heap import freeze_started
from meridian.errors import MeridianError
from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import start_in_background
from meridian.settings import Settings
from meridian.workspace import create_workspace


def worker(
    concurrency: int = typer.Option(4, min=1, max=64, help="Jobs run at once in this process."),
) -> None:
    """Run background jobs until interrupted; start as many as you like, on any hosts."""
    try:
        workspace = create_workspace(Settings())
    except MeridianError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    try:
        handlers = job_handlers(workspace)
        # Started: later full collections skip what it built (core/heap.py). Before the job
        # threads start: it imports pypinyin, and a job importing it at the same moment in
        # another thread met the package half made (ImportError: a circular import) and the
        # worker died at start.
        freeze_started()
        stop, threads = start_in_background(
            workspace.engine,
            handlers,
            workspace.tz,
            threads=concurrency,
            lease=workspace.settings.job_lease,
        )
        typer.echo(f"worker running {concurrency} jobs at a time; Ctrl-C to stop", err=True)
        try:
            while any(thread.is_alive() for thread in threads):
                for thread in threads:
                    thread.join(timeout=1)
        except KeyboardInterrupt:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
    finally:
        workspace.engine.dispose()


def run_worker(argv: list[str]) -> None:
    """``meridian worker *argv`` without loading the rest of the command line."""
    command = typer.Typer(add_completion=False)
    command.command()(worker)
    command(args=argv, prog_name="meridian worker")


if __name__ == "__main__":  # pragma: no cover - ``python -m meridian.cli.worker``
    run_worker(sys.argv[1:])
