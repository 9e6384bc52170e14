"""``meridian import FILE --form KEY --dry-run``: read, map, convert and report per row,
writing nothing (the run through the write path comes with deduplication)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import typer

from meridian.dataio.cleansing import STEPS
from meridian.dataio.trial import REJECTED, start_trial
from meridian.errors import InvalidValue
from meridian.http.deps import Workspace
from meridian.schema.catalog import get_form
from meridian.schema.fieldtypes import ValueContext


def import_command(
    open_workspace: Callable[[], AbstractContextManager[Workspace]],
) -> Callable[..., None]:
    """The command, over the CLI's way of opening the workspace."""

    def import_file(
        file: Path = typer.Argument(..., help="An .xlsx, .xls, .csv or .tsv file."),
        form: str = typer.Option(..., "--form", help="Form key, e.g. customer."),
        sheet: str | None = typer.Option(None, "--sheet", help="Sheet name (default: first)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Report per row, write nothing."),
        sample: int | None = typer.Option(None, "--sample", min=1, help="Only the first N rows."),
        verbose: bool = typer.Option(False, "--verbose", help="Also list each row's steps."),
    ) -> None:
        """Import FILE into a form. Exit 0 when every row would be created, 1 when some are
        rejected; the last line counts them: created N, updated N, merged N, rejected N."""
        if not dry_run:
            typer.echo("error: only --dry-run is available so far", err=True)
            raise typer.Exit(2)
        with open_workspace() as workspace:
            with workspace.engine.connect() as conn:
                target = get_form(conn, form)
            try:
                trial = start_trial(
                    file, target, ValueContext(workspace.tz), sheet=sheet, limit=sample
                )
                typer.echo(
                    f"sheet {trial.sheet.name!r}, header on row {trial.sheet.header_row}"
                    + (f", read as {trial.sheet.encoding}" if trial.sheet.encoding else "")
                )
                for suggestion in trial.mapping:
                    target_field = (
                        f"{suggestion.field} ({suggestion.basis} {suggestion.score:g})"
                        if suggestion.field
                        else "(not imported)"
                    )
                    typer.echo(f"column {suggestion.header!r} -> {target_field}")
                for outcome, report in trial.outcomes:
                    if outcome == REJECTED:
                        reasons = "; ".join(
                            f"{cell.field}: {cell.reason}" for cell in report.refusals
                        )
                        typer.echo(f"row {report.number}: rejected: {reasons}")
                    elif verbose:
                        steps = sorted({step for cell in report.cells for step in cell.steps})
                        done = ", ".join(STEPS[step] for step in steps) or "as written"
                        typer.echo(f"row {report.number}: created ({done})")
            except InvalidValue as error:
                typer.echo(f"error: {error.message}", err=True)
                raise typer.Exit(2) from None
            typer.echo("dry run: nothing was written")
            typer.echo(trial.counts.summary())
            if trial.counts.rejected:
                raise typer.Exit(1)

    return import_file
