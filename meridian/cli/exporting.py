"""``meridian export FORM [--view V] [--format xlsx|csv] -o FILE``: a form's records, or a saved
view of them, to a spreadsheet, as a user sees them (their 导出 permission, rows and fields).
It runs in this process, in one read snapshot, with its progress on stderr."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import typer

from meridian.access.actors import load_actor
from meridian.access.users import get_user_id
from meridian.core.actor import Actor
from meridian.dataio.export import (
    FORMATS,
    audit_export,
    export_rows,
    spec_of,
    write_csv,
    write_xlsx,
)
from meridian.errors import MeridianError
from meridian.http.deps import Workspace
from meridian.schema.catalog import get_form


def export_command(
    open_workspace: Callable[[], AbstractContextManager[Workspace]],
) -> Callable[..., None]:
    """The command, over the CLI's way of opening the workspace."""

    def export(
        form: str = typer.Argument(..., help="Form key, e.g. customer."),
        output: Path = typer.Option(..., "-o", "--output", help="The file to write."),
        view: int | None = typer.Option(None, "--view", help="A saved view's id."),
        fmt: str | None = typer.Option(
            None, "--format", help="xlsx or csv (default: the output's extension)."
        ),
        user: str | None = typer.Option(None, "--user", help="Export as this user (e-mail)."),
        lang: str = typer.Option("en", "--lang", help="Language of the header: en or zh-CN."),
    ) -> None:
        """Export a form's records (a saved view's columns, filter and sort with --view),
        saying on stderr about every second how far it is. The last line says how many rows
        were written and how fast."""
        chosen = fmt or output.suffix.lstrip(".").lower()
        if chosen not in FORMATS:
            typer.echo(f"error: --format is one of {', '.join(FORMATS)}", err=True)
            raise typer.Exit(2)
        started = time.monotonic()
        with open_workspace() as workspace:
            try:
                # Read in a snapshot without the write lock (SQLite's writers go on meanwhile);
                # the audit entry is its own short write.
                with workspace.read() as conn:
                    actor = (
                        Actor.system()
                        if user is None
                        else load_actor(conn, get_user_id(conn, user))
                    )
                    target = get_form(conn, form)
                    spec = spec_of(conn, actor, target, view=view)
                    exported = export_rows(
                        conn=conn,
                        actor=actor,
                        form=target,
                        spec=spec,
                        tz=workspace.tz,
                        locale=lang,
                    )
                    progress = _progress(exported.count(), started)
                    if chosen == "csv":
                        with output.open("w", encoding="utf-8", newline="") as out:
                            written = write_csv(exported, out, progress=progress)
                    else:
                        written = write_xlsx(
                            exported, output, sheet=target.label, progress=progress
                        )
                with workspace.transaction() as conn:
                    audit_export(conn, actor, target, spec, chosen, written, view=view)
            except MeridianError as error:
                typer.echo(f"error: {error}", err=True)
                raise typer.Exit(2) from None
        elapsed = max(time.monotonic() - started, 1e-9)
        typer.echo(
            f"exported {written} rows to {output} in {elapsed:.1f} s"
            f" ({written / elapsed:,.0f} rows/s)"
        )

    return export


def _progress(total: int, started: float) -> Callable[[int], None]:
    """Rows written of how many, the pace and the time left, on stderr about once a second."""
    last = started

    def report(done: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < 1.0:
            return
        last = now
        rate = done / max(now - started, 1e-9)
        left = max(total - done, 0) / rate if rate else 0.0
        typer.echo(
            f"exported {done:,} of {total:,} rows ({rate:,.0f} rows/s, about {left:.0f} s left)",
            err=True,
        )

    return report
